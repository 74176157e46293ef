"""Convert the official BYOL checkpoints (DeepMind's JAX/Haiku release) into this package's encoder format
(``encoder.pt`` = torchvision ResNet state dict without ``fc``, plus ``encoder.json``), so that the released
weights can be evaluated by the same commands as our own runs.

What the release is (read from github.com/deepmind/deepmind-research, commit d8df415 of 2021-07-06):

* ``byol/README.md``: the checkpoints are ``pretrain_res50x1.pkl`` (ResNet-50 1x, ~74.4% top-1),
  ``pretrain_res200x2.pkl`` (ResNet-200 2x) and the ablation files ``ablations/res50x1_*.pkl`` (ResNet-50 1x),
  all under https://storage.googleapis.com/deepmind-byol/checkpoints/.
* ``byol/utils/checkpointing.py`` (``Checkpointer.maybe_save_checkpoint``): each file is
  ``dill.dump(dict(experiment_state=..., step=step, rng=rng), f, protocol=2)`` where ``experiment_state`` is the
  training state with every leaf ``jax.device_get(x[0])`` (numpy arrays of the first device, no device axis).
* ``byol/byol_experiment.py``: ``experiment_state`` is the NamedTuple ``byol.byol_experiment._ByolExperimentState``
  with fields (in order) ``online_params, target_params, online_state, target_state, opt_state``; params and
  state are Haiku mappings ``{module name: {parameter/state name: array}}``. The forward function builds the
  encoder (``network_config.encoder_class``, ``ResNet50`` by default), MLP modules named ``projector`` and
  ``predictor`` (``projector/linear``, ``projector/batch_norm``, ``projector/linear_1``) and an ``hk.Linear``
  named ``classifier`` (the online linear probe). ``byol/eval_experiment.py`` (``linear-eval.pkl``) uses
  ``_EvalExperimentState(backbone_params, classif_params, backbone_state, backbone_opt_state, classif_opt_state)``;
  its ``backbone_*`` fields are accepted as the encoder too.
* ``byol/utils/networks.py`` (``ResNetTorso`` and ``ResNet50/101/152/200``): Haiku module ``res_net<depth>``
  (``hk.Module`` name from the class name) with ``initial_conv`` (7x7/2, ``64 * width_multiplier`` channels,
  no bias), ``initial_batchnorm``, 3x3/2 max-pool, four ``block_group_<g>`` (strides 1, 2, 2, 2, channels
  256/512/1024/2048 x width, projection shortcut in block 0 of every group) built from
  ``hk.nets.ResNet.BlockGroup``; ResNet v1 (``resnet_v2=False``) bottleneck blocks for depths 50/101/152/200
  (block counts (3,4,6,3), (3,4,23,3), (3,8,36,3), (3,24,36,3)); global mean pool, no logits layer. BatchNorm:
  ``decay_rate 0.9, eps 1e-5`` (``byol/configs/byol.py``), the same eps as ``torch.nn.BatchNorm2d``.

Haiku naming (github.com/deepmind/dm-haiku ``haiku/_src/nets/resnet.py`` at b628e42 (2020-09), ``conv.py``,
``batch_norm.py``, ``moving_averages.py``; checked again by building the BYOL ``ResNet50`` with dm-haiku 0.0.17):

* block ``res_net50/~/block_group_<g>/~/block_<b>/~/{conv_0,conv_1,conv_2,batchnorm_0..2,shortcut_conv,
  shortcut_batchnorm}``; ``BlockV1`` puts the stride on ``conv_1``, the 3x3 convolution (``conv_0`` and
  ``conv_2`` are 1x1/1) and on the 1x1 ``shortcut_conv``: exactly torchvision's Bottleneck ("ResNet v1.5":
  stride on ``conv2``), so the mapping is one to one: ``conv_i``/``batchnorm_i`` -> ``conv{i+1}``/``bn{i+1}``,
  ``shortcut_conv``/``shortcut_batchnorm`` -> ``downsample.0``/``downsample.1``, ``block_group_<g>/~/block_<b>``
  -> ``layer{g+1}.{b}``, ``initial_conv``/``initial_batchnorm`` -> ``conv1``/``bn1``.
* ``hk.Conv2D`` parameter ``w`` of shape [kh, kw, in, out] (HWIO; transposed (3, 2, 0, 1) to torch's OIHW);
  ``hk.BatchNorm`` parameters ``scale``/``offset`` of shape [1, 1, 1, C] (-> ``weight``/``bias``) and state in
  its ``hk.ExponentialMovingAverage`` submodules ``<bn>/~/mean_ema`` and ``<bn>/~/var_ema`` with entries
  ``average`` (the value BatchNorm uses at test time -> ``running_mean``/``running_var``), ``hidden`` and
  ``counter`` (EMA bookkeeping, deliberately not used). ``num_batches_tracked`` is set to 0.
* Public converters name ``initial_conv_1``/``initial_batchnorm_1`` as a possible spelling (the regex
  ``initial_(conv|batchnorm)(_1)?`` in github.com/ajtejankar/byol-convert ``convert.py``); current Haiku names
  them without suffix. Both spellings are accepted (a numeric suffix on those two modules only).

Reading the pickle without JAX, Haiku, dill or the ``byol`` package: a restricted :class:`pickle.Unpickler`
(never a bare ``pickle.load``, which would execute whatever the file names, and which fails anyway without those
packages). Numpy arrays and dtypes load normally; Haiku's ``FlatMapping``/``frozendict`` (which pickle as
``(cls, (dict,))``, ``haiku/_src/data_structures.py``) become dicts; JAX arrays of 2020-era JAX pickle exactly as
numpy arrays (``DeviceArray.__reduce__`` forwards to numpy), those of newer JAX as
``jax._src.array._reconstruct_array(fun, args, arr_state, aval_state)``, rebuilt here as numpy arrays. dill
(github.com/uqfoundation/dill ``dill/_dill.py``, ``save_type`` since 0.3.x, checked at tag dill-0.3.2 and with
dill 0.4.1) pickles every namedtuple class, ``_ByolExperimentState`` and the optax states included, as
``dill._dill._create_namedtuple(name, fieldnames, modulename[, defaults])``: rebuilt here as a plain
``collections.namedtuple`` with the stored field names (so fields are read by name); ``_create_array`` and
``_load_type`` of builtin types are handled too. Any other class becomes an inert placeholder keeping its
constructor arguments (a positional ``_ByolExperimentState`` is then read with the field order above).
A ``.npz`` with flat
``<module path>/<name>`` keys (optionally under ``online_params/``/``online_state/``) is accepted as well; the
release itself ships only the pickles.

Supported: depths 50/101/152/200 at width multiplier 1 (our backbones ``resnet50`` ... ``resnet200`` are
torchvision ResNets; BYOL's "2x" widens every layer including the stem and block outputs, which torchvision's
``wide_resnet50_2`` does not, so ``pretrain_res200x2.pkl`` is refused with a one-line error). Not supported: the
ResNet-18/34 encoders (Haiku uses a projection shortcut in every group, torchvision not in layer1) and ResNet v2.

Padding (numerics, not names): Haiku convolutions and the max-pool use ``padding='SAME'``, which at stride 2
on even sizes pads one pixel less at the top/left than torchvision's symmetric padding (7x7/2 stem: 2/3 vs 3/3;
3x3/2 max-pool and block convs: 0/1 vs 1/1). The converted weights in a plain torchvision ResNet would therefore
compute a slightly different function from the official JAX network (a one-pixel shift of the sampling grid at
each stride-2 layer). Measured once against dm-haiku 0.0.17 running byol/utils/networks.py ``ResNet50`` (random
weights and BN statistics, 224 px, eval mode): this module's mapping reproduces the Haiku features to 1e-6 when
torchvision's layers are given SAME padding, and differs by up to ~5% (cosine 0.9987) with torchvision's own
padding (ajtejankar/byol-convert ``resnet.py`` likewise evaluates with a SAME-padding ResNet). ``encoder.json``
therefore names the backbone ``tf_resnet<depth>`` (:mod:`byol_pkg.models.tf_same`): the same torchvision module
and state-dict keys as ``resnet<depth>``, with TF 'SAME' padding on the stride-2 convolutions and the max-pool,
so :func:`byol_pkg.eval.encoder.load_encoder` rebuilds the Haiku forward pass. ``encoder.pt`` itself is a plain
torchvision state dict: loaded into ``torchvision.models.resnet50()`` it gives "official weights, torchvision
forward" instead.
"""

