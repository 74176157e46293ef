"""Pretraining configuration: typed dataclasses with documented defaults, YAML in and out, strict validation.

``load_config("demo", overrides=["optim.epochs=3"])`` reads a preset (``byol_pkg/pretrain_presets/<name>.yaml``)
or a YAML file, applies ``key=value`` overrides (values parsed as YAML) and returns a validated :class:`Config`.
An unknown key or a value of the wrong type raises :class:`ConfigError` with one line naming the key.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .io import load_yaml
from .progress import MODES as PROGRESS_MODES

log = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).parent / "pretrain_presets"



@dataclass(frozen=True)
class ViewParams:
    """One view's augmentation distribution, the project's only definition of it: field names follow paper
    Table 6, defaults are T (view 1; :data:`T_PRIME` is view 2). The config's ``augment.view1`` / ``view2`` and
    both augmentation backends (``byol_pkg.augment``) use it."""

    min_scale: float = 0.08
    max_scale: float = 1.0
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_prob: float = 0.2
    blur_prob: float = 1.0
    solarize_prob: float = 0.0

    def __post_init__(self) -> None:
        """Each message starts with the field's name (the config loader prefixes it with the section)."""
        if not 0.0 < self.min_scale <= self.max_scale <= 1.0:
            raise ValueError(f"min_scale must satisfy 0 < min_scale <= max_scale <= 1, got {self.min_scale}, "
                             f"{self.max_scale}")
        for name in ("flip_prob", "jitter_prob", "grayscale_prob", "blur_prob", "solarize_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")


#: Paper Table 6's T' (view 2): blur 0.1, solarize 0.2; the rest as T.
T_PRIME = ViewParams(blur_prob=0.1, solarize_prob=0.2)


@dataclass
class DataConfig:
    """Pretraining images."""

    name: str = "fashion_mnist"  # fashion_mnist | digits | cifar10 | cifar100 | stl10 | imagefolder
    root: str = "data"  # data root; Fashion-MNIST also looks in /usr/share/datasets/fashion-mnist
    split: str = "train"  # stl10: "train+unlabeled" for the paper-style pretraining set
    download: bool = False  # never download unless asked
    max_samples: int | None = None  # keep the first N images (quick runs, tests)
    num_workers: int = 2  # DataLoader worker processes
    epoch_size: int | None = None  # images per epoch for the schedules (None: len(dataset)); ImageNet: 1281167


@dataclass
class AugmentConfig:
    """The two view distributions T and T' (paper Table 6, Appendix B)."""

    image_size: int = 224  # side of the random resized crop
    # reference: each view computed image by image in the DataLoader workers | batched: whole micro-batches on the
    # training device (GPU or CPU), same draws and same views up to float rounding
    backend: str = "reference"
    # backend batched: hold the uint8 images on the training device (auto: fixed-size datasets that take at most a
    # quarter of a GPU's memory; on a CPU, always) | always | never (decode in the workers)
    on_device: str = "auto"
    # backend batched, images read file by file: decode JPEGs in the DataLoader workers (workers) or on the
    # training device (device: torchvision.io.decode_jpeg, nvJPEG on a GPU; other formats still in the workers)
    decode: str = "workers"
    blur: bool = True  # False: the 32-px recipe switch, no Gaussian blur in either view
    view1: ViewParams = field(default_factory=ViewParams)
    view2: ViewParams = field(default_factory=lambda: T_PRIME)
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class ModelConfig:
    """Encoder f, projector g and predictor q."""

    backbone: str = "resnet50"  # resnet_small | resnet18..resnet200 (torchvision) | tf_resnet50..200 | timm:<name>
    cifar_stem: bool = False  # 3x3 stride-1 first conv and no max-pool, for 32-px images
    projector_hidden: int = 4096
    projector_out: int = 256
    predictor_hidden: int = 4096
    sync_bn: bool = False  # SyncBatchNorm across processes (torchrun); the paper synchronises BN


