"""The BYOL objective (paper Eq. 2 and its symmetrisation, Algorithm 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Clamp of the l2 norm before division, as in the official ``l2_normalize``.
NORM_EPS = 1e-12


def regression_loss(p: Tensor, z: Tensor) -> Tensor:
    """Per-sample ``||p/||p|| - z/||z||||^2 = 2 - 2 cos(p, z)``; ``z`` is detached (stop-gradient).

    Computed in float32 whatever the autocast dtype, so that bf16 does not round the cosine.
    """
    p = F.normalize(p.float(), dim=-1, eps=NORM_EPS)
    z = F.normalize(z.detach().float(), dim=-1, eps=NORM_EPS)
    return 2.0 - 2.0 * (p * z).sum(dim=-1)


def byol_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
    """Symmetrised BYOL loss, a 0-d tensor.

    ``p1, p2``: online predictions q(g(f(v))) of views 1 and 2; ``z1, z2``: target projections of views 1 and 2.
    Per sample the two directions are **summed** (range [0, 8]): ``L(p1, z2) + L(p2, z1)``; the batch loss is
    the mean over samples. Target projections never receive a gradient.
    """
    if not (p1.shape == p2.shape == z1.shape == z2.shape) or p1.dim() != 2:
        raise ValueError(
            f"byol_loss expects four [batch, dim] tensors of one shape, got "
            f"{tuple(p1.shape)}, {tuple(p2.shape)}, {tuple(z1.shape)}, {tuple(z2.shape)}"
        )
    return (regression_loss(p1, z2) + regression_loss(p2, z1)).mean()


@torch.no_grad()
def collapse_std(z: Tensor) -> Tensor:
    """Mean over dimensions of the per-dimension std of l2-normalised vectors ``z`` [batch, dim].

    0 for a collapsed representation (every sample mapped to the same direction); about ``1/sqrt(dim)`` for
    vectors spread uniformly on the sphere (SimSiam's collapse monitor).
    """
    zn = F.normalize(z.detach().float(), dim=-1, eps=NORM_EPS)
    return zn.std(dim=0).mean()