from __future__ import annotations

import collections
import pickle
import re
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch

from .. import __version__
from ..errors import OfficialCheckpointError
from ..io import atomic_torch_save, atomic_write_json
from .backbones import create_backbone
from .timm_hub import hub_dir, write_hub_folder

#: Depth -> our backbone name (torchvision ResNet, ``fc`` removed): the state-dict layout.
SUPPORTED_DEPTHS = {50: "resnet50", 101: "resnet101", 152: "resnet152", 200: "resnet200"}
#: Depth -> the backbone written to encoder.json: the same keys with Haiku's 'SAME' padding (the JAX forward pass).
FORWARD_BACKBONES = {depth: f"tf_{name}" for depth, name in SUPPORTED_DEPTHS.items()}
#: Top-level Haiku modules of the training graph that are not the encoder.
HEAD_MODULES = ("projector", "predictor", "classifier")
#: Field names of the pickled NamedTuples, by class name (byol/byol_experiment.py, byol/eval_experiment.py).
STATE_FIELDS = {
    "_ByolExperimentState": ("online_params", "target_params", "online_state", "target_state", "opt_state"),
    "_EvalExperimentState": ("backbone_params", "classif_params", "backbone_state", "backbone_opt_state",
                             "classif_opt_state"),
}
#: Where the encoder of each kind of experiment state lives: (params field, state field).
ENCODER_FIELDS = (("online_params", "online_state"), ("backbone_params", "backbone_state"))
EXPECTED = ("the official BYOL checkpoint: a pickled dict {'experiment_state', 'step', 'rng'} such as "
            "pretrain_res50x1.pkl from https://storage.googleapis.com/deepmind-byol/checkpoints/")
