"""Our backbones as timm models, and the encoder in timm's hub format (``model.safetensors`` + ``config.json``).

**Names.** :func:`timm_architecture` maps a backbone to the timm model that computes exactly the same function
with the same state-dict keys: a torchvision ResNet (``resnet18`` ... ``wide_resnet101_2``) is timm's ResNet of
the same name (timm keeps torchvision's parameter names and forward pass); ``timm:<model>`` is ``<model>``. The
backbones timm has no name for are registered here with timm's own :func:`timm.models.register_model` as timm
ResNets with the same changes our backbones make, so ``timm.create_model`` builds them once this module is
imported (``import byol_pkg.models`` imports it):

==================================  ==========================================================================
``byol_resnet_small``               :func:`~byol_pkg.models.backbones.resnet_small` (and ``_nopool``,
``byol_resnet_small_nopool``        ``_nopool_stem16``: the CPU demo's backbones)
``byol_resnet_small_nopool_stem16``
``byol_<name>_cifar``               ``<name>`` (a torchvision ResNet or a small one) with the CIFAR stem
                                    (:func:`~byol_pkg.models.backbones.apply_cifar_stem`)
``byol_tf_resnet50`` ... ``200``    timm's ``resnet50`` ... with TF 'SAME' padding (:mod:`.tf_same`)
==================================  ==========================================================================

``timm:<model>`` with the CIFAR stem has no timm name and is refused (:class:`HubExportError`).

**The hub pair** (:func:`write_hub_folder`): the folder ``<encoder stem>.timm/`` beside ``encoder.pt`` holds
``model.safetensors`` (the same state dict) and ``config.json`` in the layout timm's ``push_to_hf_hub`` writes
(``architecture``, ``num_classes`` 0, ``num_features``, ``global_pool``, ``model_args``, ``pretrained_cfg``: the
preprocessing), plus the ``encoder.json`` description under ``byol_bench`` (a key timm ignores). Before it is
written, the pair is loaded back the way a user loads it (``timm.create_model(arch, pretrained=True,
pretrained_cfg_overlay=dict(file=...))``) and its features compared with our backbone's: a pair that timm would
load into another function is never written.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import safetensors.torch
import timm
import torch
from timm.models import build_model_with_cfg, register_model
from torch import nn

from ..io import atomic_write, atomic_write_json, current_umask
from .backbones import (TF_SAME_RESNETS, TORCHVISION_RESNETS, apply_cifar_stem, create_backbone, resnet_small,
                        resnet_small_nopool, resnet_small_nopool_stem16)
from .tf_same import convert_to_same_padding

log = logging.getLogger(__name__)

#: The hub folder of ``<stem>.pt`` is ``<stem>.timm/`` (``encoder.pt`` -> ``encoder.timm/``).
HUB_SUFFIX = ".timm"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: The ``config.json`` key holding our description of the encoder (the ``encoder.json`` fields).
PROVENANCE_KEY = "byol_bench"
#: Prefix of the timm names registered here (none of timm's own names starts with it).
PREFIX = "byol_"
#: Our registered backbones that are timm ResNets built by a factory of :mod:`.backbones`.
SMALL_RESNETS: dict[str, Callable[..., nn.Module]] = {
    "resnet_small": resnet_small, "resnet_small_nopool": resnet_small_nopool,
    "resnet_small_nopool_stem16": resnet_small_nopool_stem16,
}
#: The ``pretrained_cfg`` keys an export writes (all fields of timm's ``PretrainedCfg``).
DATA_KEYS = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std")


class HubExportError(ValueError):
    """A backbone timm cannot build exactly (no hub pair is written for it)."""


def hub_dir(encoder_path: str | os.PathLike) -> Path:
    """The hub folder written beside ``encoder_path``: ``results/.../encoder.pt`` -> ``results/.../encoder.timm``."""
    return Path(encoder_path).with_suffix(HUB_SUFFIX)


# ---------------------------------------------------------------------------------------------------------------
# timm models for our backbones


def _fix_feature_info(model: nn.Module) -> nn.Module:
    """Make a timm ResNet's ``feature_info`` (channels, reduction of each stage) true again after its stem was
    changed (a 16-channel stem, no max-pool, the stride-1 CIFAR stem), for ``features_only=True``."""
    info = getattr(model, "feature_info", None)
    if not isinstance(info, list) or [i.get("module") for i in info] != ["act1", "layer1", "layer2", "layer3",
                                                                       "layer4"]:
        return model
    stem = model.conv1.stride[0] if isinstance(model.conv1, nn.Conv2d) else 2
    pool = 2 if isinstance(model.maxpool, nn.MaxPool2d) else 1
    info[0] = {**info[0], "num_chs": int(model.conv1.out_channels), "reduction": stem}
    for i in range(1, 5):
        info[i] = {**info[i], "reduction": stem * pool * 2 ** (i - 1)}
    return model


def _cifar(make: Callable[..., nn.Module], **kwargs: Any) -> nn.Module:
    return _fix_feature_info(apply_cifar_stem(make(**kwargs)))


def _small(make: Callable[..., nn.Module], **kwargs: Any) -> nn.Module:
    return _fix_feature_info(make(**kwargs))


def _timm_resnet(name: str, **kwargs: Any) -> nn.Module:
    """timm's own ResNet ``name`` (randomly initialised; the entry point loads the weights)."""
    return timm.create_model(name, pretrained=False, **kwargs)


