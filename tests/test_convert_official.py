"""``byol convert-official``: the official BYOL checkpoint (DeepMind's JAX/Haiku release, pickled with dill) to
``encoder.pt`` + ``encoder.json``.

The checkpoints here are built from a torchvision ResNet-50 with random weights, renamed to Haiku's names by an
inverse mapping written independently of the converter (by walking the torchvision modules), and pickled in the
release's structure: ``{'experiment_state': _ByolExperimentState(online_params, target_params, online_state,
target_state, opt_state), 'step', 'rng'}`` with the namedtuple classes written the way dill writes them
(``dill._dill._create_namedtuple``), Haiku ``FlatMapping``/``frozendict`` containers, numpy or new-JAX arrays,
a target network that differs from the online one and projector/predictor/classifier modules. None of jax,
haiku, dill or byol is importable when the file is read.
"""

from __future__ import annotations

import argparse
import collections
import json
import pickle
import sys
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torchvision

from byol_pkg.eval.encoder import load_encoder
from byol_pkg.models import create_backbone
from byol_pkg.cli.train import add_convert_parser
from byol_pkg.models.convert_official import (
    OfficialCheckpointError,
    convert_official_checkpoint,
    convert_official_state,
    load_official_checkpoint,
)

STEP = 250_200


# ------------------------------------------------------------------------ official-format checkpoint builder


class _ByolExperimentState(NamedTuple):  # byol/byol_experiment.py
    online_params: object
    target_params: object
    online_state: object
    target_state: object
    opt_state: object


LarsState = collections.namedtuple("LarsState", ["sgd_state", "count"])  # stand-in for the optimizer state
TraceState = collections.namedtuple("TraceState", ["trace"])


def _fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(mod, key, value)
        if isinstance(value, (type, types.FunctionType)):
            value.__module__, value.__qualname__ = name, key
    monkeypatch.setitem(sys.modules, name, mod)
    return mod


class FlatMapping(dict):
    """Haiku's FlatMapping as pickled by haiku/_src/data_structures.py: ``(FlatMapping, (dict,))``."""

    def __reduce__(self):
        return type(self), (dict(self),)


class HaikuFrozendict(dict):
    """Haiku's ``frozendict`` (before August 2020), pickled as ``(frozendict, (dict,))``."""

    def __reduce__(self):
        return type(self), (dict(self),)


def _reconstruct_array(fun, args, arr_state, aval_state):  # jax._src.array (newer JAX)
    raise AssertionError("never called in this process")


class JaxArray:
    """Pickles as newer JAX's ArrayImpl does."""

    def __init__(self, value: np.ndarray):
        self.value = value

    def __reduce__(self):
        fun, args, arr_state = self.value.__reduce__()
        return _reconstruct_array, (fun, args, arr_state, {"weak_type": False})


def _create_namedtuple(name, fieldnames, modulename):  # dill._dill (dill 0.3.2 signature)
    raise AssertionError("never called in this process")


class DillLikePickler(pickle.Pickler):
    """Writes namedtuple classes as dill's ``save_type`` does: ``_create_namedtuple(name, fields, module)``."""

    def reducer_override(self, obj):
        if isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields"):
            return _create_namedtuple, (obj.__qualname__, obj._fields, obj.__module__)
        return NotImplemented


def randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random BatchNorm affine parameters and running statistics (the conv weights are already random)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model.eval()


