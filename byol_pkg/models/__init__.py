"""Networks: backbones (registry), MLP heads, the BYOL online/target pair and the supervised baseline.

Importing this package registers the backbones timm has no name for as timm models (``byol_resnet_small``,
``byol_resnet18_cifar``, ``byol_tf_resnet50``, ...: :mod:`.timm_hub`), so that ``timm.create_model`` builds the
``architecture`` of an exported ``encoder.timm/config.json``.
"""

from . import timm_hub
from .backbones import BackboneSpec, available_backbones, create_backbone, register_backbone
from .byol import OnlineNetwork, TargetNetwork, build_byol, ema_pairs, update_target
from .heads import MLPHead
from .supervised import SupervisedNetwork

__all__ = [
    "BackboneSpec", "MLPHead", "OnlineNetwork", "SupervisedNetwork", "TargetNetwork", "available_backbones",
    "build_byol", "create_backbone", "ema_pairs", "register_backbone", "timm_hub", "update_target",
]
