"""LARS (BYOL_SPEC Sec. 4, pitfall 7): the official update, step by step, and the exclusion rule."""

import pytest
import torch
from torch import nn

from byol_pkg.models import build_byol
from byol_pkg.optim import LARS, lars_param_groups


def reference_lars_step(p, g, m, lr, wd, eta, momentum, adapt):
    """The official update written out for one tensor (float64)."""
    u = g + wd * p if adapt else g.clone()
    if adapt and p.norm() > 0 and u.norm() > 0:
        u = u * eta * p.norm() / u.norm()
    m = momentum * m + u
    return p - lr * m, m


def test_matches_reference_over_several_steps():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, 4, dtype=torch.float64))
    b = nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = LARS([{"params": [w], "weight_decay": 0.01, "lars_adapt": True},
                {"params": [b], "weight_decay": 0.0, "lars_adapt": False}], lr=0.5, momentum=0.9,
               trust_coefficient=1e-3)
    rw, rb = w.detach().clone(), b.detach().clone()
    mw, mb = torch.zeros_like(rw), torch.zeros_like(rb)
    for step in range(4):
        gw, gb = torch.randn_like(rw), torch.randn_like(rb)
        w.grad, b.grad = gw.clone(), gb.clone()
        lr = 0.5 * (step + 1)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        rw, mw = reference_lars_step(rw, gw, mw, lr, 0.01, 1e-3, 0.9, True)
        rb, mb = reference_lars_step(rb, gb, mb, lr, 0.0, 1e-3, 0.9, False)
        torch.testing.assert_close(w.detach(), rw, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(b.detach(), rb, rtol=1e-12, atol=1e-12)


def test_trust_ratio_uses_norm_of_decayed_gradient_not_timm_formula():
    # ||p|| = 5, g = (0, 1) and wd = 1: official ratio eta*5/||g + p|| differs from timm's eta*5/(||g|| + wd||p||)
    p = nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64).reshape(1, 2))
    p.grad = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    opt = LARS([p], lr=1.0, momentum=0.0, weight_decay=1.0, trust_coefficient=0.1)
    opt.step()
    u = torch.tensor([[3.0, 5.0]], dtype=torch.float64)
    expected = torch.tensor([[3.0, 4.0]], dtype=torch.float64) - 0.1 * 5.0 / u.norm() * u
    torch.testing.assert_close(p.detach(), expected)


def test_zero_weights_or_gradient_skip_the_ratio():
    p = nn.Parameter(torch.zeros(2, 2))
    p.grad = torch.ones(2, 2)
    LARS([p], lr=0.1, momentum=0.0, trust_coefficient=1e-3).step()
    torch.testing.assert_close(p.detach(), -0.1 * torch.ones(2, 2))


def test_biases_and_batchnorm_excluded_everywhere():
    online, _ = build_byol("resnet_small", cifar_stem=True, proj_hidden=32, proj_out=8, pred_hidden=32)
    adapted, excluded = lars_param_groups([online], weight_decay=1e-6)
    assert adapted["weight_decay"] == 1e-6 and adapted["lars_adapt"]
    assert excluded["weight_decay"] == 0.0 and not excluded["lars_adapt"]
    ex_ids = {id(p) for p in excluded["params"]}
    for name, p in online.named_parameters():
        is_norm_or_bias = name.endswith(".bias") or ".bn" in name or "projector.1." in name or "predictor.1." in name
        assert (id(p) in ex_ids) == (is_norm_or_bias or p.ndim == 1), name
    # the heads' BN and first-linear bias are excluded; conv and linear weights are adapted
    names = {id(p): n for n, p in online.named_parameters()}
    assert {"projector.1.weight", "projector.1.bias", "projector.0.bias", "predictor.1.weight"} <= {
        names[i] for i in ex_ids}
    assert "encoder.conv1.weight" in {names[id(p)] for p in adapted["params"]}
    assert len(adapted["params"]) + len(excluded["params"]) == len(list(online.parameters()))


