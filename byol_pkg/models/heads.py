"""The projector g and predictor q of BYOL: Linear -> BatchNorm1d -> ReLU -> Linear."""

from __future__ import annotations

from torch import nn


class MLPHead(nn.Sequential):
    """``Linear(in, hidden) -> BN(hidden) -> ReLU -> Linear(hidden, out)``; output not batch-normalised.

    The last linear has no bias, as in the official code (``with_bias=False``). BN: eps 1e-5, PyTorch momentum
    0.1 (TF decay 0.9).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 4096, out_dim: int = 256) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim, eps=1e-5, momentum=0.1),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim, bias=False),
        )