@dataclass
class OptimConfig:
    """LARS with warm-up + cosine; LR = base_lr x global_batch / 256."""

    batch_size: int = 256  # per device, per view
    accumulate_steps: int = 1  # micro-batches averaged per optimiser step
    global_batch: int | None = None  # if set: accumulate_steps = global_batch / (batch_size x processes)
    epochs: float = 1000
    warmup_epochs: float = 10
    base_lr: float = 0.2
    weight_decay: float = 1.5e-6
    momentum: float = 0.9
    trust_coefficient: float = 1e-3


@dataclass
class TargetConfig:
    """EMA target network."""

    base_tau: float = 0.996  # tau_k = 1 - (1 - base_tau)(cos(pi k/K) + 1)/2
    schedule: str = "cosine"  # cosine (the paper) | constant (tau_k = base_tau: the Table 5a ablation rows)


#: What each method sets when ``method.predictor`` / ``method.target`` / ``method.beta`` are left out.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "byol": {"predictor": True, "target": "ema", "beta": 0.0},
    "simclr": {"predictor": False, "target": "online", "beta": 1.0},
    "supervised": {"predictor": False, "target": "none", "beta": 0.0},
}


@dataclass
class MethodConfig:
    """What is learned: BYOL, SimCLR, the intermediate variants of paper Table 5b, or supervised.

    BYOL and SimCLR are two corners of one objective (paper Sec. 5, InfoNCE with weights alpha, beta): an
    online output phi (the prediction, or the projection without ``predictor``) is regressed onto a target
    output psi of the other view, and ``beta`` weighs a term that pushes it away from the other images.
    """

    name: str = "byol"  # byol | simclr | supervised (cross-entropy on the pretraining labels)
    predictor: bool | None = None  # None: the method's default (byol: true, simclr: false)
    # psi: ema (target network, EMA of the online one) | stop_gradient (the online projection, no gradient) |
    # online (the online projection with its gradient, as SimCLR); None: the method's default
    target: str | None = None
    beta: float | None = None  # weight of the negative-pair term (byol: 0, simclr: 1); None: the default
    alpha: float = 0.1  # temperature of the negative-pair term


