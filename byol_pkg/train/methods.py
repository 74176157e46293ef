"""What each pretraining method trains and how one batch is scored (config section ``method``).

* ``byol``: online network with predictor, EMA target network, the regression loss of paper Eq. 2 (beta 0);
* ``simclr``: no predictor, the online projection of the other view as target *with* its gradient, and the
  negative-pair term with weight beta = 1 and temperature alpha: 2 alpha x NT-Xent plus a constant (the
  paper's SimCLR reproduction, App. F.5);
* any other combination of ``method.predictor``, ``method.target`` and ``method.beta``: the intermediate
  variants of paper Table 5b, from one objective (:func:`byol_pkg.objectives.infonce_loss`);
* ``supervised``: encoder + linear classifier, cross-entropy on the pretraining labels, averaged over the two
  augmented views (the same images, augmentations and optimiser steps as the self-supervised methods).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Config, MethodConfig
from ..errors import ConfigError
from ..loss import byol_loss
from ..models import TargetNetwork, build_byol, create_backbone
from ..models.supervised import SupervisedNetwork
from ..objectives import infonce_loss


@dataclass
class MethodNetworks:
    """The trained network (its ``encoder`` is what pretraining exports) and the EMA target, if any."""

    online: nn.Module
    target: TargetNetwork | None


def build_method_networks(cfg: Config, num_classes: int | None = None) -> MethodNetworks:
    """The networks of ``cfg.method`` on ``cfg.model``'s backbone (``num_classes``: supervised only)."""
    m = cfg.model
    if cfg.method.name == "supervised":
        if num_classes is None:
            raise ConfigError("method.name 'supervised' needs the number of classes of the pretraining data")
        encoder, feat_dim = create_backbone(m.backbone, cifar_stem=m.cifar_stem)
        return MethodNetworks(SupervisedNetwork(encoder, feat_dim, num_classes), None)
    online, target = build_byol(m.backbone, m.cifar_stem, m.projector_hidden, m.projector_out, m.predictor_hidden,
                                use_predictor=bool(cfg.method.predictor), with_target=cfg.method.target == "ema")
    return MethodNetworks(online, target)


def batch_loss(method: MethodConfig, model: nn.Module, target: nn.Module | None, view1: Tensor, view2: Tensor,
               labels: Tensor, autocast: contextlib.AbstractContextManager, gather: bool = False
               ) -> tuple[Tensor, Tensor]:
    """``(loss, monitor)`` of one (micro-)batch; ``monitor`` [B, D] is the output whose collapse is logged
    (the online projection of view 1; the representation for supervised)."""
    with autocast:
        out1, out2, mon1, mon2 = model(view1, view2)
        if target is not None:
            with torch.no_grad():
                psi1, psi2 = target(view1), target(view2)
    if method.name == "supervised":
        return (F.cross_entropy(out1.float(), labels) + F.cross_entropy(out2.float(), labels)) / 2, mon1
    if method.target == "stop_gradient":
        psi1, psi2 = mon1.detach(), mon2.detach()
    elif method.target == "online":
        psi1, psi2 = mon1, mon2
    if method.beta == 0 and method.target != "online":  # BYOL's regression loss (targets detached)
        return byol_loss(out1, out2, psi1, psi2), mon1
    return infonce_loss(out1, out2, psi1, psi2, beta=float(method.beta), alpha=method.alpha, gather=gather), mon1
