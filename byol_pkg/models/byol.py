"""BYOL's online network (encoder f, projector g, predictor q) and target network (EMA copy of f and g)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .backbones import create_backbone
from .heads import MLPHead


@dataclass(frozen=True)
class OnlineOutput:
    """What one forward pass of the online network gives for one view."""

    representation: Tensor  # y = f(v)
    projection: Tensor  # z = g(y)
    prediction: Tensor  # p = q(z)


class OnlineNetwork(nn.Module):
    """f_theta -> g_theta -> q_theta. ``forward(v1, v2)`` runs the two views in **separate** calls so that
    BatchNorm statistics are computed per view (paper; official ``apply_once_fn`` per view)."""

    def __init__(self, encoder: nn.Module, feat_dim: int, proj_hidden: int, proj_out: int, pred_hidden: int,
                 use_predictor: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = MLPHead(feat_dim, proj_hidden, proj_out)
        self.predictor = MLPHead(proj_out, pred_hidden, proj_out) if use_predictor else nn.Identity()

    def forward_view(self, view: Tensor) -> OnlineOutput:
        y = self.encoder(view)
        z = self.projector(y)
        return OnlineOutput(y, z, self.predictor(z))

    def forward(self, view1: Tensor, view2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Returns ``(p1, p2, z1, z2)``: predictions and projections of both views (plain tensors for DDP)."""
        o1, o2 = self.forward_view(view1), self.forward_view(view2)
        return o1.prediction, o2.prediction, o1.projection, o2.projection


class TargetNetwork(nn.Module):
    """f_xi -> g_xi: an exact copy of the online encoder and projector at initialisation, then an EMA of them.

    It never receives gradients (parameters have ``requires_grad=False`` and it runs under ``no_grad``) and
    stays in train mode during pretraining, so its BatchNorm uses the current batch statistics.
    """

    def __init__(self, online: OnlineNetwork) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(online.encoder)
        self.projector = copy.deepcopy(online.projector)
        for p in self.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, view: Tensor) -> Tensor:
        return self.projector(self.encoder(view))


def ema_pairs(online: OnlineNetwork, target: TargetNetwork) -> tuple[list[Tensor], list[Tensor]]:
    """Matching (target, online) parameter lists of encoder and projector; checks names and shapes agree."""
    tgt, onl = [], []
    for part in ("encoder", "projector"):
        o_named = dict(getattr(online, part).named_parameters())
        for name, t in getattr(target, part).named_parameters():
            o = o_named[name]
            if o.shape != t.shape:
                raise RuntimeError(f"target/online shape mismatch at {part}.{name}")
            tgt.append(t)
            onl.append(o)
    return tgt, onl


@torch.no_grad()
def update_target(target_params: list[Tensor], online_params: list[Tensor], tau: float) -> None:
    """xi <- tau xi + (1 - tau) theta for every parameter at once (multi-tensor lerp; paper Eq. 1)."""
    torch._foreach_lerp_(target_params, [p.detach() for p in online_params], 1.0 - tau)


def build_byol(backbone: str, cifar_stem: bool = False, proj_hidden: int = 4096, proj_out: int = 256,
               pred_hidden: int = 4096, use_predictor: bool = True, with_target: bool = True
               ) -> tuple[OnlineNetwork, TargetNetwork | None]:
    """Create the online network and its target (an exact copy of the online encoder + projector); without
    ``use_predictor`` the predictor is the identity, without ``with_target`` there is no target (None)."""
    encoder, feat_dim = create_backbone(backbone, cifar_stem=cifar_stem)
    online = OnlineNetwork(encoder, feat_dim, proj_hidden, proj_out, pred_hidden, use_predictor=use_predictor)
    return online, TargetNetwork(online) if with_target else None