IMAGENET_MEAN = [0.485, 0.456, 0.406]  # byol/utils/dataset.py normalize_images
IMAGENET_STD = [0.229, 0.224, 0.225]
BN_FIELDS = {"weight": "scale", "bias": "offset", "running_mean": "~/mean_ema/average",
             "running_var": "~/var_ema/average"}
#: EMA bookkeeping entries of the BatchNorm state that the converted network does not need.
IGNORED_STATE = re.compile(r"/~/(mean|var)_ema/(hidden|counter)$")



# ----------------------------------------------------------------------------------------------- reading


class _Placeholder:
    """Stand-in for a class the checkpoint names but this process need not import (kept args and state)."""

    _pickled_module = ""
    _pickled_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items, obj.list = args, kwargs, None, {}, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.list.append(value)

    def extend(self, values: Any) -> None:
        self.list.extend(values)


def _jax_array_as_numpy(fun: Any, args: Any, arr_state: Any, aval_state: Any) -> np.ndarray:
    """``jax._src.array._reconstruct_array`` without the ``device_put``: the numpy value of a pickled jax Array."""
    value = fun(*args)
    value.__setstate__(arr_state)
    return value


def _haiku_mapping(*args: Any, **kwargs: Any) -> dict:
    return dict(*args, **kwargs)


def _dill_namedtuple(name: str, fieldnames: Any, modulename: str = "", defaults: Any = None) -> type:
    """``dill._dill._create_namedtuple``: dill pickles every namedtuple class by its name and field names; rebuilt
    as a fresh :func:`collections.namedtuple` (the original module is never imported)."""
    fields = [str(f) for f in fieldnames]
    if not all(f.isidentifier() for f in fields + [str(name)]):
        raise pickle.UnpicklingError(f"bad namedtuple {name!r} {fields}")
    cls = collections.namedtuple(str(name), fields, defaults=defaults)
    cls.__module__ = str(modulename) or cls.__module__
    return cls


def _dill_array(fun: Any, args: Any, state: Any, npdict: Any = None) -> np.ndarray:
    """``dill._dill._create_array`` (how dill pickles ndarray subclasses), as a plain numpy array."""
    return _jax_array_as_numpy(fun, args, state, None)


_DILL_TYPES = {"NoneType": type(None), "ListType": list, "DictType": dict, "TupleType": tuple, "SetType": set,
               "FrozenSetType": frozenset, "IntType": int, "FloatType": float, "BooleanType": bool,
               "StringType": str, "BytesType": bytes, "ComplexType": complex}


_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                  "numpy._core.numeric")
_NUMPY_NAMES = ("_reconstruct", "scalar", "ndarray", "dtype", "_frombuffer")
_SAFE_GLOBALS = {("builtins", n) for n in ("set", "frozenset", "bytearray", "complex", "slice", "object",
                                           "list", "dict", "tuple", "int", "float", "bool", "str", "bytes")}
_SAFE_GLOBALS |= {("copyreg", "_reconstructor"), ("collections", "OrderedDict"), ("_codecs", "encode")}


