"""Networks: backbones (registry), MLP heads, the BYOL online/target pair and the supervised baseline."""

from .backbones import BackboneSpec, available_backbones, create_backbone, register_backbone
from .byol import OnlineNetwork, TargetNetwork, build_byol, ema_pairs, update_target
from .heads import MLPHead
from .supervised import SupervisedNetwork

__all__ = [
    "BackboneSpec", "MLPHead", "OnlineNetwork", "SupervisedNetwork", "TargetNetwork", "available_backbones",
    "build_byol", "create_backbone", "ema_pairs", "register_backbone", "update_target",
]
