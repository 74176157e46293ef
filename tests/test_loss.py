"""The BYOL loss (BYOL_SPEC Sec. 2): values, symmetrisation by sum, scale invariance, stop-gradient."""

import math

import pytest
import torch

from byol_pkg.loss import byol_loss, collapse_std, regression_loss


def test_identical_directions_give_zero_and_opposite_give_four_per_direction():
    p = torch.tensor([[1.0, 2.0, 3.0]])
    assert regression_loss(p, 5 * p).item() == pytest.approx(0.0, abs=1e-6)
    assert regression_loss(p, -p).item() == pytest.approx(4.0, abs=1e-6)
    # symmetrised: both directions opposite -> 4 + 4 = 8 (sum, not mean of the two)
    assert byol_loss(p, p, -p, -p).item() == pytest.approx(8.0, abs=1e-6)


def test_hand_computed_value():
    # p1 at 60 degrees from z2, p2 orthogonal to z1: (2 - 2 cos 60) + (2 - 0) = 1 + 2 = 3
    p1 = torch.tensor([[1.0, 0.0]])
    z2 = torch.tensor([[math.cos(math.pi / 3), math.sin(math.pi / 3)]]) * 7.0
    p2 = torch.tensor([[0.0, 3.0]])
    z1 = torch.tensor([[2.0, 0.0]])
    assert byol_loss(p1, p2, z1, z2).item() == pytest.approx(3.0, abs=1e-6)


def test_pairs_views_crosswise_and_averages_over_batch():
    torch.manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(5, 8) for _ in range(4))
    cos = torch.nn.functional.cosine_similarity
    expected = ((2 - 2 * cos(p1, z2)) + (2 - 2 * cos(p2, z1))).mean()
    assert byol_loss(p1, p2, z1, z2).item() == pytest.approx(expected.item(), rel=1e-6)
    # swapping the target views changes the value: the pairing is p1<->z2, p2<->z1
    assert byol_loss(p1, p2, z2, z1).item() != pytest.approx(expected.item(), rel=1e-3)


def test_invariant_to_positive_rescaling():
    torch.manual_seed(1)
    p1, p2, z1, z2 = (torch.randn(4, 6) for _ in range(4))
    base = byol_loss(p1, p2, z1, z2)
    scaled = byol_loss(3.0 * p1, 0.1 * p2, 7.0 * z1, 1e-3 * z2)
    assert scaled.item() == pytest.approx(base.item(), rel=1e-5)


def test_returns_0d_and_no_gradient_reaches_targets():
    p1, p2 = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    z1, z2 = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    loss = byol_loss(p1, p2, z1, z2)
    assert loss.dim() == 0
    loss.backward()
    assert p1.grad is not None and p1.grad.abs().sum() > 0
    assert z1.grad is None and z2.grad is None


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="four \\[batch, dim\\] tensors"):
        byol_loss(torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 3))


def test_collapse_std_zero_for_collapsed_and_about_inv_sqrt_d_for_spread():
    assert collapse_std(torch.ones(64, 16) * 3).item() == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(0)
    d = 128
    assert collapse_std(torch.randn(4096, d)).item() == pytest.approx(1 / math.sqrt(d), rel=0.05)


@pytest.mark.parametrize("bad", range(4))
def test_any_one_mismatched_shape_is_refused(bad):
    """Each of the four tensors may be the odd one out, narrower or wider than the rest (a shape check that
    compared only some pairs, or compared with <=, would let one through)."""
    for width in (2, 4):
        shapes = [(2, 3)] * 4
        shapes[bad] = (2, width)
        with pytest.raises(ValueError, match="four \\[batch, dim\\] tensors"):
            byol_loss(*(torch.randn(s) for s in shapes))
    for pred, target in (((2, 3), (2, 4)), ((2, 4), (2, 3))):  # predictor and projector widths differ
        with pytest.raises(ValueError, match="four \\[batch, dim\\] tensors"):
            byol_loss(torch.randn(pred), torch.randn(pred), torch.randn(target), torch.randn(target))
    for shape in ((3,), (2, 3, 4)):  # one shape, but not [batch, dim]
        with pytest.raises(ValueError, match="four \\[batch, dim\\] tensors"):
            byol_loss(*(torch.randn(shape) for _ in range(4)))


def test_a_zero_vector_gives_a_finite_loss():
    """The norm is clamped at a tiny epsilon (the official l2_normalize): a zero prediction or target counts as
    orthogonal to everything (loss 2), not NaN, and a short nonzero vector is still normalised exactly."""
    p, z = torch.zeros(1, 3), torch.tensor([[1.0, 2.0, 2.0]])
    assert regression_loss(p, z).item() == 2.0 and regression_loss(z, p).item() == 2.0
    assert regression_loss(1e-6 * z, z).item() == pytest.approx(0.0, abs=1e-6)


def test_regression_loss_normalises_and_sums_over_the_last_dimension():
    """Per vector along the last axis, whatever the leading axes ([views, batch, dim] here): 2 - 2 cos."""
    torch.manual_seed(2)
    p, z = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    expected = 2 - 2 * torch.nn.functional.cosine_similarity(p, z, dim=-1)
    out = regression_loss(p, z)
    assert out.shape == (2, 3) and torch.allclose(out, expected, atol=1e-6)


def test_collapse_std_hand_example():
    """Rows l2-normalised first, then the std of each dimension over the batch (unbiased), averaged over
    dimensions: rows (3, 4) and (0, 2) -> (0.6, 0.8) and (0, 1); stds 0.6/sqrt(2) and 0.2/sqrt(2)."""
    z = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert collapse_std(z).item() == pytest.approx((0.6 + 0.2) / math.sqrt(2) / 2, abs=1e-6)
