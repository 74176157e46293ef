"""Load the encoder an evaluation runs on: a saved online encoder (``encoder.pt`` + ``encoder.json`` written by
``byol pretrain``), an external state dict of a torchvision or timm architecture (``--backbone NAME``), or a
seeded random init of either architecture."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import EncoderLoadError
from ..io import read_json
from ..augment import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from ..models import create_backbone

#: Keys of a classification head that an encoder does not have (dropped from external state dicts).
HEAD_PREFIXES = ("fc.", "head.", "classifier.", "last_linear.", "head_dist.")
#: Wrappers around a state dict in common checkpoint files.
CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "module")



def read_encoder_meta(encoder_path: str | Path, backbone: str | None = None, image_size: int | None = None) -> dict:
    """``encoder.json`` beside ``encoder.pt``; for an external state dict (``backbone`` given) a description of
    the torchvision/timm architecture at ``image_size`` (default 224) with ImageNet statistics."""
    meta_path = Path(encoder_path).with_suffix(".json")
    if backbone is not None:
        return {"backbone": backbone, "cifar_stem": False, "network": "external", "image_size": int(image_size or 224),
                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    if not meta_path.is_file():
        raise EncoderLoadError(f"{meta_path}: missing (byol pretrain writes it next to encoder.pt); for an external "
                               "torchvision/timm state dict pass --backbone NAME (e.g. resnet50, timm:resnet50)")
    meta = read_json(meta_path, "the encoder description byol pretrain writes next to encoder.pt")
    if not isinstance(meta, dict) or "backbone" not in meta:
        raise EncoderLoadError(f"{meta_path}: not an encoder description (expected a JSON object with 'backbone', "
                               "'image_size', 'mean', 'std', as byol pretrain writes it)")
    return meta


def external_state_dict(state: object, model: nn.Module, path: str | Path) -> dict[str, torch.Tensor]:
    """The encoder's weights out of an external checkpoint: unwrap ``state_dict``/``model`` containers, strip
    ``module.`` prefixes, drop classification-head keys; every encoder key must be present."""
    for key in CONTAINER_KEYS:
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise EncoderLoadError(f"{path}: not a state dict (got {type(state).__name__})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = set(model.state_dict())
    extra = [k for k in state if k not in expected]
    unknown = [k for k in extra if not k.startswith(HEAD_PREFIXES)]
    missing = sorted(expected - set(state))
    if missing or unknown:
        raise EncoderLoadError(f"{path}: does not fit the architecture ({len(missing)} missing keys, e.g. "
                               f"{missing[:3]}; {len(unknown)} unexpected, e.g. {unknown[:3]})")
    return {k: v for k, v in state.items() if k in expected}


def load_encoder(encoder_path: str | Path, random_init: bool = False, seed: int = 0,
                 backbone: str | None = None, image_size: int | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the backbone and load its weights unless ``random_init`` (seeded); ``backbone`` marks an external
    torchvision/timm state dict. The returned meta also holds ``feature_dim``, the size of the representation."""
    meta = read_encoder_meta(encoder_path, backbone, image_size)
    torch.manual_seed(seed)
    model, dim = create_backbone(meta["backbone"], cifar_stem=meta.get("cifar_stem", False))
    meta["feature_dim"] = int(dim)
    if not random_init:
        state = torch.load(encoder_path, map_location="cpu", weights_only=True)
        if backbone is not None:
            state = external_state_dict(state, model, encoder_path)
        model.load_state_dict(state)
    return model.eval(), meta


#: Frozen-feature preprocessing of each protocol, at crop size ``s`` (the encoder's training size by default):
#: ``test``: the paper's test transform, shorter side resized to ``s x 256/224``, centre crop ``s`` (App. C.1: linear
#: evaluation; also kNN); ``transfer``: shorter side resized to ``s``, centre crop ``s`` (App. D.2: transfer via
#: linear classification, "resized to 224 pixels along the shorter side"). Bicubic; the encoder's statistics.
PREPROCESSING = ("test", "transfer")


def eval_resize(size: int, preprocessing: str = "test") -> int:
    """Shorter-side length before the centre crop of ``size`` (see :data:`PREPROCESSING`)."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {PREPROCESSING}, got {preprocessing!r}")
    return EvalTransform(size).resize if preprocessing == "test" else int(size)


def encoder_eval_transform(meta: dict, image_size: int | None = None, preprocessing: str = "test") -> EvalTransform:
    """Frozen-feature preprocessing for an encoder (:data:`PREPROCESSING`), normalised with its statistics."""
    size = int(image_size or meta["image_size"])
    return EvalTransform(size, resize=eval_resize(size, preprocessing), mean=tuple(meta["mean"]),
                         std=tuple(meta["std"]))
