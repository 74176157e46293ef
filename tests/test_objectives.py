"""InfoNCE^{alpha,beta} (paper Sec. 5 / App. F.5): BYOL at beta=0, SimCLR's NT-Xent at beta=1 with psi=phi, a
hand-computed value, the j != i exclusion, gradients, and the multi-process gather."""

import math
import os

import pytest
import torch
import torch.nn.functional as F

from byol_pkg.loss import byol_loss
from byol_pkg.objectives import infonce_loss


def _nt_xent_reference(z1, z2, temperature):
    """SimCLR's NT-Xent over the 2B anchors (mean), written independently: 2B x 2B cosine matrix, diagonal
    masked out, cross-entropy towards the other view of the same image."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, target)


def _loop_reference(phi1, phi2, psi1, psi2, beta, alpha):
    """The paper's formula written out with Python loops over anchors and candidates (float64)."""

    def cos(u, v):
        return float(u.double() @ v.double() / (u.double().norm() * v.double().norm()))

    n = phi1.shape[0]
    total = 0.0
    for i in range(n):
        for phi, pos_side, same_side in ((phi1, psi2, psi1), (phi2, psi1, psi2)):
            s = sum(math.exp(cos(phi[i], same_side[j]) / alpha) for j in range(n) if j != i)
            s += sum(math.exp(cos(phi[i], pos_side[j]) / alpha) for j in range(n))
            total += 2 - 2 * cos(phi[i], pos_side[i]) + 2 * alpha * beta * math.log(s)
    return total / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beta_zero_is_byol_loss_values_and_gradients(seed):
    g = torch.Generator().manual_seed(seed)
    p1, p2, z1, z2 = (torch.randn(6, 5, generator=g) for _ in range(4))
    for scales in ((1.0, 1.0, 1.0, 1.0), (3.0, 0.05, 20.0, 1e-3)):
        a, b = (scales[0] * p1).requires_grad_(), (scales[1] * p2).requires_grad_()
        c, d = scales[2] * z1, scales[3] * z2
        ours = infonce_loss(a, b, c.detach(), d.detach(), beta=0.0, alpha=0.3)
        ga, gb = torch.autograd.grad(ours, (a, b))
        ref = byol_loss(a, b, c, d)
        ra, rb = torch.autograd.grad(ref, (a, b))
        torch.testing.assert_close(ours, ref)
        torch.testing.assert_close(ga, ra)
        torch.testing.assert_close(gb, rb)
    # scale invariance: the rescaled inputs give the same value as the raw ones
    base = infonce_loss(p1, p2, z1, z2, beta=0.0)
    scaled = infonce_loss(3.0 * p1, 0.05 * p2, 20.0 * z1, 1e-3 * z2, beta=0.0)
    assert scaled.item() == pytest.approx(base.item(), rel=1e-5)


@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_beta_one_with_psi_equal_phi_is_simclr_nt_xent(alpha):
    torch.manual_seed(3)
    x1, x2 = torch.randn(7, 6), torch.randn(7, 6)
    a, b = x1.clone().requires_grad_(), x2.clone().requires_grad_()
    ours = infonce_loss(a, b, a, b, beta=1.0, alpha=alpha)  # SimCLR: same tensors, gradient through both sides
    ga, gb = torch.autograd.grad(ours, (a, b))
    c, d = x1.clone().requires_grad_(), x2.clone().requires_grad_()
    ref = 4.0 + 4.0 * alpha * _nt_xent_reference(c, d, alpha)
    rc, rd = torch.autograd.grad(ref, (c, d))
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ga, rc)
    torch.testing.assert_close(gb, rd)


@pytest.mark.parametrize(("beta", "alpha"), [(0.7, 0.2), (1.0, 1.0), (2.5, 0.05)])
def test_matches_the_formula_written_with_loops_when_phi_differs_from_psi(beta, alpha):
    torch.manual_seed(4)
    phi1, phi2, psi1, psi2 = (torch.randn(4, 3) for _ in range(4))
    ours = infonce_loss(phi1, phi2, psi1, psi2, beta=beta, alpha=alpha)
    assert ours.item() == pytest.approx(_loop_reference(phi1, phi2, psi1, psi2, beta, alpha), rel=1e-5)