@dataclass
class TrainConfig:
    """Runtime: device, precision, logging, checkpoints."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "bf16"  # fp32 | bf16 | fp16 (autocast; fp16 adds a gradient scaler)
    channels_last: bool = True
    compile: bool = False  # torch.compile the networks
    # bit-reproducible runs: torch.use_deterministic_algorithms, no cuDNN autotuning (slower on a GPU; the CPU
    # path is deterministic anyway). Off: cuDNN picks its fastest algorithms (results equal up to float rounding)
    deterministic: bool = False
    # intra-op threads on CPU (None: usable cores - data workers, at least 1; with augment.backend batched on images
    # held in memory or with augment.decode device the workers only draw random numbers / read files: not counted)
    cpu_threads: int | None = None
    max_steps: int | None = None  # stop after this many optimiser steps (the schedules still use the full K)
    log_every_steps: int = 10
    checkpoint_every_steps: int = 500  # rolling last.pt
    checkpoint_every_epochs: int = 10  # kept epoch_XXXX.pt (0: none)
    progress: str = "auto"  # auto (bar on a terminal) | bar | log


@dataclass
class TrackingConfig:
    """Experiment tracking (``docs/tracking.md``), every backend off by default; it never changes what is learned
    (these keys may change between a run and its resume, and are not part of the run's fingerprint)."""

    dvclive: bool = False  # DVCLive: curves for `dvc exp show` / `dvc plots show` (pip extra: tracking)
    mlflow: bool = False  # MLflow run (pip extra: tracking)
    tensorboard: bool = False  # TensorBoard event files (pip extra: tracking)
    dvclive_dir: str | None = None  # None: <run folder>/dvclive
    tensorboard_dir: str | None = None  # None: <run folder>/tensorboard
    # None: the local store mlruns/ in the working directory (a SQLite database, mlruns/mlflow.db: MLflow 3.18
    # refuses file: stores unless MLFLOW_ALLOW_FILE_STORE=true); or any tracking URI (file:, sqlite:, http:)
    mlflow_uri: str | None = None
    mlflow_experiment: str = "byol-bench"


@dataclass
class Config:
    """Everything ``byol pretrain`` needs. Written back, fully resolved, as ``config.yaml`` in the run folder."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


CHOICES: dict[str, tuple[str, ...]] = {
    "train.precision": ("fp32", "bf16", "fp16"),
    "train.progress": PROGRESS_MODES,
    "augment.backend": ("reference", "batched"),
    "augment.on_device": ("auto", "always", "never"),
    "augment.decode": ("workers", "device"),
    "target.schedule": ("cosine", "constant"),
    "method.name": tuple(METHOD_DEFAULTS),
}


def choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of every key with a closed set: :data:`CHOICES`, plus ``data.name``: the registered
    datasets marked as pretraining sets (``DatasetInfo.pretraining``)."""
    from .data.registry import registered

    return {"data.name": tuple(registered(pretraining=True)), **CHOICES}


@dataclass(frozen=True)
class Range:
    """The allowed interval of a numeric config key: ``low < v`` (or ``low <= v`` when ``low_closed``), likewise
    for ``high``; ``None`` is unbounded."""

    low: float | None = None
    high: float | None = None
    low_closed: bool = True
    high_closed: bool = True

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (value == self.low and not self.low_closed)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_closed)))

    def describe(self) -> str:
        """``> 0``, ``>= 0``, ``in [0, 1)``."""
        if self.low is not None and self.high is not None:
            return (f"in {'[' if self.low_closed else '('}{self.low:g}, {self.high:g}"
                    f"{']' if self.high_closed else ')'}")
        if self.low is not None:
            return f"{'>=' if self.low_closed else '>'} {self.low:g}"
        return f"{'<=' if self.high_closed else '<'} {self.high:g}"


POSITIVE, NON_NEGATIVE = Range(0, low_closed=False), Range(0)

#: The range of every numeric config key (ViewParams checks its own). Learning rate, epochs, steps and sizes are
#: positive; weight decay, warm-up and the negative-pair weight may be zero (paper Table 5b's beta = 0 is BYOL);
#: momentum is in [0, 1); tau in [0, 1] (1: a frozen target, paper Table 5a). ``None`` (unset) is always allowed.
RANGES: dict[str, Range] = {
    "seed": NON_NEGATIVE,
    "data.max_samples": POSITIVE, "data.num_workers": NON_NEGATIVE, "data.epoch_size": POSITIVE,
    "augment.image_size": POSITIVE,
    "model.projector_hidden": POSITIVE, "model.projector_out": POSITIVE, "model.predictor_hidden": POSITIVE,
    "optim.batch_size": POSITIVE, "optim.accumulate_steps": POSITIVE, "optim.global_batch": POSITIVE,
    "optim.epochs": POSITIVE, "optim.warmup_epochs": NON_NEGATIVE, "optim.base_lr": POSITIVE,
    "optim.weight_decay": NON_NEGATIVE, "optim.momentum": Range(0, 1, high_closed=False),
    "optim.trust_coefficient": POSITIVE,
    "target.base_tau": Range(0, 1),
    "method.beta": NON_NEGATIVE, "method.alpha": POSITIVE,
    "train.cpu_threads": POSITIVE, "train.max_steps": POSITIVE, "train.log_every_steps": POSITIVE,
    "train.checkpoint_every_steps": POSITIVE, "train.checkpoint_every_epochs": NON_NEGATIVE,
}

