"""Load a saved online encoder (``encoder.pt`` + ``encoder.json``), or a random-init one of the same shape."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..augment import EvalTransform
from ..models import create_backbone


def read_encoder_meta(encoder_path: str | Path) -> dict:
    """The ``encoder.json`` written next to ``encoder.pt`` by ``byol pretrain``."""
    meta_path = Path(encoder_path).with_suffix(".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: missing (written by byol pretrain next to encoder.pt)")
    return json.loads(meta_path.read_text())


def load_encoder(encoder_path: str | Path, random_init: bool = False, seed: int = 0) -> tuple[nn.Module, dict]:
    """Rebuild the backbone from ``encoder.json``; load ``encoder.pt`` unless ``random_init`` (seeded).

    The returned meta also holds ``feature_dim``, the size of the representation."""
    meta = read_encoder_meta(encoder_path)
    torch.manual_seed(seed)
    model, dim = create_backbone(meta["backbone"], cifar_stem=meta.get("cifar_stem", False))
    meta["feature_dim"] = int(dim)
    if not random_init:
        state = torch.load(encoder_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    return model.eval(), meta


def encoder_eval_transform(meta: dict, image_size: int | None = None) -> EvalTransform:
    """Frozen-feature preprocessing for an encoder: resize the shorter side to ``image_size`` (default: the
    encoder's training size; bicubic), centre-crop it, normalise with the encoder's statistics."""
    size = int(image_size or meta["image_size"])
    return EvalTransform(size, resize=size, mean=tuple(meta["mean"]), std=tuple(meta["std"]))
