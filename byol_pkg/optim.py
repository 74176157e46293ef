"""LARS exactly as the official BYOL code, and the bias/BatchNorm exclusion rule.

timm's ``Lars`` is close but not the same update: its trust ratio is ``eta ||w|| / (||g|| + wd ||w|| + eps)``,
whereas the official step is ``eta ||w|| / ||g + wd w||`` with no epsilon (BYOL_SPEC Sec. 4). The difference
is small but not zero, so this module implements the paper's step (multi-tensor ``foreach`` kernels).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer


def is_excluded(name: str, param: Tensor) -> bool:
    """Biases and normalisation scales/offsets: every parameter of rank <= 1 (official ``exclude_bias_and_norm``)."""
    return param.ndim <= 1


def lars_param_groups(modules: Iterable[nn.Module], weight_decay: float) -> list[dict]:
    """Two groups: adapted weights (weight decay + trust ratio) and excluded biases/norm parameters (neither)."""
    adapted, excluded = [], []
    for module in modules:
        for name, p in module.named_parameters():
            if p.requires_grad:
                (excluded if is_excluded(name, p) else adapted).append(p)
    return [
        {"params": adapted, "weight_decay": weight_decay, "lars_adapt": True},
        {"params": excluded, "weight_decay": 0.0, "lars_adapt": False},
    ]


class LARS(Optimizer):
    """Layer-wise adaptive rate scaling, official BYOL variant, per parameter tensor p with gradient g:

    1. u = g + wd p (adapted params only);
    2. u <- u * eta ||p|| / ||u|| if ||p|| > 0 and ||u|| > 0 (adapted params only; no epsilon, no clipping);
    3. m <- momentum * m + u (no dampening, no Nesterov);
    4. p <- p - lr m.
    """

    def __init__(
        self,
        params,
        lr: float = 0.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 1e-3,
        lars_adapt: bool = True,
    ) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0 or trust_coefficient <= 0:
            raise ValueError("LARS: lr, momentum, weight_decay must be >= 0 and trust_coefficient > 0")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            lars_adapt=lars_adapt,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if group["lars_adapt"]:
                updates = self._adapt(params, grads, group["weight_decay"], group["trust_coefficient"])
            else:
                updates = list(grads)
            bufs = []
            for p, u in zip(params, updates):
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                bufs.append(state["momentum_buffer"])
            torch._foreach_mul_(bufs, group["momentum"])
            torch._foreach_add_(bufs, updates)
            torch._foreach_add_(params, bufs, alpha=-group["lr"])
        return loss

    @staticmethod
    def _adapt(params: list[Tensor], grads: list[Tensor], weight_decay: float, eta: float) -> list[Tensor]:
        """Steps 1 and 2: weight decay added to the gradient, then the trust ratio."""
        updates = torch._foreach_add(grads, params, alpha=weight_decay)  # new tensors: grads stay untouched
        p_norms = torch._foreach_norm(params)
        u_norms = torch._foreach_norm(updates)
        ratios = []
        for pn, un in zip(p_norms, u_norms):
            ok = (pn > 0) & (un > 0)
            ratios.append(torch.where(ok, eta * pn / torch.where(ok, un, torch.ones_like(un)), torch.ones_like(pn)))
        torch._foreach_mul_(updates, ratios)
        return updates
