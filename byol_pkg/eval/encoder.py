"""Load the encoder an evaluation runs on: a saved online encoder (``encoder.pt`` + ``encoder.json`` written by
``byol pretrain``, or the ``model.safetensors`` of the ``encoder.timm/`` folder beside them, described by its
``config.json``), an external state dict of a torchvision or timm architecture (``--backbone NAME``; a PyTorch
file or a safetensors file), or a seeded random init of either architecture. No file is ever unpickled beyond
tensors: ``torch.load(weights_only=True)`` or ``safetensors.torch.load_file``."""

from __future__ import annotations

import re
from pathlib import Path

import safetensors
import safetensors.torch
import torch
from torch import nn

from ..errors import ConfigError, EncoderLoadError, InputFileError
from ..io import read_json
from ..augment import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from ..models import create_backbone
from ..models.backbones import backbone_name_problem
from ..models.timm_hub import CONFIG_FILE, PROVENANCE_KEY, WEIGHTS_FILE

#: Keys of a classification head that an encoder does not have (dropped from external state dicts).
HEAD_PREFIXES = ("fc.", "head.", "classifier.", "last_linear.", "head_dist.")
#: Wrappers around a state dict in common checkpoint files.
CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "module")
#: What ``encoder.json`` must hold for an evaluation.
META_KEYS = ("backbone", "image_size", "mean", "std")
#: Blocks per stage and block type of the torchvision ResNets (and the small demo one), to name a state dict.
RESNET_LAYOUTS = {("basic", (2, 2, 2, 2)): "resnet18", ("basic", (3, 4, 6, 3)): "resnet34",
                  ("bottleneck", (3, 4, 6, 3)): "resnet50", ("bottleneck", (3, 4, 23, 3)): "resnet101",
                  ("bottleneck", (3, 8, 36, 3)): "resnet152", ("bottleneck", (3, 24, 36, 3)): "resnet200",
                  ("basic", (1, 1, 1, 1)): "resnet_small"}