def test_excluded_params_ignore_weight_decay():
    """With a zero gradient only weight decay moves a parameter: the groups of ``lars_param_groups`` (wd 0.5)
    shrink a linear weight by lr x eta x ||w|| along w (LARS-scaled decay) and leave its bias exactly as it was."""
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0]]))
        layer.bias.copy_(torch.tensor([1.0]))
    layer.weight.grad, layer.bias.grad = torch.zeros(1, 2), torch.zeros(1)
    LARS(lars_param_groups([layer], 0.5), lr=1.0, momentum=0.9, trust_coefficient=0.1).step()
    # u = 0 + 0.5 w = (1.5, 2), scaled by eta ||w|| / ||u|| = 0.1 x 5 / 2.5: u = 0.1 w, so w <- 0.9 w
    torch.testing.assert_close(layer.weight.detach(), torch.tensor([[2.7, 3.6]]))
    torch.testing.assert_close(layer.bias.detach(), torch.tensor([1.0]))


def test_bad_hyperparameters_rejected():
    with pytest.raises(ValueError):
        LARS([nn.Parameter(torch.ones(1))], lr=-1.0)


@pytest.mark.parametrize("bad", [{"lr": -1.0}, {"momentum": -0.1}, {"weight_decay": -1e-6},
                                 {"trust_coefficient": 0.0}, {"trust_coefficient": -1e-3}])
def test_each_bad_hyperparameter_alone_is_rejected(bad):
    with pytest.raises(ValueError, match="LARS: lr, momentum, weight_decay must be >= 0"):
        LARS([nn.Parameter(torch.ones(1))], **bad)


def test_defaults_are_the_official_ones():
    """momentum 0.9 and eta 1e-3 (official ``LARS`` defaults); lr (0 until the schedule sets it: an unscheduled
    optimiser does not move) and weight decay come from the config."""
    d = LARS([nn.Parameter(torch.ones(1))]).defaults
    assert (d["momentum"], d["trust_coefficient"], d["weight_decay"], d["lars_adapt"]) == (0.9, 1e-3, 0.0, True)
    assert d["lr"] == 0.0


def test_scalar_parameters_are_excluded_too():
    """Rank <= 1, not only rank 1: a 0-d scale is neither decayed nor adapted."""
    from byol_pkg.optim import is_excluded

    assert is_excluded("scale", torch.tensor(2.0)) and is_excluded("bias", torch.ones(3))
    assert not is_excluded("weight", torch.ones(3, 1)) and not is_excluded("conv", torch.ones(1, 1, 1, 1))


def test_trust_ratio_applies_to_updates_shorter_than_one():
    """||p|| = 5, ||g|| = 0.05 (< 1): u = g x 1e-3 x 5 / 0.05 = 0.1 g, so p <- p - 1.0 x 0.1 g."""
    p = nn.Parameter(torch.tensor([3.0, 4.0]).reshape(1, 2))
    p.grad = torch.tensor([[0.03, 0.04]])
    LARS([p], lr=1.0, momentum=0.9, trust_coefficient=1e-3).step()
    torch.testing.assert_close(p.detach(), torch.tensor([[2.997, 3.996]]))


def test_trust_ratio_applies_to_weights_shorter_than_one():
    """||p|| = 0.5, ||g|| = 5: u = g x 1e-3 x 0.5 / 5 = 1e-4 g, so p <- p - 1.0 x 1e-4 g."""
    p = nn.Parameter(torch.tensor([[0.3, 0.4]]))
    p.grad = torch.tensor([[3.0, 4.0]])
    LARS([p], lr=1.0, momentum=0.9, trust_coefficient=1e-3).step()
    torch.testing.assert_close(p.detach(), torch.tensor([[0.2997, 0.3996]]))


def test_zero_update_leaves_the_weights_finite_and_unchanged():
    """g = 0 and no weight decay: ||u|| = 0, no ratio (no 0/0), the weights stay as they were."""
    p = nn.Parameter(torch.tensor([[3.0, 4.0]]))
    p.grad = torch.zeros(1, 2)
    LARS([p], lr=1.0, momentum=0.9, trust_coefficient=1e-3).step()
    assert torch.equal(p.detach(), torch.tensor([[3.0, 4.0]]))


def test_a_group_without_gradients_does_not_stop_the_next():
    """A frozen group (no .grad) is skipped; the groups after it still step."""
    frozen, live = nn.Parameter(torch.ones(2, 2)), nn.Parameter(torch.ones(2, 2))
    live.grad = torch.ones(2, 2)
    LARS([{"params": [frozen]}, {"params": [live], "lars_adapt": False}], lr=0.5, momentum=0.0).step()
    assert torch.equal(frozen.detach(), torch.ones(2, 2)) and torch.equal(live.detach(), torch.full((2, 2), 0.5))