def test_hand_computed_value():
    x, y = [1.0, 0.0], [0.0, 1.0]
    phi1 = torch.tensor([x, y])
    phi2 = torch.tensor([y, x]) * 2.0
    psi1 = torch.tensor([x, [-1.0, 0.0]]) * 0.5  # [x, -x]
    psi2 = torch.tensor([x, y]) * 3.0
    e = math.e
    # alpha = beta = 1, so l = 2 - 2 S_pos + 2 ln(denominator).
    # direction 1 (anchor phi1_i, positive psi2_i, in-view psi1_{j!=i}, cross-view psi2_j):
    #   i=0: anchor x, pos x (S=1); in-view -x: e^-1; cross x, y: e + 1       -> 0 + 2 ln(1 + e + 1/e)
    #   i=1: anchor y, pos y (S=1); in-view x: 1;     cross x, y: 1 + e       -> 0 + 2 ln(2 + e)
    # direction 2 (anchor phi2_i, positive psi1_i, in-view psi2_{j!=i}, cross-view psi1_j):
    #   i=0: anchor y, pos x (S=0);  in-view y: e;    cross x, -x: 1 + 1      -> 2 + 2 ln(2 + e)
    #   i=1: anchor x, pos -x (S=-1); in-view x: e;   cross x, -x: e + 1/e    -> 4 + 2 ln(2e + 1/e)
    # mean over the two samples of (direction 1 + direction 2)
    expected = (
        (2 * math.log(1 + e + 1 / e) + 2 + 2 * math.log(2 + e))
        + (2 * math.log(2 + e) + 4 + 2 * math.log(2 * e + 1 / e))
    ) / 2
    assert infonce_loss(phi1, phi2, psi1, psi2, beta=1.0, alpha=1.0).item() == pytest.approx(expected, rel=1e-6)
    # swapping the roles of phi and psi changes the value: the two sides are not interchangeable
    swapped = infonce_loss(psi1, psi2, phi1, phi2, beta=1.0, alpha=1.0).item()
    assert swapped != pytest.approx(expected, rel=1e-3)


def test_beta_scales_only_the_negative_term():
    torch.manual_seed(5)
    phi1, phi2, psi1, psi2 = (torch.randn(5, 4) for _ in range(4))
    base = infonce_loss(phi1, phi2, psi1, psi2, beta=0.0, alpha=0.2).item()
    unit = infonce_loss(phi1, phi2, psi1, psi2, beta=1.0, alpha=0.2).item() - base
    assert abs(unit) > 0.1
    for b in (0.5, 1.0, 2.0):
        diff = infonce_loss(phi1, phi2, psi1, psi2, beta=b, alpha=0.2).item() - base
        assert diff == pytest.approx(b * unit, rel=1e-5)


@pytest.mark.parametrize(("beta", "alpha"), [(1.0, 0.1), (0.3, 2.0)])
def test_batch_of_one_has_an_empty_in_view_sum(beta, alpha):
    # B=1: no in-view negative, the denominator is exp(S_pos/alpha), so l = 2 - 2S + 2 alpha beta S/alpha
    torch.manual_seed(6)
    phi1, phi2, psi1, psi2 = (torch.randn(1, 5) for _ in range(4))
    s12 = F.cosine_similarity(phi1, psi2).item()
    s21 = F.cosine_similarity(phi2, psi1).item()
    expected = (2 - 2 * s12 + 2 * beta * s12) + (2 - 2 * s21 + 2 * beta * s21)
    got = infonce_loss(phi1, phi2, psi1, psi2, beta=beta, alpha=alpha).item()
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_anchor_does_not_see_its_own_same_view_target():
    # phi1_i enters only direction 1's term for anchor i, whose candidates are psi2_* and psi1_{j!=i}; so the
    # gradient w.r.t. phi1_i must not depend on psi1_i, while the other anchors' gradients do.
    torch.manual_seed(7)
    phi1, phi2, psi1, psi2 = (torch.randn(3, 4) for _ in range(4))

    def grad_phi1(psi1_):
        p = phi1.clone().requires_grad_()
        return torch.autograd.grad(infonce_loss(p, phi2, psi1_, psi2, beta=1.0, alpha=0.5), p)[0]

    moved = psi1.clone()
    moved[0] = torch.randn(4) * 5
    before, after = grad_phi1(psi1), grad_phi1(moved)
    torch.testing.assert_close(after[0], before[0])
    assert (after[1:] - before[1:]).abs().max() > 1e-3


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gradient_reaches_psi_only_when_the_caller_does_not_detach(beta):
    torch.manual_seed(8)
    phi1, phi2, psi1, psi2 = (torch.randn(4, 3, requires_grad=True) for _ in range(4))
    infonce_loss(phi1, phi2, psi1, psi2, beta=beta).backward()
    assert psi1.grad is not None and psi1.grad.abs().sum() > 0
    assert psi2.grad is not None and psi2.grad.abs().sum() > 0
    psi1.grad = psi2.grad = None
    infonce_loss(phi1, phi2, psi1.detach(), psi2.detach(), beta=beta).backward()
    assert psi1.grad is None and psi2.grad is None
    assert phi1.grad.abs().sum() > 0