def is_safetensors(path: str | Path) -> bool:
    """Whether ``path`` is a safetensors file: named ``*.safetensors``, or starting as one does (an 8-byte
    little-endian header length, then the JSON header's ``{``), whatever its name."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return True
    try:
        with path.open("rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < path.stat().st_size


def _check_meta(meta: object, where: Path, expected: str) -> dict:
    """``meta`` once it is an encoder description holding :data:`META_KEYS` and a buildable backbone."""
    if not isinstance(meta, dict) or any(k not in meta for k in META_KEYS):
        missing = [k for k in META_KEYS if k not in meta] if isinstance(meta, dict) else list(META_KEYS)
        raise EncoderLoadError(f"{where}: not an encoder description (missing {', '.join(missing)}; expected "
                               f"{expected})")
    problem = backbone_name_problem(meta["backbone"])
    if problem is not None:
        raise EncoderLoadError(f"{where}: {problem}")
    return meta


def hub_config_meta(config_path: Path) -> dict:
    """The encoder description in the ``byol_bench`` key of an exported ``encoder.timm/config.json``."""
    try:
        config = read_json(config_path, "the timm config.json byol pretrain writes next to model.safetensors")
    except InputFileError as err:
        raise EncoderLoadError(str(err)) from None
    if not isinstance(config, dict) or not isinstance(config.get(PROVENANCE_KEY), dict):
        arch = config.get("architecture") if isinstance(config, dict) else None
        hint = f" (e.g. --backbone timm:{arch})" if isinstance(arch, str) else ""
        raise EncoderLoadError(f"{config_path}: no '{PROVENANCE_KEY}' encoder description (not written by "
                               f"byol-bench); for another model's weights pass --backbone NAME{hint}")
    return _check_meta(config[PROVENANCE_KEY], config_path,
                       f"a '{PROVENANCE_KEY}' object with 'backbone', 'image_size', 'mean', 'std', as byol "
                       "pretrain writes it")


def _not_found(encoder_path: Path) -> EncoderLoadError:
    """The error for an encoder path that is not a file (a folder, or nothing)."""
    if encoder_path.is_dir() and (encoder_path / WEIGHTS_FILE).is_file():
        return EncoderLoadError(f"{encoder_path}: is a folder (a timm-hub folder: pass "
                                f"{encoder_path / WEIGHTS_FILE}, or the encoder.pt beside it)")
    what = "is a folder" if encoder_path.is_dir() else "not found"
    return EncoderLoadError(f"{encoder_path}: {what} (expected encoder.pt written by byol pretrain / byol "
                            f"export-encoder, next to its encoder.json, or encoder.timm/{WEIGHTS_FILE}, or a "
                            "torchvision/timm state dict with --backbone NAME)")


def hub_config_of(encoder_path: str | Path) -> Path | None:
    """The ``config.json`` describing ``encoder_path``: a ``*.safetensors`` file with no ``.json`` of its own
    name beside it but a ``config.json`` (the hub folder ``encoder.timm/``); None for any other file."""
    path = Path(encoder_path)
    config = path.parent / CONFIG_FILE
    if path.suffix == ".safetensors" and not path.with_suffix(".json").is_file() and config.is_file():
        return config
    return None


def meta_source(encoder_path: str | Path) -> Path:
    """The file describing a saved encoder: ``encoder.json`` beside it, or the ``config.json`` of its hub folder."""
    return hub_config_of(encoder_path) or Path(encoder_path).with_suffix(".json")


def read_encoder_meta(encoder_path: str | Path, backbone: str | None = None, image_size: int | None = None) -> dict:
    """``encoder.json`` beside ``encoder.pt`` (or ``encoder.safetensors``), or for ``encoder.timm/model.safetensors``
    the description in its ``config.json``; for an external state dict (``backbone`` given) a description of the
    torchvision/timm architecture at ``image_size`` (default 224) with ImageNet statistics."""
    meta_path = Path(encoder_path).with_suffix(".json")
    if backbone is not None:
        problem = backbone_name_problem(backbone)
        if problem is not None:
            raise ConfigError(f"--backbone: {problem}")
        return {"backbone": backbone, "cifar_stem": False, "network": "external", "image_size": int(image_size or 224),
                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    if Path(encoder_path).is_dir():  # even where a .json of its name exists (encoder.timm/ -> encoder.json)
        raise _not_found(Path(encoder_path))
    hub_config = hub_config_of(encoder_path)
    if hub_config is not None:
        return hub_config_meta(hub_config)
    if not meta_path.is_file() and not Path(encoder_path).is_file():
        raise _not_found(Path(encoder_path))
    if not meta_path.is_file():
        raise EncoderLoadError(f"{meta_path}: missing (byol pretrain writes it next to encoder.pt); for an external "
                               "torchvision/timm state dict pass --backbone NAME (e.g. resnet50, timm:resnet50)")
    try:
        meta = read_json(meta_path, "the encoder description byol pretrain writes next to encoder.pt")
    except InputFileError as err:  # part of the encoder: an unusable encoder (exit 4), not input data
        raise EncoderLoadError(str(err)) from None
    return _check_meta(meta, meta_path, "a JSON object with 'backbone', 'image_size', 'mean', 'std', as byol "
                                        "pretrain writes it")


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 100_000 else str(n)


def describe_state_dict(state: dict) -> str:
    """A short description of what a state dict holds: the ResNet it looks like (blocks per stage, widths, stem)
    and its parameter count, e.g. ``resnet18-like state dict (BasicBlock 2-2-2-2, widths 64-128-256-512, 7x7
    stem; 11.7M parameters)``."""
    tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    params = sum(v.numel() for k, v in tensors.items()
                 if v.is_floating_point() and not k.endswith(("running_mean", "running_var")))
    blocks = []
    for stage in range(1, 5):
        found = [int(m.group(1)) for k in tensors if (m := re.fullmatch(rf"layer{stage}\.(\d+)\.conv1\.weight", k))]
        blocks.append(max(found) + 1 if found else 0)
    if not all(blocks):
        first = next(iter(tensors), None)
        return (f"state dict of {len(tensors)} tensors ({_count(params)} parameters"
                + (f"; first key '{first}')" if first else ")"))
    kind = "bottleneck" if "layer1.0.conv3.weight" in tensors else "basic"
    last = "conv3" if kind == "bottleneck" else "conv2"
    widths = [int(tensors[f"layer{i}.0.{last}.weight"].shape[0]) for i in range(1, 5)
              if f"layer{i}.0.{last}.weight" in tensors]
    name = RESNET_LAYOUTS.get((kind, tuple(blocks)))
    if name and kind == "bottleneck" and int(tensors["layer1.0.conv1.weight"].shape[0]) == 128:
        name = f"wide_{name}_2"
    stem = tensors.get("conv1.weight")
    stem_text = f", {stem.shape[-1]}x{stem.shape[-2]} stem" if stem is not None and stem.ndim == 4 else ""
    layout = (f"{'Bottleneck' if kind == 'bottleneck' else 'BasicBlock'} {'-'.join(map(str, blocks))}, "
              f"widths {'-'.join(map(str, widths))}{stem_text}; {_count(params)} parameters")
    return f"{name or 'ResNet'}-like state dict ({layout})"


def fit_problems(state: dict, expected: dict) -> str | None:
    """What keeps ``state`` from loading into a model whose state dict is ``expected`` (None: it fits): missing
    and unexpected keys, and tensors of another shape (a few of each named)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [k for k in expected if k in state and (not torch.is_tensor(state[k])
                                                       or tuple(state[k].shape) != tuple(expected[k].shape))]
    if not (missing or unexpected or shapes):
        return None
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys, e.g. {missing[:3]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[:3]}")
    if shapes:
        k = shapes[0]
        got = list(state[k].shape) if torch.is_tensor(state[k]) else type(state[k]).__name__
        parts.append(f"{len(shapes)} of another shape, e.g. {k} {got} in the file vs {list(expected[k].shape)}")
    return "; ".join(parts)


