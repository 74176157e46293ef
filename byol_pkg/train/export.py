"""The online encoder as an evaluation input: ``encoder.pt`` (its state dict) + ``encoder.json`` (how to rebuild
it), and beside them the same encoder for other tools, ``encoder.timm/`` (``model.safetensors`` + ``config.json``
in timm's hub format, :mod:`byol_pkg.models.timm_hub`); written at the end of ``byol pretrain`` and by ``byol
export-encoder`` from any training checkpoint (docs/encoders.md)."""

from __future__ import annotations

import logging
import math
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..augment import EvalTransform
from ..config import Config, config_from_dict
from ..errors import CheckpointError, ConfigError
from ..io import atomic_torch_save, atomic_write_json
from ..models.timm_hub import HubExportError, hub_dir, write_hub_folder
from .checkpoint import read_checkpoint
from .run_folder import config_fingerprint

log = logging.getLogger(__name__)
EPOCH_FILE = re.compile(r"epoch_(\d+)\.pt")


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's plain state dict as detached CPU copies."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def encoder_state(online: nn.Module) -> dict[str, torch.Tensor]:
    """The online encoder's plain state dict (library parameter names, CPU tensors)."""
    return cpu_state(online.encoder)


def first_nonfinite(state: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor of ``state`` holding a NaN or an infinity (None: all finite)."""
    for name, tensor in state.items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def timm_crop_pct(size: int, resize: int) -> float:
    """timm's ``crop_pct`` for our test transform (shorter side to ``resize``, centre crop ``size``): ``size /
    resize`` (224/256 = 0.875), lowered by a rounding step where needed so that timm's eval transform, which
    resizes to ``floor(size / crop_pct)``, resizes to exactly ``resize`` (``size / (size / resize)`` falls just
    below ``resize`` in floating point for a few sizes, e.g. 443)."""
    crop = size / resize
    while math.floor(size / crop) < resize:
        crop = math.nextafter(crop, 0.0)
    return crop


def hub_data_config(cfg: Config) -> dict:
    """The preprocessing of ``config.json``'s ``pretrained_cfg``: our evaluation (test) transform at the training
    image size (bicubic shorter-side resize to ``size x 256/224``, centre crop, the config's mean/std)."""
    size = int(cfg.augment.image_size)
    return {"input_size": [3, size, size], "interpolation": "bicubic",
            "crop_pct": timm_crop_pct(size, EvalTransform(size).resize), "crop_mode": "center",
            "mean": list(cfg.augment.mean), "std": list(cfg.augment.std)}


def write_hub_pair(path: Path, state: dict[str, torch.Tensor], cfg: Config, meta: dict) -> Path | None:
    """The hub folder beside ``path`` (``encoder.timm/``); None, with a warning and no stale folder left, for a
    backbone timm cannot build exactly (``timm:<model>`` with the CIFAR stem)."""
    folder = hub_dir(path)
    try:
        return write_hub_folder(folder, state, cfg.model.backbone, cfg.model.cifar_stem, hub_data_config(cfg),
                                meta)
    except BaseException as err:
        if folder.is_dir():  # an older encoder's pair must not pass for this one
            shutil.rmtree(folder, ignore_errors=True)
        if not isinstance(err, HubExportError):
            raise
        log.warning("%s: no timm-hub copy written beside it (%s); %s is complete", path, err, path.name)
        return None


def write_encoder(path: str | Path, state: dict[str, torch.Tensor], cfg: Config, step: int,
                  **extra: Any) -> Path:
    """Write ``path`` (the state dict) and the ``.json`` beside it (architecture, preprocessing, step, and
    ``extra`` keys such as ``pretrain_epoch``), both atomically, then the timm-hub folder ``<stem>.timm/``
    (``model.safetensors`` + ``config.json`` holding the same description under ``byol_bench``)."""
    path = Path(path)
    meta = {
        "backbone": cfg.model.backbone,
        "cifar_stem": cfg.model.cifar_stem,
        "network": "online",
        "method": cfg.method.name,
        "step": step,
        "image_size": cfg.augment.image_size,
        "mean": cfg.augment.mean,
        "std": cfg.augment.std,
        "byol_bench_version": __version__,
        **extra,
    }
    atomic_torch_save(path, state)
    atomic_write_json(path.with_suffix(".json"), meta)
    write_hub_pair(path, state, cfg, meta)
    return path


def checkpoint_epoch(path: str | Path) -> int | None:
    """The epoch of a kept epoch checkpoint ``epoch_XXXX.pt`` (None for ``last.pt`` / ``previous.pt``)."""
    m = EPOCH_FILE.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def export_checkpoint(checkpoint: str | Path, out: str | Path, pretrain_epoch: int | None = None) -> dict:
    """Write the online encoder of a training checkpoint to ``out`` (+ ``.json``) as the end of pretraining
    does, plus ``pretrain_epoch`` (default: from an ``epoch_XXXX.pt`` name; omitted when unknown). Returns the
    json. A missing or unreadable checkpoint raises :class:`CheckpointError` (one line)."""
    from ..models import create_backbone

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint {checkpoint} not found (byol pretrain writes <run>/checkpoints/"
                              "epoch_XXXX.pt every train.checkpoint_every_epochs epochs, and last.pt)")
    state = read_checkpoint(checkpoint)
    try:
        cfg = config_from_dict(state["config"], str(checkpoint))
    except ConfigError as err:
        raise CheckpointError(f"checkpoint {checkpoint} holds an unusable config ({err})") from None
    encoder, _ = create_backbone(cfg.model.backbone, cifar_stem=cfg.model.cifar_stem)
    weights = {k[len("encoder."):]: v for k, v in state["online"].items() if k.startswith("encoder.")}
    try:  # the encoder of any method (BYOL, SimCLR, supervised): the online network's "encoder." entries
        encoder.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {checkpoint}: online encoder does not fit its config "
                              f"({str(err).strip().splitlines()[0][:200]})") from None
    bad = first_nonfinite(encoder.state_dict())
    if bad is not None:
        raise CheckpointError(f"checkpoint {checkpoint}: the online encoder holds non-finite values (first: {bad}); "
                              f"nothing was written to {out}")
    epoch = checkpoint_epoch(checkpoint) if pretrain_epoch is None else int(pretrain_epoch)
    if epoch is None:
        log.warning("%s is not an epoch_XXXX.pt checkpoint: encoder.json gets no pretrain_epoch", checkpoint)
    extra = {"pretrain_epoch": epoch} if epoch is not None else {}
    write_encoder(out, cpu_state(encoder), cfg, int(state["step"]), config_sha256=config_fingerprint(cfg), **extra)
    return {"checkpoint": str(checkpoint), "out": str(out), "step": int(state["step"]), **extra}