def haiku_trees(model: torchvision.models.ResNet, stem: str = "res_net50", initial_suffix: str = "",
                wrap=lambda a: a) -> tuple[dict, dict]:
    """Haiku params and state ({module: {name: array}}) of a torchvision ResNet, walking its modules."""
    params: dict[str, dict] = {}
    state: dict[str, dict] = {}

    def np_(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy().copy()

    def conv(name: str, m: torch.nn.Conv2d) -> None:
        params[f"{stem}/~/{name}"] = {"w": wrap(np.transpose(np_(m.weight), (2, 3, 1, 0)))}  # OIHW -> HWIO

    def bn(name: str, m: torch.nn.BatchNorm2d) -> None:
        c = m.num_features
        params[f"{stem}/~/{name}"] = {"scale": wrap(np_(m.weight).reshape(1, 1, 1, c)),
                                      "offset": wrap(np_(m.bias).reshape(1, 1, 1, c))}
        for ema, stat in (("mean_ema", m.running_mean), ("var_ema", m.running_var)):
            value = np_(stat).reshape(1, 1, 1, c)
            state[f"{stem}/~/{name}/~/{ema}"] = {"average": wrap(value), "hidden": wrap(value.copy()),
                                                 "counter": wrap(np.array(STEP, dtype=np.int32))}

    conv(f"initial_conv{initial_suffix}", model.conv1)
    bn(f"initial_batchnorm{initial_suffix}", model.bn1)
    for g, layer in enumerate((model.layer1, model.layer2, model.layer3, model.layer4)):
        for b, block in enumerate(layer):
            prefix = f"block_group_{g}/~/block_{b}/~/"
            for i, (c, n) in enumerate(((block.conv1, block.bn1), (block.conv2, block.bn2), (block.conv3, block.bn3))):
                conv(f"{prefix}conv_{i}", c)
                bn(f"{prefix}batchnorm_{i}", n)
            if block.downsample is not None:
                conv(f"{prefix}shortcut_conv", block.downsample[0])
                bn(f"{prefix}shortcut_batchnorm", block.downsample[1])
    rng = np.random.default_rng(0)
    for head in ("projector", "predictor"):  # byol/utils/networks.py MLP (small sizes)
        params[f"{head}/linear"] = {"w": rng.normal(size=(2048, 8)).astype(np.float32),
                                    "b": np.zeros(8, np.float32)}
        params[f"{head}/batch_norm"] = {"scale": np.ones((1, 8), np.float32), "offset": np.zeros((1, 8), np.float32)}
        params[f"{head}/linear_1"] = {"w": rng.normal(size=(8, 4)).astype(np.float32)}
        for ema in ("mean_ema", "var_ema"):
            state[f"{head}/batch_norm/~/{ema}"] = {"average": np.ones((1, 8), np.float32),
                                                   "hidden": np.ones((1, 8), np.float32),
                                                   "counter": np.array(STEP, np.int32)}
    params["classifier"] = {"w": rng.normal(size=(2048, 1000)).astype(np.float32), "b": np.zeros(1000, np.float32)}
    return params, state


def write_official(path: Path, online: torch.nn.Module, target: torch.nn.Module | None, *,
                   container: str = "FlatMapping", arrays: str = "numpy", initial_suffix: str = "",
                   drop: str | None = None, replace: tuple[str, np.ndarray] | None = None) -> Path:
    """Pickle a checkpoint in the release's structure (protocol 2, as ``dill.dump(..., protocol=2)``)."""
    wrap = JaxArray if arrays == "jax" else (lambda a: a)
    online_params, online_state = haiku_trees(online, initial_suffix=initial_suffix, wrap=wrap)
    if target is not None:
        target_params, target_state = haiku_trees(target, initial_suffix=initial_suffix)
    else:
        target_params, target_state = online_params, online_state  # shared objects: written once
    if drop is not None:
        module, name = drop.rsplit("/", 1)
        online_params.get(module, online_state.get(module, {})).pop(name)
    if replace is not None:
        module, name = replace[0].rsplit("/", 1)
        (online_params if module in online_params else online_state)[module][name] = replace[1]
    with pytest.MonkeyPatch.context() as mp:
        _fake_module(mp, "haiku")
        _fake_module(mp, "haiku._src")
        _fake_module(mp, "haiku._src.data_structures", FlatMapping=FlatMapping,
                    frozendict=HaikuFrozendict)
        _fake_module(mp, "jax")
        _fake_module(mp, "jax._src")
        _fake_module(mp, "jax._src.array", _reconstruct_array=_reconstruct_array)
        _fake_module(mp, "dill")
        _fake_module(mp, "dill._dill", _create_namedtuple=_create_namedtuple)
        _ByolExperimentState.__module__ = "byol.byol_experiment"
        LarsState.__module__ = TraceState.__module__ = "byol.utils.optimizers"

        if container == "frozendict":  # nested immutable dicts (haiku <= 0.0.2)
            def box(tree):
                return HaikuFrozendict({k: HaikuFrozendict(v) for k, v in tree.items()})
        else:  # FlatMapping pickles its mapping as plain nested dicts
            def box(tree):
                return FlatMapping(tree)
        trace = TraceState(trace=FlatMapping({"res_net50/~/initial_conv": {"w": np.zeros((7, 7, 3, 64), np.float32)}}))
        state = _ByolExperimentState(box(online_params), box(target_params), box(online_state), box(target_state),
                                     LarsState(sgd_state=trace, count=np.array(STEP, np.int32)))
        data = {"experiment_state": state, "step": STEP, "rng": wrap(np.array([0, 42], dtype=np.uint32))}
        with open(path, "wb") as f:
            DillLikePickler(f, protocol=2).dump(data)
    return path


def assert_same_state(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert list(got) == list(want)
    assert len(want) == 53 + 53 * 5  # every caller's ResNet-50 (no fc): 53 convolutions, 53 BatchNorms of 5 entries
    for key, value in want.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        assert torch.equal(got[key], value), key


@pytest.fixture(scope="module")
def nets() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    online = randomize(torchvision.models.resnet50(), seed=1)
    torch.manual_seed(1)
    target = randomize(torchvision.models.resnet50(), seed=2)
    online.fc = target.fc = torch.nn.Identity()
    return online, target


@pytest.fixture(scope="module")
def official(nets, tmp_path_factory) -> Path:
    online, target = nets
    return write_official(tmp_path_factory.mktemp("official") / "pretrain_res50x1.pkl", online, target)


@pytest.fixture(scope="module")
def converted(official, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("enc") / "encoder.pt"
    return out, convert_official_checkpoint(official, out)


def reference_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------------- tests


def test_load_gives_online_encoder_under_haiku_names(official: Path, nets) -> None:
    flat = load_official_checkpoint(official)
    params, state = haiku_trees(nets[0])
    want = {f"{m}/{n}": v for tree in (params, state) for m, d in tree.items() for n, v in d.items()
            if m.split("/")[0] not in ("projector", "predictor", "classifier")}
    # 53 convolutions (w) and 53 BatchNorms (scale, offset; mean_ema and var_ema: average, hidden, counter)
    assert sorted(flat) == sorted(want) and len(flat) == 53 + 53 * 2 + 53 * 2 * 3
    assert flat["res_net50/~/block_group_1/~/block_0/~/conv_1/w"].shape == (3, 3, 128, 128)  # stride on the 3x3
    assert flat["res_net50/~/initial_batchnorm/~/var_ema/average"].shape == (1, 1, 1, 64)
    for key, value in want.items():
        assert isinstance(flat[key], np.ndarray) and np.array_equal(flat[key], value), key


def test_converted_state_is_the_online_network_exactly(converted, official: Path, nets) -> None:
    out, meta = converted
    online, target = nets
    got = torch.load(out, map_location="cpu", weights_only=True)
    assert_same_state(got, reference_state(online))  # (a) every key, bit for bit
    want_target = reference_state(target)  # (b) not the target network
    assert all(not torch.equal(got[k], want_target[k]) for k in got if got[k].is_floating_point())
    assert all(int(v) == 0 for k, v in got.items() if k.endswith("num_batches_tracked"))
    assert meta == json.loads(out.with_suffix(".json").read_text())
    assert meta["backbone"] == "tf_resnet50" and meta["cifar_stem"] is False and meta["step"] == STEP
    assert meta["network"] == "online (official BYOL checkpoint)" and meta["image_size"] == 224
    assert meta["mean"] == [0.485, 0.456, 0.406] and meta["std"] == [0.229, 0.224, 0.225]
    assert meta["source"] == str(official)
    assert "byol_bench_version" in meta and not list(out.parent.glob(".*.tmp"))


def test_converted_encoder_gives_the_original_features(converted, nets) -> None:
    out, _ = converted
    model, meta = load_encoder(out)  # (c) the evaluation commands' loader, strict
    assert meta["feature_dim"] == 2048 and not model.training and meta["backbone"] == "tf_resnet50"
    # the original online network run with Haiku's 'SAME' padding: tf_resnet50 given its weights
    original, _ = create_backbone("tf_resnet50")
    original.load_state_dict(reference_state(nets[0]), strict=True)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got, want, other = model(x), original.eval()(x), nets[1].eval()(x)
        torchvision_forward = nets[0].eval()(x)  # the same weights with torchvision's symmetric padding
    assert got.shape == (2, 2048) and torch.equal(got, want)
    assert not torch.allclose(got, other)
    assert not torch.allclose(got, torchvision_forward, rtol=1e-3, atol=1e-3)
    # and encoder.pt is a plain torchvision state dict
    assert_same_state(model.state_dict(), reference_state(nets[0]))


def test_converted_encoder_also_loads_in_timm_with_the_same_features(converted, nets) -> None:
    """The official network in timm's hub format: encoder.timm/ (model.safetensors + config.json) builds timm's
    byol_tf_resnet50 (registered by byol_pkg.models) with the 'SAME'-padded forward pass, the same features as
    the evaluation loader, and the paper's test preprocessing in its pretrained_cfg."""
    import timm
    from safetensors.torch import load_file

    out, _ = converted
    folder = out.with_suffix(".timm")
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "byol_tf_resnet50" and config["num_features"] == 2048
    cfg = config["pretrained_cfg"]
    assert cfg["input_size"] == [3, 224, 224] and cfg["interpolation"] == "bicubic" and cfg["crop_pct"] == 0.875
    assert cfg["mean"] == [0.485, 0.456, 0.406] and cfg["std"] == [0.229, 0.224, 0.225]
    stored, want = load_file(folder / "model.safetensors"), reference_state(nets[0])
    assert sorted(stored) == sorted(want) and all(torch.equal(stored[k], want[k]) for k in want)
    model = timm.create_model(config["architecture"], pretrained=True, num_classes=0,
                              pretrained_cfg_overlay=dict(file=str(folder / "model.safetensors"))).eval()
    ours, _ = load_encoder(out)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.allclose(model(x), ours(x), atol=1e-5)


@pytest.mark.parametrize("variant", [{"container": "frozendict"}, {"arrays": "jax"}, {"initial_suffix": "_1"}],
                         ids=["frozendict", "jax-arrays", "initial_suffix_1"])
def test_other_spellings_of_the_release(variant, nets, tmp_path: Path) -> None:
    path = write_official(tmp_path / "ckpt.pkl", nets[0], None, **variant)
    flat = load_official_checkpoint(path)
    assert len(flat) == 53 + 53 * 2 + 53 * 2 * 3  # the online encoder's arrays, as in the original spelling
    assert all(isinstance(v, np.ndarray) for v in flat.values())
    assert_same_state(convert_official_state(flat, 50), reference_state(nets[0]))


def test_npz_with_flat_online_keys(official: Path, nets, tmp_path: Path) -> None:
    flat = load_official_checkpoint(official)
    path = tmp_path / "flat.npz"
    np.savez(path, step=np.array(7), **{f"online_params/{k}": v for k, v in flat.items()},
             **{"target_params/res_net50/~/initial_conv/w": np.zeros((7, 7, 3, 64), np.float32)})
    meta = convert_official_checkpoint(path, tmp_path / "enc.pt")
    assert meta["step"] == 7
    assert_same_state(torch.load(tmp_path / "enc.pt", weights_only=True), reference_state(nets[0]))


def _one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and isinstance(excinfo.value, ValueError)
    return msg


def test_missing_wrong_or_extra_keys_are_named(official: Path, nets, tmp_path: Path) -> None:
    flat = load_official_checkpoint(official)
    key = "res_net50/~/block_group_2/~/block_4/~/batchnorm_1/offset"

    partial = {k: v for k, v in flat.items() if k != key}
    with pytest.raises(ValueError) as e:
        convert_official_state(partial, 50, source="x.pkl")
    assert key in _one_line_error(e) and "x.pkl" in str(e.value) and "missing" in str(e.value)

    stats = "res_net50/~/block_group_0/~/block_0/~/shortcut_batchnorm/~/var_ema/average"
    with pytest.raises(ValueError) as e:
        convert_official_state({k: v for k, v in flat.items() if k != stats}, 50, source="x.pkl")
    assert stats in _one_line_error(e)

    conv = "res_net50/~/block_group_3/~/block_2/~/conv_1/w"
    with pytest.raises(ValueError) as e:
        convert_official_state({**flat, conv: np.zeros((3, 3, 512, 256), np.float32)}, 50, source="x.pkl")
    assert conv in _one_line_error(e) and "[3, 3, 512, 256]" in str(e.value) and "[3, 3, 512, 512]" in str(e.value)

    extra = "res_net50/~/block_group_3/~/block_3/~/conv_0/w"
    with pytest.raises(ValueError) as e:
        convert_official_state({**flat, extra: np.zeros((1, 1, 2048, 512), np.float32)}, 50, source="x.pkl")
    assert "unused key " + extra in _one_line_error(e)

    with pytest.raises(ValueError) as e:  # a ResNet-50 is not a ResNet-101
        convert_official_state(flat, 101, source="x.pkl")
    assert "res_net50" in _one_line_error(e) and "--depth 50" in str(e.value)

    wide = {**flat, "res_net50/~/initial_conv/w": np.zeros((7, 7, 3, 128), np.float32)}
    with pytest.raises(ValueError) as e:  # BYOL's 2x networks have no torchvision counterpart
        convert_official_state(wide, 50, source="x.pkl")
    assert "width multiplier 2x" in _one_line_error(e)

    # the same through a file: the error names the file and the key
    path = write_official(tmp_path / "broken.pkl", nets[0], None, drop="res_net50/~/block_group_1/~/block_3/~/conv_2/w")
    with pytest.raises(OfficialCheckpointError) as e:
        convert_official_checkpoint(path, tmp_path / "enc.pt")
    assert str(path) in _one_line_error(e) and "res_net50/~/block_group_1/~/block_3/~/conv_2/w" in str(e.value)
    assert not (tmp_path / "enc.pt").exists() and not (tmp_path / "enc.json").exists()

    bad = ("res_net50/~/initial_batchnorm/scale", np.ones((1, 1, 1, 65), np.float32))
    path = write_official(tmp_path / "shape.pkl", nets[0], None, replace=bad)
    with pytest.raises(OfficialCheckpointError) as e:
        convert_official_checkpoint(path, tmp_path / "enc.pt")
    assert str(path) in _one_line_error(e) and bad[0] in str(e.value) and "bn1.weight" in str(e.value)


def test_missing_garbage_or_foreign_files(tmp_path: Path) -> None:
    missing = tmp_path / "pretrain_res50x1.pkl"
    with pytest.raises(OfficialCheckpointError) as e:
        convert_official_checkpoint(missing, tmp_path / "enc.pt")
    assert str(missing) in _one_line_error(e) and "not found" in str(e.value) and "experiment_state" in str(e.value)

    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"<html>404 Not Found</html>\n" * 10)
    with pytest.raises(OfficialCheckpointError) as e:
        load_official_checkpoint(garbage)
    assert str(garbage) in _one_line_error(e) and "not a readable pickle" in str(e.value)

    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps({"experiment_state": np.zeros(1000)}, protocol=2)[:-50])
    with pytest.raises(OfficialCheckpointError) as e:
        load_official_checkpoint(truncated)
    assert "not a readable pickle" in _one_line_error(e)

    foreign = tmp_path / "model.pkl"
    foreign.write_bytes(pickle.dumps({"state_dict": {"conv1.weight": np.zeros(3)}}))
    with pytest.raises(OfficialCheckpointError) as e:
        load_official_checkpoint(foreign)
    assert "no 'experiment_state'" in _one_line_error(e)

    class Exploit:  # a pickle that would run a command under a bare pickle.load: nothing is executed
        def __reduce__(self):
            import os
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps({"experiment_state": Exploit()}, protocol=2))
    with pytest.raises(OfficialCheckpointError):
        load_official_checkpoint(hostile)
    assert not (tmp_path / "pwned").exists()


def test_convert_official_subcommand(official: Path, nets, tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="byol")
    sub = parser.add_subparsers(dest="command", required=True)
    add_convert_parser(sub)
    out = tmp_path / "official" / "encoder.pt"
    args = parser.parse_args(["convert-official", "--checkpoint", str(official), "--out", str(out)])
    assert args.depth == 50 and args.command == "convert-official"
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.with_suffix(".json").read_text()) and printed["backbone"] == "tf_resnet50"
    model, _ = load_encoder(out)
    assert_same_state(model.state_dict(), reference_state(nets[0]))

    args = parser.parse_args(["convert-official", "--checkpoint", str(official), "--out", str(out), "--depth", "101"])
    with pytest.raises(OfficialCheckpointError):
        args.func(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["convert-official", "--checkpoint", str(official), "--out", str(out), "--depth", "34"])
