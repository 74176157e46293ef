"""Networks: backbones (registry), MLP heads and the BYOL online/target pair."""

from .backbones import BackboneSpec, available_backbones, create_backbone, register_backbone
from .byol import OnlineNetwork, TargetNetwork, build_byol, ema_pairs, update_target
from .heads import MLPHead

__all__ = [
    "BackboneSpec", "MLPHead", "OnlineNetwork", "TargetNetwork", "available_backbones", "build_byol",
    "create_backbone", "ema_pairs", "register_backbone", "update_target",
]
