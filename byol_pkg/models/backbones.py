"""Backbone registry: torchvision ResNets, any timm model, the CIFAR stem and a small ResNet for the CPU demo.

``tf_resnet50`` ... ``tf_resnet200`` are the torchvision ResNets (same module tree, same state-dict keys) with
TensorFlow/Haiku 'SAME' padding on the stride-2 convolutions and the stem max-pool (:mod:`.tf_same`): the forward
pass of DeepMind's BYOL networks, used for the converted official checkpoints (:mod:`.convert_official`).

Every backbone is an ``nn.Module`` mapping images [B, 3, H, W] to the pooled representation y [B, feat_dim]
(no classifier), and keeps the parameter names of its library, so ``encoder.pt`` loads into
``torchvision.models.<name>()`` (with ``fc = nn.Identity()``) or ``timm.create_model(<name>, num_classes=0)``.
The backbones timm has no name for (the small ResNets, the CIFAR stem, TF 'SAME' padding) are timm models named
``byol_<name>`` / ``byol_<name>_cifar`` once ``byol_pkg.models`` is imported (:mod:`.timm_hub`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

_REGISTRY: dict[str, Callable[[], nn.Module]] = {}
TORCHVISION_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet200",
                       "wide_resnet50_2", "wide_resnet101_2")
#: ``tf_<name>`` -> torchvision ResNet ``<name>`` with TF 'SAME' padding (registered below).
TF_SAME_RESNETS = {f"tf_resnet{depth}": f"resnet{depth}" for depth in (50, 101, 152, 200)}


def register_backbone(name: str) -> Callable:
    """Decorator adding a zero-argument factory to the registry under ``name``."""

    def wrap(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        _REGISTRY[name] = fn
        return fn

    return wrap


@register_backbone("resnet_small")
def resnet_small(**kwargs: Any) -> nn.Module:
    """ResNet with one BasicBlock per stage, stage widths 16/32/64/128 and timm's 64-channel 7x7 stem (timm
    ignores ``stem_width`` for that stem); 128-d output. ``kwargs`` go to timm's ``ResNet`` (``num_classes``
    defaults to 0; the timm model ``byol_resnet_small`` of :mod:`.timm_hub` passes ``in_chans``, ``global_pool``).

    Load its state dict with ``timm.models.resnet.ResNet(BasicBlock, [1,1,1,1], channels=(16,32,64,128),
    stem_width=16, num_classes=0)``, or ``timm.create_model("byol_resnet_small")`` once ``byol_pkg.models`` is
    imported.
    """
    from timm.models.resnet import BasicBlock, ResNet

    kwargs = {"num_classes": 0, "zero_init_last": False, **kwargs}
    return ResNet(BasicBlock, [1, 1, 1, 1], channels=(16, 32, 64, 128), stem_width=16, **kwargs)


@register_backbone("resnet_small_nopool")
def resnet_small_nopool(**kwargs: Any) -> nn.Module:
    """``resnet_small`` without the stem's max-pool: its stages see 14/7/4/2 px of a 28-px image instead of
    7/4/2/1 (the last 3x3 convolutions of ``resnet_small`` act on a single pixel there). The CPU demo's backbone:
    on 2 cores it trains as fast (data path bound, about 950 images/s) and its BYOL encoder gains 3 points of
    validation kNN over random init in 2-epoch demo runs, against 0.3-1.2 for ``resnet_small``.

    Load its state dict with the ``resnet_small`` timm model above and ``model.maxpool = nn.Identity()``, or
    ``timm.create_model("byol_resnet_small_nopool")`` once ``byol_pkg.models`` is imported.
    """
    model = resnet_small(**kwargs)
    model.maxpool = nn.Identity()
    return model


@register_backbone("resnet_small_nopool_stem16")
def resnet_small_nopool_stem16(**kwargs: Any) -> nn.Module:
    """``resnet_small_nopool`` with a 16-channel stem. timm's ResNet ignores ``stem_width`` for its 7x7 stem and
    makes it 64 channels wide whatever the stage widths, so ``resnet_small`` runs a 64-channel stem at full stem
    resolution into 16-channel stages (a 1x1 projection in the first block). Here the stem is 16 channels, as
    wide as the first stage, so the first block needs no projection: 3.9 M multiply-accumulates per 28-px image
    against 6.8 M (``docs/demo_recipe.md``). Stages at 14/7/4/2 px of a 28-px image, 128-d output.

    Load its state dict with the ``resnet_small_nopool`` model above after ``model.conv1 = nn.Conv2d(3, 16, 7, 2,
    3, bias=False)``, ``model.bn1 = nn.BatchNorm2d(16)``, ``model.layer1[0].conv1 = nn.Conv2d(16, 16, 3, 1, 1,
    bias=False)`` and ``model.layer1[0].downsample = None``; or ``timm.create_model("byol_resnet_small_nopool_stem16")``
    once ``byol_pkg.models`` is imported.
    """
    model = resnet_small_nopool(**kwargs)
    width = model.layer1[0].conv1.out_channels
    model.conv1 = nn.Conv2d(model.conv1.in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(width)
    model.layer1[0].conv1 = nn.Conv2d(width, width, kernel_size=3, stride=1, padding=1, bias=False)
    model.layer1[0].downsample = None
    for conv in (model.conv1, model.layer1[0].conv1):  # timm's ResNet initialisation (He normal, fan-out)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return model


def _torchvision_resnet(name: str) -> nn.Module:
    import torchvision

    if name == "resnet200":
        from torchvision.models.resnet import Bottleneck, ResNet

        model = ResNet(Bottleneck, [3, 24, 36, 3])
    else:
        model = getattr(torchvision.models, name)(weights=None)
    model.fc = nn.Identity()
    return model


def _tf_same_resnet(name: str) -> nn.Module:
    """The torchvision ResNet ``name`` with TF 'SAME' padding on its strided convolutions and max-pool."""
    from .tf_same import convert_to_same_padding

    return convert_to_same_padding(_torchvision_resnet(name))


for _tf_name, _tv_name in TF_SAME_RESNETS.items():
    register_backbone(_tf_name)(functools.partial(_tf_same_resnet, _tv_name))
del _tf_name, _tv_name


def _timm_model(name: str) -> nn.Module:
    import timm

    try:
        return timm.create_model(name, pretrained=False, num_classes=0)
    except RuntimeError as err:  # timm: "Unknown model (...)"
        raise ValueError(f"model.backbone: timm has no model '{name}' ({err})") from None


def available_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone` besides ``timm:<any timm model>``."""
    return sorted(set(_REGISTRY) | set(TORCHVISION_RESNETS))


