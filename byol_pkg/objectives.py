"""The generalised objective InfoNCE^{alpha,beta} between BYOL and SimCLR (paper Sec. 5, Appendix F.5).

The paper maximises ``(2/B) sum_i S(v_i, v'_i) - beta (2 alpha/B) sum_i ln(sum_{j!=i} exp(S(v_i, v_j)/alpha)
+ sum_j exp(S(v_i, v'_j)/alpha))`` with ``S(u1, u2)`` the cosine between ``phi(u1)`` (online output) and
``psi(u2)`` (target-side output). Here the equivalent loss is minimised, per direction and sample
``l_i = 2 - 2 S(v_i, v'_i) + 2 alpha beta ln(...)``, and symmetrised as BYOL is (two directions summed per sample,
mean over the batch). ``beta = 0`` is BYOL's loss; ``beta = 1`` with ``psi = phi`` is ``4 + 4 alpha`` times
SimCLR's NT-Xent (temperature ``alpha``).
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from byol_pkg.loss import NORM_EPS


def _gather_negatives(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor, int]:
    """Differentiable all-gather of the normalised ``z1, z2`` [B, D] of every process.

    Returns ``[W*B, D]`` tensors ordered by rank and the global index of this process's first sample. Gradients
    reaching another process's copy are summed back to its owner (all-to-all in the backward pass).
    """
    import torch.distributed.nn.functional as dist_fn

    b, d = z1.shape
    with warnings.catch_warnings():  # deprecated in favour of a private API, still the public differentiable one
        warnings.filterwarnings("ignore", message=r".*nn\.functional\.all_gather is deprecated", category=FutureWarning)
        parts = dist_fn.all_gather(torch.cat([z1, z2], dim=1))
    both = torch.cat(parts, dim=0)
    return both[:, :d], both[:, d:], dist.get_rank() * b


def _log_denominator(p: Tensor, z_same: Tensor, z_cross: Tensor, offset: int, alpha: float) -> Tensor:
    """Per-anchor ``ln(sum_{j != i} exp(<p_i, z_same_j>/alpha) + sum_j exp(<p_i, z_cross_j>/alpha))``.

    ``p`` [B, D] local anchors; ``z_same, z_cross`` [N, D] candidates (N >= B); anchor ``i`` is excluded from the
    same-view candidates at index ``offset + i``. All inputs are l2-normalised float32.
    """
    same = p @ z_same.T / alpha
    rows = torch.arange(p.shape[0], device=p.device)
    same = same.masked_fill(F.one_hot(rows + offset, z_same.shape[0]).bool(), float("-inf"))
    return torch.logsumexp(torch.cat([same, p @ z_cross.T / alpha], dim=1), dim=1)


def infonce_loss(
    phi1: Tensor,
    phi2: Tensor,
    psi1: Tensor,
    psi2: Tensor,
    beta: float = 0.0,
    alpha: float = 0.1,
    *,
    gather: bool = False,
) -> Tensor:
    """Symmetrised InfoNCE^{alpha,beta} loss, a 0-d float32 tensor.

    ``phi1, phi2``: online outputs (predictions, or projections without a predictor) of views 1 and 2;
    ``psi1, psi2``: target-side outputs of views 1 and 2, all [batch, dim]. ``psi`` is **not** detached here: the
    caller detaches for a stop-gradient / target network, SimCLR passes the online projections themselves.
    Per sample: ``l(phi1_i; positive psi2_i, negatives psi1_{j!=i}, psi2_j) + l(phi2_i; psi1_i, psi2_{j!=i},
    psi1_j)``; batch mean. ``beta == 0`` skips the negative term (then equals ``byol_loss``).

    ``gather=True`` under an initialised process group of world size > 1 takes the negatives from every process
    (differentiable all-gather, equal batch sizes required) and returns the mean over the local samples, so that
    DDP's gradient averaging yields the gradient of the global mean. Otherwise ``gather`` is a no-op.
    """
    if not (phi1.shape == phi2.shape == psi1.shape == psi2.shape) or phi1.dim() != 2:
        raise ValueError(
            f"infonce_loss expects four [batch, dim] tensors of one shape, got "
            f"{tuple(phi1.shape)}, {tuple(phi2.shape)}, {tuple(psi1.shape)}, {tuple(psi2.shape)}"
        )
    if not beta >= 0:
        raise ValueError(f"infonce_loss needs beta >= 0, got {beta}")
    if not alpha > 0:
        raise ValueError(f"infonce_loss needs a temperature alpha > 0, got {alpha}")

    p1, p2, z1, z2 = (F.normalize(t.float(), dim=-1, eps=NORM_EPS) for t in (phi1, phi2, psi1, psi2))
    loss = (2.0 - 2.0 * (p1 * z2).sum(dim=-1)) + (2.0 - 2.0 * (p2 * z1).sum(dim=-1))
    if beta == 0:
        return loss.mean()

    offset = 0
    if gather and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        z1, z2, offset = _gather_negatives(z1, z2)
    # matmuls in float32 even under autocast (which would run them in bf16/fp16)
    with torch.autocast(device_type=p1.device.type, enabled=False):
        log_den = _log_denominator(p1, z1, z2, offset, alpha) + _log_denominator(p2, z2, z1, offset, alpha)
    return (loss + 2.0 * alpha * beta * log_den).mean()