def _tf_same(name: str, **kwargs: Any) -> nn.Module:
    return convert_to_same_padding(_timm_resnet(name, **kwargs))


#: timm reads the pretrained configs of the models registered by this module from ``default_cfgs``.
default_cfgs: dict[str, dict] = {}


def _default_cfg(size: int, description: str) -> dict:
    """Placeholder preprocessing of a registered model; an export's ``config.json`` holds the real one."""
    return {"num_classes": 0, "input_size": (3, size, size), "pool_size": None, "crop_pct": 0.875,
            "interpolation": "bicubic", "crop_mode": "center", "mean": (0.485, 0.456, 0.406),
            "std": (0.229, 0.224, 0.225), "first_conv": "conv1", "classifier": "fc", "description": description}


def _register(name: str, make: Callable[..., nn.Module], size: int, description: str) -> None:
    """Register the timm entry point ``name`` building ``make(**model_kwargs)`` through timm's
    ``build_model_with_cfg`` (so ``pretrained=True`` with ``pretrained_cfg_overlay=dict(file=...)`` loads)."""

    def entry(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        return build_model_with_cfg(make, name, pretrained, **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__module__ = __name__
    entry.__doc__ = description
    default_cfgs[name] = _default_cfg(size, description)
    register_model(entry)


def _register_all() -> None:
    for base, make in SMALL_RESNETS.items():
        _register(f"{PREFIX}{base}", functools.partial(_small, make), 28, f"byol-bench {base} (CPU demo backbone)")
        _register(f"{PREFIX}{base}_cifar", functools.partial(_cifar, make), 32,
                  f"byol-bench {base} with the CIFAR stem (3x3/1 conv, no max-pool)")
    for name in TORCHVISION_RESNETS:
        _register(f"{PREFIX}{name}_cifar", functools.partial(_cifar, functools.partial(_timm_resnet, name)), 32,
                  f"{name} with the CIFAR stem (3x3/1 conv, no max-pool)")
    for tf_name, name in TF_SAME_RESNETS.items():
        _register(f"{PREFIX}{tf_name}", functools.partial(_tf_same, name), 224,
                  f"{name} with TensorFlow 'SAME' padding (DeepMind's BYOL networks)")


_register_all()


def timm_architecture(backbone: str, cifar_stem: bool = False) -> str:
    """The timm model name computing exactly ``backbone`` (see the module docstring); :class:`HubExportError`
    where there is none."""
    if backbone.startswith("timm:"):
        if cifar_stem:
            raise HubExportError(f"{backbone} with the CIFAR stem has no timm architecture")
        return backbone.removeprefix("timm:")
    if backbone in TF_SAME_RESNETS:
        if cifar_stem:
            raise HubExportError(f"{backbone} has no CIFAR-stem variant")
        return f"{PREFIX}{backbone}"
    if backbone in SMALL_RESNETS:
        return f"{PREFIX}{backbone}_cifar" if cifar_stem else f"{PREFIX}{backbone}"
    if backbone in TORCHVISION_RESNETS:
        return f"{PREFIX}{backbone}_cifar" if cifar_stem else backbone
    raise HubExportError(f"backbone '{backbone}' has no timm architecture (registered backbones outside timm "
                         "need an entry in byol_pkg/models/timm_hub.py)")


# ---------------------------------------------------------------------------------------------------------------
# the hub pair


def _model_args(model: nn.Module) -> dict:
    """The construction arguments timm records for ``model`` (timm's ``get_model_args``, where this timm has it)."""
    get_args = getattr(timm.models, "get_model_args", None)
    if get_args is None:
        return {"num_classes": 0}
    args = get_args(model)
    json.dumps(args)  # timm's own export requires serialisable arguments
    return args


def _global_pool(model: nn.Module) -> str | None:
    """The pooling type of a timm model (``"avg"`` for a ResNet), as timm's export records it."""
    pool = getattr(model, "global_pool", None)
    pool = getattr(pool, "pool_type", pool)
    return pool if isinstance(pool, str) and pool else None


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def check_same_function(ours: nn.Module, theirs: nn.Module, size: int, what: str) -> None:
    """Raise :class:`HubExportError` unless ``ours`` and ``theirs`` (eval mode) give the same features for a fixed
    random ``size``-px image (one: at eval BatchNorm is per image, and a ResNet-50 forward at 224 px costs a
    second on a laptop core)."""
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    a, b = _features(ours, x), _features(theirs, x)
    scale = float(a.abs().max()) if a.numel() else 1.0
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(scale, 1.0)):
        diff = float((a - b).abs().max()) if a.shape == b.shape else f"shape {tuple(b.shape)} vs {tuple(a.shape)}"
        raise HubExportError(f"timm's {what} does not compute our backbone (max difference {diff})")


@contextlib.contextmanager
def _quiet_timm() -> Iterator[None]:
    """timm's INFO lines ("Loading pretrained weights from file (<temporary folder>)") hidden while we check."""
    logger = logging.getLogger("timm")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _swap_in(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by the complete folder ``tmp`` (a reader sees the old pair or the new one, never a mix)."""
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
        os.replace(folder, old / folder.name)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_as_timm(arch: str, weights: Path, pretrained_cfg: dict) -> nn.Module:
    """``weights`` loaded the way a user loads them: ``timm.create_model(arch, pretrained=True, num_classes=0,
    pretrained_cfg_overlay=dict(file=weights, ...))`` (our preprocessing and ``num_classes`` 0 overlaid, so the
    load is strict)."""
    overlay = {**pretrained_cfg, "file": str(weights), "source": None}  # the file, never a download
    return timm.create_model(arch, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay)


def hub_config(model: nn.Module, arch: str, pretrained_cfg: dict, provenance: dict) -> dict:
    """``config.json`` for ``model`` (timm's ``arch`` holding the exported weights): the keys timm's own
    ``push_to_hf_hub`` writes, our preprocessing in ``pretrained_cfg``, and ``provenance`` under ``byol_bench``."""
    size = int(pretrained_cfg["input_size"][-1])
    with torch.no_grad():
        fmap = model.eval().forward_features(torch.zeros(1, 3, size, size))
    model_cfg = getattr(model, "pretrained_cfg", None) or {}
    description = (f"{provenance.get('method', 'byol')} encoder exported by byol-bench "
                   f"{provenance.get('byol_bench_version', '?')} at step {provenance.get('step', '?')}")
    config = {
        "architecture": arch,
        "num_classes": 0,
        "num_features": int(model.num_features),
        "global_pool": _global_pool(model),
        "model_args": _model_args(model),
        "pretrained_cfg": {**pretrained_cfg, "fixed_input_size": bool(model_cfg.get("fixed_input_size", False)),
                           "pool_size": list(fmap.shape[-2:]) if fmap.ndim == 4 else None,
                           "first_conv": model_cfg.get("first_conv"), "classifier": model_cfg.get("classifier"),
                           "description": description},
        PROVENANCE_KEY: provenance,
    }
    if config["global_pool"] is None:
        del config["global_pool"]
    return config


def write_hub_folder(folder: str | os.PathLike, state: dict[str, torch.Tensor], backbone: str, cifar_stem: bool,
                     data_config: dict, provenance: dict) -> Path:
    """Write ``folder`` = ``model.safetensors`` (``state``) + ``config.json`` for timm (module docstring).

    ``data_config``: the :data:`DATA_KEYS` of ``pretrained_cfg`` (input size ``[3, H, W]``, interpolation,
    crop_pct, crop_mode, mean, std); ``provenance``: the ``encoder.json`` fields, stored under ``byol_bench``.
    The folder is built beside ``folder`` and renamed into place once complete. :class:`HubExportError` (nothing
    written) when timm cannot build ``backbone`` exactly: no timm name, or timm's model does not load the
    weights or computes other features (checked on a fixed random batch)."""
    folder = Path(folder)
    missing = [k for k in DATA_KEYS if k not in data_config]
    if missing:
        raise ValueError(f"data_config lacks {missing}")
    arch = timm_architecture(backbone, cifar_stem)
    if not timm.is_model(arch):
        raise HubExportError(f"timm has no model '{arch}'")
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}  # safetensors stores dense tensors
    pretrained_cfg = {"custom_load": False, **{k: data_config[k] for k in DATA_KEYS}, "num_classes": 0}
    pretrained_cfg["input_size"] = [int(v) for v in pretrained_cfg["input_size"]]
    pretrained_cfg["mean"], pretrained_cfg["std"] = list(pretrained_cfg["mean"]), list(pretrained_cfg["std"])
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the folder gets mkdir's mode
        weights = tmp / WEIGHTS_FILE
        atomic_write(weights, lambda f: f.write(safetensors.torch.save(tensors, metadata={"format": "pt"})))
        with torch.random.fork_rng(devices=[]), _quiet_timm():  # the caller's random stream stays where it was
            ours, _ = create_backbone(backbone, cifar_stem=cifar_stem)
            ours.load_state_dict(state)
            try:
                theirs = load_as_timm(arch, weights, pretrained_cfg)
                check_same_function(ours, theirs, int(pretrained_cfg["input_size"][-1]), f"'{arch}'")
                config = hub_config(theirs, arch, pretrained_cfg, provenance)
            except HubExportError:
                raise
            except Exception as err:  # timm's own refusal (keys, shapes, an input size it cannot take)
                reason = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
                raise HubExportError(f"timm's '{arch}' does not take these weights ({type(err).__name__}: "
                                     f"{reason[:200]})") from None
        atomic_write_json(tmp / CONFIG_FILE, config)
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