def external_state_dict(state: object, model: nn.Module, path: str | Path) -> dict[str, torch.Tensor]:
    """The encoder's weights out of an external checkpoint: unwrap ``state_dict``/``model`` containers, strip
    ``module.`` prefixes, drop classification-head keys (the fit is checked by :func:`load_encoder`)."""
    for key in CONTAINER_KEYS:
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise EncoderLoadError(f"{path}: not a state dict (got {type(state).__name__})")
    state = {str(k).removeprefix("module."): v for k, v in state.items()}
    expected = set(model.state_dict())
    return {k: v for k, v in state.items() if k in expected or not k.startswith(HEAD_PREFIXES)}


def first_nonfinite_tensor(state: dict) -> str | None:
    """The key of the first floating-point tensor of ``state`` holding a NaN or an infinity (None: all finite)."""
    for name, tensor in state.items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """``safetensors.torch.load_file`` of ``path`` on the CPU; a file it cannot read is an :class:`EncoderLoadError`
    naming it (an ``OSError`` such as a permission error stays one)."""
    try:
        return safetensors.torch.load_file(path, device="cpu")
    except OSError:
        raise
    except (safetensors.SafetensorError, ValueError, RuntimeError) as err:  # a truncated or foreign file
        reason = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise EncoderLoadError(f"{path}: not a safetensors file safetensors can read ({type(err).__name__}: "
                               f"{reason[:160]}): truncated or corrupt; expected {WEIGHTS_FILE} as byol pretrain "
                               "writes it, or a safetensors state dict with --backbone NAME") from None


def read_state_dict(encoder_path: str | Path) -> object:
    """The tensors of an encoder file: a safetensors file (:func:`is_safetensors`) with
    ``safetensors.torch.load_file``, anything else with ``torch.load(weights_only=True)``; a missing file or one
    neither can read is an :class:`EncoderLoadError` naming it (an ``OSError`` such as a permission error stays
    one)."""
    path = Path(encoder_path)
    if not path.is_file():
        raise _not_found(path)
    if is_safetensors(path):
        return read_safetensors(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as err:  # pickle/zip errors of a truncated or foreign file: torch raises many kinds
        text = str(err)
        if "WeightsUnpickler error:" in text:  # the unpickler's reason, not torch's advice to unpickle anything
            text = text.split("WeightsUnpickler error:", 1)[1]
        reason = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
        raise EncoderLoadError(f"{path}: not a PyTorch state dict torch.load can read with weights_only=True "
                               f"({type(err).__name__}: {reason[:160]}): truncated, corrupt, or holding Python "
                               "objects besides tensors; expected the encoder.pt byol pretrain writes") from None


def load_encoder(encoder_path: str | Path, random_init: bool = False, seed: int = 0,
                 backbone: str | None = None, image_size: int | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the backbone and load its weights unless ``random_init`` (seeded); ``backbone`` marks an external
    torchvision/timm state dict. The returned meta also holds ``feature_dim``, the size of the representation.

    Refused with a one-line :class:`EncoderLoadError` naming the file: an unreadable file, weights of another
    architecture (the message names what the file holds and what was expected), and weights holding a NaN or an
    infinity (a diverged encoder is never evaluated)."""
    meta = read_encoder_meta(encoder_path, backbone, image_size)
    described_by = meta_source(encoder_path)
    source = "--backbone" if backbone is not None else described_by.name
    state = None if random_init else read_state_dict(encoder_path)
    torch.manual_seed(seed)
    try:
        model, dim = create_backbone(meta["backbone"], cifar_stem=meta.get("cifar_stem", False))
    except ValueError as err:
        raise EncoderLoadError(f"{described_by}: {err}") from None
    meta["feature_dim"] = int(dim)
    if state is None:
        return model.eval(), meta
    if backbone is not None:
        state = external_state_dict(state, model, encoder_path)
    elif not isinstance(state, dict):
        raise EncoderLoadError(f"{encoder_path}: not a state dict (got {type(state).__name__}); expected the "
                               "encoder.pt byol pretrain writes")
    expected = model.state_dict()
    problems = fit_problems(state, expected)
    if problems is not None:
        stem = " with the CIFAR stem" if meta.get("cifar_stem") else ""
        raise EncoderLoadError(f"{encoder_path}: does not fit the architecture: holds a {describe_state_dict(state)} "
                               f"but {source} says {meta['backbone']}{stem}, a {describe_state_dict(expected)} "
                               f"({problems})")
    bad = first_nonfinite_tensor(state)
    if bad is not None:
        tensor = state[bad]
        count = int((~torch.isfinite(tensor)).sum())
        raise EncoderLoadError(f"{encoder_path}: tensor '{bad}' holds {count} non-finite (NaN/inf) value(s) of "
                               f"{tensor.numel()}; a diverged encoder is not evaluated")
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