def test_float32_under_bf16_autocast():
    torch.manual_seed(9)
    phi1, phi2, psi1, psi2 = (torch.randn(16, 32) for _ in range(4))
    ref = infonce_loss(phi1, phi2, psi1, psi2, beta=1.0, alpha=0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = infonce_loss(*(t.bfloat16() for t in (phi1, phi2, psi1, psi2)), beta=1.0, alpha=0.1)
        got_fp32_in = infonce_loss(phi1, phi2, psi1, psi2, beta=1.0, alpha=0.1)
    assert got.dtype == torch.float32
    # float32 inputs must not be rounded to bf16 by autocast inside the loss
    torch.testing.assert_close(got_fp32_in, ref, rtol=1e-6, atol=1e-6)
    assert got.item() == pytest.approx(ref.item(), rel=2e-2)


def test_gather_without_process_group_is_a_no_op():
    torch.manual_seed(10)
    phi1, phi2, psi1, psi2 = (torch.randn(4, 3) for _ in range(4))
    a = infonce_loss(phi1, phi2, psi1, psi2, beta=1.0, gather=True)
    b = infonce_loss(phi1, phi2, psi1, psi2, beta=1.0)
    assert a.item() == b.item()


# --- multi-process gather -------------------------------------------------------------------------------------

_WORLD, _BATCH, _DIM, _BETA, _ALPHA = 2, 8, 5, 1.0, 0.5


def _fixed_batch():
    g = torch.Generator().manual_seed(11)
    return [torch.randn(_BATCH, _DIM, generator=g) for _ in range(4)]


def _gather_worker(rank, init_file, out_dir):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=_WORLD)
    try:
        half = _BATCH // _WORLD
        local = [t[rank * half : (rank + 1) * half].clone().requires_grad_() for t in _fixed_batch()]
        loss = infonce_loss(*local, beta=_BETA, alpha=_ALPHA, gather=True)
        loss.backward()
        torch.save({"loss": loss.detach(), "grads": [t.grad for t in local]}, os.path.join(out_dir, f"r{rank}.pt"))
        dist.barrier()  # neither process tears gloo down while the other still uses it (a race: SIGABRT)
    finally:
        dist.destroy_process_group()


def test_gather_across_two_processes_matches_the_full_batch(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_gather_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=_WORLD, join=True)
    results = [torch.load(tmp_path / f"r{r}.pt") for r in range(_WORLD)]

    full = [t.clone().requires_grad_() for t in _fixed_batch()]
    loss = infonce_loss(*full, beta=_BETA, alpha=_ALPHA)
    loss.backward()
    # without gathering, each half would see only its own negatives: a different (smaller-denominator) value
    halves = [infonce_loss(*(t[r * 4 : r * 4 + 4] for t in _fixed_batch()), beta=_BETA, alpha=_ALPHA) for r in (0, 1)]
    assert sum(h.item() for h in halves) / 2 != pytest.approx(loss.item(), rel=1e-3)

    mean_loss = sum(r["loss"] for r in results) / _WORLD
    torch.testing.assert_close(mean_loss, loss.detach(), rtol=1e-5, atol=0)
    # DDP averages the per-process gradients: rows of rank r, scaled by 1/world, are the full-batch gradient
    for k, t in enumerate(full):  # phi1, phi2, psi1, psi2 (psi gets gradient from every process's negatives)
        distributed = torch.cat([r["grads"][k] for r in results]) / _WORLD
        torch.testing.assert_close(distributed, t.grad, rtol=1e-5, atol=1e-6)


# --- errors ---------------------------------------------------------------------------------------------------


def test_errors_are_clear():
    ok = torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"four \[batch, dim\] tensors.*\(2, 4\)"):
        infonce_loss(ok, ok, torch.randn(2, 4), ok, beta=1.0)
    with pytest.raises(ValueError, match=r"four \[batch, dim\] tensors"):
        infonce_loss(torch.randn(3), torch.randn(3), torch.randn(3), torch.randn(3))
    for alpha in (0.0, -0.1):
        with pytest.raises(ValueError, match="alpha > 0"):
            infonce_loss(ok, ok, ok, ok, beta=1.0, alpha=alpha)
    with pytest.raises(ValueError, match="beta >= 0"):
        infonce_loss(ok, ok, ok, ok, beta=-0.5)