class _OfficialUnpickler(pickle.Unpickler):
    """Loads numpy data and plain containers; every other class becomes a :class:`_Placeholder`."""

    _placeholders: ClassVar[dict[tuple[str, str], type]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_MODULES and name in _NUMPY_NAMES:
            return super().find_class(module, name)
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        if module.startswith("jax") and name == "_reconstruct_array":
            return _jax_array_as_numpy
        if module.startswith("haiku") and name in ("FlatMapping", "frozendict", "FrozenDict"):
            return _haiku_mapping
        if module.split(".")[0] == "dill":  # dill._dill (dill >= 0.3) or dill.dill
            if name == "_create_namedtuple":
                return _dill_namedtuple
            if name == "_create_array":
                return _dill_array
            if name == "_load_type":
                return lambda type_name: _DILL_TYPES.get(type_name) or self.find_class("dill", type_name)
        key = (module, name)
        if key not in self._placeholders:
            self._placeholders[key] = type(name, (_Placeholder,), {"_pickled_module": module,
                                                                    "_pickled_name": name})
        return self._placeholders[key]


#: What unpickling a file that is not the expected pickle raises (truncated, HTML error page, other format, ...).
_UNPICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
                    ImportError, OverflowError, RecursionError, struct.error)


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return _OfficialUnpickler(f).load()
    except _UNPICKLE_ERRORS as err:  # from a file that is not such a pickle
        msg = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise OfficialCheckpointError(f"{path}: not a readable pickle ({type(err).__name__}: {msg}); expected "
                                      f"{EXPECTED}") from None


def _fields(obj: Any) -> dict[str, Any]:
    """The named fields of an experiment state: a placeholder NamedTuple, a mapping, or an object."""
    if isinstance(obj, _Placeholder):
        names = STATE_FIELDS.get(obj._pickled_name)
        if names is not None and len(obj.args) == len(names):
            return dict(zip(names, obj.args, strict=True))
        return dict(obj.kwargs) or (obj.state if isinstance(obj.state, dict) else {})
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):  # the NamedTuple rebuilt from dill's field names
        return dict(obj._asdict())
    return {n: getattr(obj, n) for fields in ENCODER_FIELDS for n in fields if hasattr(obj, n)}


def _flatten(tree: Any, flat: dict[str, np.ndarray], path: Path, what: str) -> None:
    """``{module: {name: array}}`` -> ``{"module/name": array}``."""
    if not isinstance(tree, Mapping):
        raise OfficialCheckpointError(f"{path}: {what} is a {type(tree).__name__}, not a mapping of Haiku modules; "
                                      f"expected {EXPECTED}")
    for module, entries in tree.items():
        if not isinstance(entries, Mapping):
            raise OfficialCheckpointError(f"{path}: {what}['{module}'] is a {type(entries).__name__}, not a mapping "
                                          "of parameter names to arrays")
        for name, value in entries.items():
            if isinstance(value, _Placeholder) or not isinstance(value, (np.ndarray, np.generic, int, float)):
                raise OfficialCheckpointError(f"{path}: {what}['{module}']['{name}'] is a {type(value).__name__}, "
                                              "not an array")
            flat[f"{module}/{name}"] = np.asarray(value)


def _is_head(key: str) -> bool:
    return key.split("/", 1)[0] in HEAD_MODULES


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], int | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise OfficialCheckpointError(f"{path}: not a readable .npz ({type(err).__name__}); expected flat "
                                      "'<module path>/<name>' arrays of the online network") from None
    step = arrays.pop("step", None)
    prefixed = [k for k in arrays if k.startswith(("online_params/", "online_state/"))]
    if prefixed:
        arrays = {k.split("/", 1)[1]: v for k, v in arrays.items() if k in prefixed}
    flat = {k: v for k, v in arrays.items() if not _is_head(k)}
    return flat, None if step is None else int(np.asarray(step).reshape(-1)[0])