def backbone_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be built by :func:`~byol_pkg.models.create_backbone` (None: it can), checked without
    building anything: a registered or torchvision name, or ``timm:<model>`` that timm knows."""
    if not isinstance(name, str) or not name.strip():
        return f"backbone must be a non-empty name, got {name!r}"
    if name.startswith("timm:"):
        import timm

        if not timm.is_model(name.removeprefix("timm:")):
            return f"timm has no model '{name.removeprefix('timm:')}' (timm.list_models() lists them)"
        return None
    if name in available_backbones():
        return None
    return (f"unknown backbone '{name}'; name one of {', '.join(available_backbones())}, or 'timm:<model>' for "
            "any timm model (e.g. timm:resnet50)")


def apply_cifar_stem(model: nn.Module) -> nn.Module:
    """Replace the 7x7/2 conv + max-pool stem by a 3x3/1 conv and no pooling (for 32-px images)."""
    conv = getattr(model, "conv1", None)
    if not isinstance(conv, nn.Conv2d) or not hasattr(model, "maxpool"):
        raise ValueError("model.cifar_stem: only ResNet-style backbones (with conv1 and maxpool) support it")
    model.conv1 = nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


@dataclass(frozen=True)
class BackboneSpec:
    """What is needed to rebuild a backbone: written next to every saved encoder."""

    name: str
    cifar_stem: bool = False


def create_backbone(name: str, cifar_stem: bool = False) -> tuple[nn.Module, int]:
    """Build a backbone by name and return it with its representation size.

    ``name``: a registered name (``resnet_small``), a torchvision ResNet (``resnet18`` ... ``resnet200``), or
    ``timm:<model>`` for any timm model; ``tf_resnet50`` ... ``tf_resnet200``: torchvision ResNets with TF 'SAME'
    padding (no CIFAR stem).
    """
    if cifar_stem and name in TF_SAME_RESNETS:
        raise ValueError(f"model.cifar_stem: not meaningful for {name} (TF 'SAME' padding of the ImageNet stem; "
                         f"use {TF_SAME_RESNETS[name]} with the CIFAR stem)")
    if name.startswith("timm:"):
        model = _timm_model(name.removeprefix("timm:"))
    elif name in _REGISTRY:
        model = _REGISTRY[name]()
    elif name in TORCHVISION_RESNETS:
        model = _torchvision_resnet(name)
    else:
        raise ValueError(
            f"model.backbone: unknown backbone '{name}'; use one of {available_backbones()} or 'timm:<name>'"
        )
    if cifar_stem:
        apply_cifar_stem(model)
    return model, feature_dim(model)


def feature_dim(model: nn.Module) -> int:
    """Representation size, read from the model or measured with one tiny forward pass."""
    for attr in ("num_features", "feature_dim"):
        if isinstance(getattr(model, attr, None), int):
            return getattr(model, attr)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 64))
    model.train(was_training)
    return int(out.shape[-1])