#: ``train.device``: auto, cpu, cuda, or cuda:N.
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def _check_value(key: str, typ: Any, value: Any, source: str) -> Any:
    """Return ``value`` converted to ``typ`` or raise a one-line ConfigError naming ``key``."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(key, inner[0], value, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: config key '{key}' expects a list, got {value!r}")
        return [_check_value(f"{key}[{i}]", args[0], v, source) for i, v in enumerate(value)]
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: config key '{key}' expects true/false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: config key '{key}' expects an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: config key '{key}' expects a number, got {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: config key '{key}' expects a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {typ} at {key}")


def _build(cls: type, data: dict, prefix: str, source: str, default: Any = None) -> Any:
    """Instantiate dataclass ``cls`` from a (partial) mapping, recursing into nested sections.

    Keys absent from ``data`` keep the value of ``default`` (the enclosing section's default instance), so a
    partial ``augment.view2`` section keeps T' defaults rather than the ViewParams class defaults.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: config key '{prefix.rstrip('.') or '<root>'}' expects a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(f"{source}: unknown config key '{prefix}{key}' (known: {', '.join(sorted(names))})")
    default = default if default is not None else cls()
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        typ = hints[f.name]
        if dataclasses.is_dataclass(typ):
            kwargs[f.name] = _build(typ, data[f.name], f"{prefix}{f.name}.", source, getattr(default, f.name))
        else:
            kwargs[f.name] = _check_value(f"{prefix}{f.name}", typ, data[f.name], source)
    merged = {f.name: kwargs.get(f.name, getattr(default, f.name)) for f in dataclasses.fields(cls)}
    try:
        return cls(**merged)
    except ValueError as err:  # a section's own check (ViewParams): its message starts with the field name
        name, _, problem = str(err).partition(" ")
        raise ConfigError(f"{source}: config key '{prefix}{name}' {problem}") from None


def _merge(base: dict, update: dict) -> dict:
    """Deep merge of nested dicts (``update`` wins)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(text: str) -> dict:
    """``"optim.base_lr=0.3"`` -> ``{"optim": {"base_lr": 0.3}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set '{text}': expected key=value, for example optim.base_lr=0.3")
    key, raw = text.split("=", 1)
    if not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"--set '{text}': expected key=value with a dotted key, for example optim.base_lr=0.3")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set '{text}': the value is not valid YAML ({str(err).splitlines()[0]})") from None
    if isinstance(value, str) and value.lower() in ("none", "null"):
        value = None
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A YAML file path, or the name of a preset in ``byol_pkg/pretrain_presets``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    preset = PRESETS_DIR / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    presets = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
    raise ConfigError(f"config '{name_or_path}': no such file, and not a preset (presets: {', '.join(presets)})")


def read_yaml(path: Path) -> dict:
    """A YAML mapping from ``path`` (empty file -> {}), with a one-line error on bad YAML."""
    try:
        data = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return data


#: Keys that moved: old dotted key -> new one (a config or checkpoint written before the move is read as such).
MOVED_KEYS = {"data.on_device": "augment.on_device", "data.decode": "augment.decode"}


def _move_keys(data: dict, source: str) -> dict:
    """``data`` with every key of :data:`MOVED_KEYS` at its new place (a warning names each)."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for old, new in MOVED_KEYS.items():
        (old_section, old_key), (new_section, new_key) = old.split("."), new.split(".")
        section = data.get(old_section)
        if isinstance(section, dict) and old_key in section:
            log.warning("%s: config key '%s' is now '%s' (read as such)", source, old, new)
            target = data.setdefault(new_section, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{source}: config key '{new_section}' expects a mapping, got {target!r}")
            target.setdefault(new_key, section.pop(old_key))
    return data


def config_from_dict(data: dict, source: str = "<dict>") -> Config:
    """Validate a (partial) nested mapping and fill in the defaults."""
    cfg = _build(Config, _move_keys(data, source) if isinstance(data, dict) else data, "", source)
    _resolve_method(cfg)
    validate(cfg, source)
    return cfg


def _resolve_method(cfg: Config) -> None:
    """Fill the method keys left out (None) with the defaults of ``method.name``."""
    defaults = METHOD_DEFAULTS.get(cfg.method.name)
    if defaults is None:
        return  # validate() names the bad method
    for key, value in defaults.items():
        if getattr(cfg.method, key) is None:
            setattr(cfg.method, key, value)


def load_config(name_or_path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a preset or YAML file (``None``: all defaults), apply ``key=value`` overrides, validate."""
    data: dict = {}
    source = "<defaults>"
    if name_or_path is not None:
        path = resolve_config_path(name_or_path)
        data = read_yaml(path)
        source = str(path)
    for text in overrides or []:
        data = _merge(data, parse_override(text))
    if overrides:
        source += " + --set"
    return config_from_dict(data, source)


def validate(cfg: Config, source: str) -> None:
    """Checks beyond types: choices and positive values."""
    flat = to_flat_dict(cfg)
    for key, allowed in choices().items():
        if flat[key] not in allowed:
            raise ConfigError(f"{source}: config key '{key}' must be one of {', '.join(allowed)}, got {flat[key]!r}")
    for key, value in flat.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: config key '{key}' must be a finite number, got {value}")
    for key, allowed in RANGES.items():
        if flat[key] is not None and not allowed.contains(flat[key]):
            raise ConfigError(f"{source}: config key '{key}' must be {allowed.describe()}, got {flat[key]!r}")
    if not DEVICE_PATTERN.fullmatch(cfg.train.device):
        raise ConfigError(f"{source}: config key 'train.device' must be auto, cpu, cuda or cuda:N, "
                          f"got {cfg.train.device!r}")
    _check_backbone(cfg.model.backbone, source)
    _check_tracking(cfg.tracking, source)
    m = cfg.method
    if m.name == "supervised":
        if m.predictor or m.target != "none" or m.beta:
            raise ConfigError(f"{source}: method.name 'supervised' trains no predictor, target or negative term; "
                              "leave method.predictor/target/beta out")
    elif m.target not in ("ema", "stop_gradient", "online"):
        raise ConfigError(f"{source}: config key 'method.target' must be one of ema, stop_gradient, online, "
                          f"got {m.target!r}")
    if m.beta is not None and m.beta < 0:
        raise ConfigError(f"{source}: config key 'method.beta' must be >= 0, got {m.beta}")
    if m.alpha <= 0:
        raise ConfigError(f"{source}: config key 'method.alpha' must be > 0, got {m.alpha}")
    if len(cfg.augment.mean) != 3 or len(cfg.augment.std) != 3:
        raise ConfigError(f"{source}: config keys 'augment.mean' and 'augment.std' need 3 values each")
    if any(v <= 0 for v in cfg.augment.std):
        raise ConfigError(f"{source}: config key 'augment.std' must hold 3 values > 0 (it divides the pixels), "
                          f"got {cfg.augment.std}")


def _check_tracking(tracking: TrackingConfig, source: str) -> None:
    """The tracking section's names and folders are non-empty when given."""
    for key in ("dvclive_dir", "tensorboard_dir", "mlflow_uri", "mlflow_experiment"):
        value = getattr(tracking, key)
        if value is not None and not value.strip():
            raise ConfigError(f"{source}: config key 'tracking.{key}' must be a non-empty string"
                              + (" (or null for the default)" if key != "mlflow_experiment" else ""))


def _check_backbone(name: str, source: str) -> None:
    """``model.backbone`` names a backbone :func:`~byol_pkg.models.create_backbone` can build."""
    from .models.backbones import backbone_name_problem

    problem = backbone_name_problem(name)
    if problem is not None:
        raise ConfigError(f"{source}: config key 'model.backbone': {problem}")


def to_dict(cfg: Config) -> dict:
    """Nested plain dict (YAML/JSON serialisable)."""
    return dataclasses.asdict(cfg)


def to_flat_dict(cfg: Config) -> dict[str, Any]:
    """``{"optim.base_lr": 0.2, ...}``."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                out[f"{prefix}{k}"] = v

    walk(to_dict(cfg), "")
    return out


def dump_yaml(cfg: Config) -> str:
    """The fully resolved config as YAML text."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