def read_official_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], int | None]:
    """The online encoder's flat arrays (see :func:`load_official_checkpoint`) and the training step (or None)."""
    path = Path(path)
    if not path.is_file():
        raise OfficialCheckpointError(f"{path}: not found; expected {EXPECTED}")
    if path.suffix == ".npz":
        return _read_npz(path)
    data = _unpickle(path)
    if not isinstance(data, Mapping) or "experiment_state" not in data:
        got = sorted(map(str, data))[:5] if isinstance(data, Mapping) else type(data).__name__
        raise OfficialCheckpointError(f"{path}: holds {got}, no 'experiment_state'; expected {EXPECTED}")
    fields = _fields(data["experiment_state"])
    for params_name, state_name in ENCODER_FIELDS:
        if params_name in fields and state_name in fields:
            break
    else:
        raise OfficialCheckpointError(f"{path}: experiment_state has no online_params/online_state (fields: "
                                      f"{sorted(fields)[:6]}); expected {EXPECTED}")
    flat: dict[str, np.ndarray] = {}
    _flatten(fields[params_name], flat, path, params_name)
    _flatten(fields[state_name], flat, path, state_name)
    step = data.get("step")
    try:
        step = None if step is None else int(np.asarray(step).reshape(-1)[0])
    except (TypeError, ValueError):
        step = None
    return {k: v for k, v in flat.items() if not _is_head(k)}, step


def load_official_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Read an official BYOL checkpoint (``.pkl``; or ``.npz`` with flat keys) and return the ONLINE network's
    encoder as ``{"<haiku module path>/<name>": numpy array}``: parameters (``.../initial_conv/w``,
    ``.../batchnorm_0/scale``) and BatchNorm state (``.../batchnorm_0/~/mean_ema/average``), without the target
    network and without the ``projector``/``predictor``/``classifier`` modules. A missing or unreadable file
    raises :class:`OfficialCheckpointError` (one line)."""
    return read_official_checkpoint(path)[0]


# -------------------------------------------------------------------------------------------- converting


def _haiku_key(tv_key: str) -> str | None:
    """The Haiku name (without the ``res_net<depth>/~/`` prefix) of a torchvision ResNet key; None for
    ``num_batches_tracked``."""
    if tv_key.endswith("num_batches_tracked"):
        return None
    if tv_key == "conv1.weight":
        return "initial_conv/w"
    m = re.fullmatch(r"bn1\.(\w+)", tv_key)
    if m:
        return "initial_batchnorm/" + BN_FIELDS[m[1]]
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.(conv|bn)(\d)\.(\w+)", tv_key)
    if m:
        block = f"block_group_{int(m[1]) - 1}/~/block_{m[2]}"
        index = int(m[4]) - 1
        return (f"{block}/~/conv_{index}/w" if m[3] == "conv"
                else f"{block}/~/batchnorm_{index}/{BN_FIELDS[m[5]]}")
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.downsample\.([01])\.(\w+)", tv_key)
    if m:
        block = f"block_group_{int(m[1]) - 1}/~/block_{m[2]}"
        return f"{block}/~/shortcut_conv/w" if m[3] == "0" else f"{block}/~/shortcut_batchnorm/{BN_FIELDS[m[4]]}"
    raise ValueError(f"no Haiku counterpart for torchvision key {tv_key}")


def _expected_state(depth: int) -> dict[str, torch.Size]:
    with torch.device("meta"):
        model, _ = create_backbone(SUPPORTED_DEPTHS[depth])
    return {k: v.shape for k, v in model.state_dict().items()}


def _encoder_prefix(flat: Mapping[str, np.ndarray], where: str, depth: int) -> str:
    stems = sorted({k.split("/~/", 1)[0] for k in flat if re.search(r"/~/initial_conv(_\d+)?/w$", k)})
    if len(stems) != 1:
        raise OfficialCheckpointError(
            f"{where}: missing key res_net{depth}/~/initial_conv/w (the encoder's stem convolution)" if not stems
            else f"{where}: several encoders {stems}; expected one res_net<depth>")
    stem = stems[0]
    m = re.fullmatch(r"res_net(\d+)", stem)
    if m and int(m[1]) != depth:
        raise OfficialCheckpointError(f"{where}: holds {stem} (ResNet-{m[1]}) but depth {depth} was asked "
                                      f"(--depth {m[1]})")
    return stem


def convert_official_state(flat: Mapping[str, np.ndarray], depth: int = 50, width: int = 1,
                           source: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Map the flat Haiku arrays of :func:`load_official_checkpoint` to the state dict of our ``resnet<depth>``
    backbone (torchvision names, float32, contiguous). Every torchvision key must be produced and every encoder
    array used (BatchNorm EMA ``hidden``/``counter`` excepted): otherwise a one-line
    :class:`OfficialCheckpointError` (a ``ValueError``) names the first missing / mis-shaped / unused key and
    ``source``."""
    where = str(source) if source is not None else "official checkpoint"
    if depth not in SUPPORTED_DEPTHS:
        raise OfficialCheckpointError(f"{where}: depth {depth} is not supported; use one of "
                                      f"{sorted(SUPPORTED_DEPTHS)} (bottleneck ResNet v1)")
    if width != 1:
        raise OfficialCheckpointError(f"{where}: width multiplier {width} is not supported (our backbones are 1x "
                                      "torchvision ResNets)")
    stem = _encoder_prefix(flat, where, depth)
    canonical: dict[str, str] = {}  # name without prefix and without a numeric suffix on initial_* -> flat key
    unused: list[str] = []
    for key in flat:
        if not key.startswith(stem + "/~/"):
            unused.append(key)
            continue
        name = re.sub(r"^initial_(conv|batchnorm)_\d+(?=/)", r"initial_\1", key[len(stem) + 3:])
        if name in canonical:
            raise OfficialCheckpointError(f"{where}: keys {canonical[name]} and {key} both map to {name}")
        canonical[name] = key
    stem_w = flat[canonical["initial_conv/w"]]
    if stem_w.ndim == 4 and stem_w.shape[-1] != 64:
        raise OfficialCheckpointError(
            f"{where}: {canonical['initial_conv/w']} has {stem_w.shape[-1]} output channels, i.e. width multiplier "
            f"{stem_w.shape[-1] / 64:g}x; only 1x converts to our torchvision backbones")

    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for tv_key, shape in _expected_state(depth).items():
        name = _haiku_key(tv_key)
        if name is None:
            state[tv_key] = torch.tensor(0, dtype=torch.long)
            continue
        if name not in canonical:
            raise OfficialCheckpointError(f"{where}: missing key {stem}/~/{name} (for {tv_key})")
        key = canonical[name]
        value = np.asarray(flat[key])
        if len(shape) == 4:  # convolution kernel: HWIO -> OIHW
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value
        elif value.size == int(np.prod(shape)) and all(d == 1 for d in value.shape[:-1]):
            value = value.reshape(tuple(shape))  # BatchNorm [1, 1, 1, C] -> [C]
        if tuple(value.shape) != tuple(shape):
            raise OfficialCheckpointError(f"{where}: {key} has shape {list(np.asarray(flat[key]).shape)}, expected "
                                          f"{_haiku_shape(shape)} for {tv_key}")
        if not np.issubdtype(value.dtype, np.floating):
            raise OfficialCheckpointError(f"{where}: {key} has dtype {value.dtype}, expected floating point")
        state[tv_key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        used.add(key)
    unused += [k for k in canonical.values() if k not in used and not IGNORED_STATE.search(k)]
    if unused:
        raise OfficialCheckpointError(f"{where}: unused key {unused[0]} ({len(unused)} unused in all; is it "
                                      f"a ResNet-{depth} encoder?)")
    return state


def _haiku_shape(shape: torch.Size) -> list[int]:
    """The Haiku shape expected for a torchvision shape (for error messages)."""
    if len(shape) == 4:
        o, i, h, w = shape
        return [h, w, i, o]
    return [1, 1, 1, int(shape[0])]


def convert_official_checkpoint(path: str | Path, out: str | Path, depth: int = 50) -> dict:
    """Convert the online encoder of an official BYOL checkpoint to ``out`` (encoder.pt, torchvision ResNet keys)
    and ``out``'s ``.json`` (backbone ``tf_resnet<depth>``, loadable with :func:`byol_pkg.eval.encoder.load_encoder`
    into the 'SAME'-padded forward pass of the JAX network), and the timm-hub folder beside it (``encoder.timm/``:
    timm's ``byol_tf_resnet<depth>``, the paper's test preprocessing: bicubic, centre crop 224 of 256); returns the
    json written."""
    path, out = Path(path), Path(out)
    flat, step = read_official_checkpoint(path)
    state = convert_official_state(flat, depth, source=path)
    name = FORWARD_BACKBONES[depth]
    model, _ = create_backbone(name)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # not expected after convert_official_state's checks
        raise OfficialCheckpointError(f"{path}: converted weights do not load into {name} "
                                      f"({str(err).strip().splitlines()[0][:200]})") from None
    meta = {
        "backbone": name,
        "cifar_stem": False,
        "network": "online (official BYOL checkpoint)",
        "step": step,
        "image_size": 224,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "byol_bench_version": __version__,
        "source": str(path),
    }
    atomic_torch_save(out, state)
    atomic_write_json(out.with_suffix(".json"), meta)
    write_hub_folder(hub_dir(out), state, name, False,
                     {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 224 / 256,
                      "crop_mode": "center", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}, meta)
    return meta
