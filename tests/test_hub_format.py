"""Exported encoders in timm's hub format (``encoder.timm/`` = ``model.safetensors`` + ``config.json``): timm,
torchvision and our own loader compute the same features from them; ``config.json`` holds our preprocessing;
safetensors files load (ours and external ones); a corrupt one is a one-line error; ``byol pretrain`` writes
the pair."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import safetensors.torch
import timm
import torch
import torchvision
from timm.data import create_transform, resolve_data_config
from timm.models import PretrainedCfg
from torch import nn

from byol_pkg.augment import EvalTransform
from byol_pkg.cli import main
from byol_pkg.config import config_from_dict
from byol_pkg.errors import EncoderLoadError
from byol_pkg.eval.encoder import encoder_eval_transform, is_safetensors, load_encoder
from byol_pkg.eval.results import read_results
from byol_pkg.models import create_backbone
from byol_pkg.models.timm_hub import HubExportError, check_same_function, hub_dir, timm_architecture
from byol_pkg.train.export import hub_data_config, timm_crop_pct, write_encoder

MEAN, STD = [0.5, 0.45, 0.4], [0.2, 0.25, 0.3]  # not ImageNet's: the export must carry the config's own


def make_cfg(backbone: str, size: int, cifar_stem: bool = False):
    return config_from_dict({"model": {"backbone": backbone, "cifar_stem": cifar_stem},
                             "augment": {"image_size": size, "mean": MEAN, "std": STD}})


def perturbed_state(backbone: str, cifar_stem: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict far from any init: every weight moved by noise, BatchNorm statistics and affine parameters
    drawn at random (an init's BN is the identity at eval, which would hide a mis-mapped BN)."""
    model, _ = create_backbone(backbone, cifar_stem=cifar_stem)
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in model.state_dict().items():
        if not v.is_floating_point():
            state[k] = torch.full_like(v, 7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=g) * 1.5 + 0.5
        elif k.endswith(("running_mean", "bias")):
            state[k] = torch.randn(v.shape, generator=g) * 0.1
        elif k.endswith("weight") and v.ndim == 1:  # BN scale
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            state[k] = v + 0.5 * v.std() * torch.randn(v.shape, generator=g)
    return state


def batch(meta: dict, n: int = 3, seed: int = 1) -> torch.Tensor:
    """``n`` random non-square uint8 images through the encoder's evaluation transform."""
    size = int(meta["image_size"])
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size + 5, size + 9), generator=g, dtype=torch.uint8)
    return encoder_eval_transform(meta).batch(images)


def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def export(tmp_path: Path, backbone: str, size: int, cifar_stem: bool = False) -> tuple[Path, dict]:
    state = perturbed_state(backbone, cifar_stem)
    enc = write_encoder(tmp_path / "run" / "encoder.pt", state, make_cfg(backbone, size, cifar_stem), step=12,
                        pretrain_epoch=3)
    return enc, state


#: (backbone, cifar_stem, image size, timm architecture): torchvision's resnet18 at the paper's 224 px, the CPU
#: demo's backbones at 28 px (and 8 px with the CIFAR stem, as the tiny pretraining tests use), the CIFAR preset's
#: resnet18, the converted official checkpoints' TF 'SAME' ResNet-50, a plain timm model.
CASES = [
    ("resnet18", False, 224, "resnet18"),
    ("resnet_small_nopool_stem16", False, 28, "byol_resnet_small_nopool_stem16"),
    ("resnet_small_nopool", False, 28, "byol_resnet_small_nopool"),
    ("resnet_small", True, 8, "byol_resnet_small_cifar"),
    ("resnet18", True, 32, "byol_resnet18_cifar"),
    ("tf_resnet50", False, 64, "byol_tf_resnet50"),
    ("timm:resnet10t", False, 32, "resnet10t"),
]


@pytest.mark.parametrize("backbone, cifar_stem, size, arch", CASES, ids=[f"{c[0]}{'-cifar' * c[1]}" for c in CASES])
def test_timm_loads_the_export_as_our_loader_does(tmp_path, backbone, cifar_stem, size, arch):
    enc, state = export(tmp_path, backbone, size, cifar_stem)
    folder = hub_dir(enc)
    assert folder == tmp_path / "run" / "encoder.timm"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == arch

    ours, meta = load_encoder(enc)
    x = batch(meta)
    want = features(ours, x)
    assert want.std() > 1e-3  # features that vary, not a constant that anything would match

    # the form of the issue: the architecture plus the weights file
    weights = str(folder / "model.safetensors")
    model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=weights), num_classes=0)
    torch.testing.assert_close(features(model, x), want, rtol=1e-5, atol=1e-5)
    # the folder itself (timm reads architecture, model_args and preprocessing from config.json)
    local = timm.create_model(f"local-dir:{folder}", pretrained=True)
    torch.testing.assert_close(features(local, x), want, rtol=1e-5, atol=1e-5)
    assert local.num_features == config["num_features"] == meta["feature_dim"]
    # and our own loader on the safetensors copy, described by config.json
    again, meta2 = load_encoder(folder / "model.safetensors")
    assert meta2 == meta
    assert torch.equal(features(again, x), want)
    # the same tensors, bit for bit
    saved = safetensors.torch.load_file(folder / "model.safetensors")
    assert saved.keys() == state.keys() and all(torch.equal(saved[k], state[k]) for k in state)


def test_config_json_holds_our_preprocessing_in_timms_layout(tmp_path):
    enc, _ = export(tmp_path, "resnet18", 224)
    config = json.loads((hub_dir(enc) / "config.json").read_text())
    pc = config["pretrained_cfg"]
    assert (config["num_classes"], config["num_features"], config["global_pool"]) == (0, 512, "avg")
    assert pc["input_size"] == [3, 224, 224] and pc["crop_pct"] == 0.875  # resize 256, crop 224 (paper App. C.1)
    assert (pc["interpolation"], pc["crop_mode"], pc["num_classes"]) == ("bicubic", "center", 0)
    assert pc["mean"] == MEAN and pc["std"] == STD
    assert (pc["first_conv"], pc["classifier"], pc["pool_size"]) == ("conv1", "fc", [7, 7])
    assert "tag" not in pc and "license" not in pc  # nothing of timm's own weights' description
    PretrainedCfg(**pc)  # every key is one timm knows
    assert config["byol_bench"] == json.loads(enc.with_suffix(".json").read_text())
    assert config["byol_bench"]["pretrain_epoch"] == 3 and config["byol_bench"]["step"] == 12

    save_config = getattr(timm.models, "save_config_for_hf", None)
    if save_config is not None:  # the top-level keys timm's own push_to_hf_hub writes for this model
        save_config(timm.create_model("resnet18", num_classes=0), str(tmp_path / "timm_config.json"))
        theirs = json.loads((tmp_path / "timm_config.json").read_text())
        assert set(config) - {"byol_bench"} == set(theirs)
        assert config["model_args"] == theirs["model_args"]

    # timm's data config of the loaded folder is ours, and its eval transform resizes as EvalTransform does
    model = timm.create_model(f"local-dir:{hub_dir(enc)}", pretrained=True)
    data = resolve_data_config({}, model=model)
    assert data["input_size"] == (3, 224, 224) and data["crop_pct"] == 0.875
    assert data["interpolation"] == "bicubic" and data["crop_mode"] == "center"
    assert tuple(data["mean"]) == tuple(MEAN) and tuple(data["std"]) == tuple(STD)
    steps = create_transform(**data).transforms
    assert steps[0].size == EvalTransform(224).resize == 256 and list(steps[1].size) == [224, 224]
    # at the demo's 28 px: resize 32, crop 28
    assert hub_data_config(make_cfg("resnet_small", 28))["crop_pct"] == 0.875


def test_crop_pct_reproduces_the_test_resize():
    assert timm_crop_pct(224, 256) == 0.875 and timm_crop_pct(28, 32) == 0.875
    assert timm_crop_pct(32, 37) == 32 / 37 and timm_crop_pct(8, 9) == 8 / 9
    # 443 / (443 / 506) falls just below 506 in floating point: one rounding step lower
    assert math.floor(443 / (443 / 506)) == 505
    c = timm_crop_pct(443, 506)
    assert math.floor(443 / c) == 506 and 0 < 443 / 506 - c < 1e-15
    for size in range(1, 600):
        resize = EvalTransform(size).resize
        assert math.floor(size / timm_crop_pct(size, resize)) == resize, size


def test_torchvision_resnet_loads_the_safetensors_strictly(tmp_path):
    enc, _ = export(tmp_path, "resnet18", 224)
    ours, meta = load_encoder(enc)
    tv = torchvision.models.resnet18()
    tv.fc = nn.Identity()
    tv.load_state_dict(safetensors.torch.load_file(hub_dir(enc) / "model.safetensors"), strict=True)
    x = batch(meta)
    assert torch.equal(features(tv, x), features(ours, x))


def test_external_safetensors_loads_with_backbone(tmp_path, capsys):
    """A full torchvision resnet18 (classifier included) saved as safetensors: --backbone loads it, fc dropped."""
    tv = torchvision.models.resnet18()
    tv.load_state_dict({k: v for k, v in perturbed_state("resnet18").items()}, strict=False)
    ext = tmp_path / "r18.safetensors"
    safetensors.torch.save_file(tv.state_dict(), ext)
    model, meta = load_encoder(ext, backbone="resnet18", image_size=32)
    tv.fc = nn.Identity()
    x = batch(meta)
    assert torch.equal(features(model, x), features(tv, x))
    renamed = tmp_path / "r18.bin"  # found by its header whatever its name
    renamed.write_bytes(ext.read_bytes())
    assert is_safetensors(renamed) and not is_safetensors(tmp_path / "run" / "absent")
    assert torch.equal(features(load_encoder(renamed, backbone="resnet18", image_size=32)[0], x), features(tv, x))

    out = tmp_path / "knn.json"
    assert main(["knn", "--encoder", str(ext), "--backbone", "resnet18", "--image-size", "16", "--dataset", "digits",
                 "--cache-root", str(tmp_path / "cache"), "--k", "5", "--out", str(out)]) == 0, capsys.readouterr()
    (record,) = read_results(out)
    assert record["variant"] == "k=5" and 0 <= record["value"] <= 100
    assert "Traceback" not in capsys.readouterr().err


def _one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.strip().splitlines() if " INFO " not in line and " WARNING " not in line]
    assert len(lines) == 1 and lines[0].startswith(f"byol {command}: error: "), err
    return lines[0]


def test_corrupt_safetensors_is_one_line(tmp_path, capsys):
    enc, _ = export(tmp_path, "resnet_small", 8, cifar_stem=True)
    weights = hub_dir(enc) / "model.safetensors"
    cut = tmp_path / "cut" / "model.safetensors"
    cut.parent.mkdir()
    (cut.parent / "config.json").write_bytes((hub_dir(enc) / "config.json").read_bytes())
    cut.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(EncoderLoadError) as err:
        load_encoder(cut)
    assert str(err.value).startswith(f"{cut}: not a safetensors file") and "\n" not in str(err.value)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(EncoderLoadError, match="garbage.safetensors: not a safetensors file"):
        load_encoder(garbage, backbone="resnet18")

    rc = main(["probe", "--encoder", str(cut), "--dataset", "digits", "--train-samples", "20",
               "--test-samples", "10"])
    line = _one_error_line(capsys.readouterr().err, "probe")
    assert rc == 4 and f"{cut}: not a safetensors file" in line

    # a folder is not a file: the message names the file to pass
    with pytest.raises(EncoderLoadError, match="pass .*encoder.timm/model.safetensors"):
        load_encoder(hub_dir(enc))
    # a timm folder of someone else's (no byol_bench description) needs --backbone
    other = tmp_path / "other" / "model.safetensors"
    other.parent.mkdir()
    other.write_bytes(weights.read_bytes())
    (other.parent / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 0}))
    with pytest.raises(EncoderLoadError, match="no 'byol_bench' encoder description.*--backbone timm:resnet18"):
        load_encoder(other)


def test_the_export_check_catches_a_different_function():
    """Same keys, another forward pass (the stem max-pool): the check that guards every export refuses it."""
    state = perturbed_state("resnet_small_nopool")
    ours, _ = create_backbone("resnet_small_nopool")
    ours.load_state_dict(state)
    pooled = timm.create_model("byol_resnet_small", num_classes=0)
    pooled.load_state_dict(state)
    with pytest.raises(HubExportError, match="does not compute our backbone"):
        check_same_function(ours, pooled, 28, "byol_resnet_small")
    same = timm.create_model("byol_resnet_small_nopool", pretrained=True, pretrained_cfg_overlay=dict(state_dict=state))
    check_same_function(ours, same, 28, "byol_resnet_small_nopool")  # and passes the right one


def test_no_timm_name_means_no_pair_and_no_stale_one(tmp_path, caplog):
    assert timm_architecture("resnet50") == "resnet50"
    with pytest.raises(HubExportError):
        timm_architecture("timm:resnet18", cifar_stem=True)
    with pytest.raises(HubExportError):
        timm_architecture("tf_resnet50", cifar_stem=True)
    enc, _ = export(tmp_path, "timm:resnet18", 16)  # first a pair for this path ...
    assert hub_dir(enc).is_dir()
    state = perturbed_state("timm:resnet18", cifar_stem=True)
    write_encoder(enc, state, make_cfg("timm:resnet18", 16, cifar_stem=True), step=1)  # ... then none
    assert not hub_dir(enc).exists() and "no timm-hub copy written" in caplog.text
    model, _ = load_encoder(enc)  # encoder.pt itself is complete
    assert all(torch.equal(model.state_dict()[k], state[k]) for k in state)


def test_rewrite_replaces_the_pair_whole_and_readable(tmp_path):
    enc, first = export(tmp_path, "resnet_small", 8, cifar_stem=True)
    second = {k: v.to(memory_format=torch.channels_last) if v.ndim == 4 else v  # as a channels_last run saves
              for k, v in perturbed_state("resnet_small", cifar_stem=True, seed=5).items()}
    old = os.umask(0o022)
    try:
        write_encoder(enc, second, make_cfg("resnet_small", 8, cifar_stem=True), step=20)
    finally:
        os.umask(old)
    folder = hub_dir(enc)
    saved = safetensors.torch.load_file(folder / "model.safetensors")
    assert all(torch.equal(saved[k], second[k]) for k in second)
    assert json.loads((folder / "config.json").read_text())["byol_bench"]["step"] == 20
    assert sorted(p.name for p in enc.parent.iterdir()) == ["encoder.json", "encoder.pt", "encoder.timm"]
    assert folder.stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in folder.iterdir())


@pytest.mark.parametrize("arch, reductions, stem_chs", [("byol_resnet_small_nopool_stem16", [2, 2, 4, 8, 16], 16),
                                                        ("byol_resnet_small_cifar", [1, 1, 2, 4, 8], 64),
                                                        ("byol_resnet18_cifar", [1, 1, 2, 4, 8], 64)])
def test_feature_info_of_the_registered_models(arch, reductions, stem_chs):
    model = timm.create_model(arch, features_only=True)
    assert model.feature_info.reduction() == reductions and model.feature_info.channels()[0] == stem_chs
    maps = model(torch.zeros(1, 3, 32, 32))
    assert [32 // m.shape[-1] for m in maps] == reductions
    assert [m.shape[1] for m in maps] == model.feature_info.channels()


def test_pretrain_writes_the_hub_pair(tmp_path):
    """A tiny ``byol pretrain`` (16 digits images, one epoch): the run folder's encoder.timm/ loads in timm."""
    import yaml

    cfg = {"seed": 3, "data": {"name": "digits", "max_samples": 16, "num_workers": 0},
           "augment": {"image_size": 8, "blur": False},
           "model": {"backbone": "resnet_small", "cifar_stem": True, "projector_hidden": 16, "projector_out": 8,
                     "predictor_hidden": 16},
           "optim": {"batch_size": 8, "epochs": 1, "warmup_epochs": 0.5, "base_lr": 2.0},
           "train": {"device": "cpu", "precision": "fp32", "progress": "log", "cpu_threads": 1}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["pretrain", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run")]) == 0
    run = tmp_path / "run"
    config = json.loads((run / "encoder.timm" / "config.json").read_text())
    assert config["architecture"] == "byol_resnet_small_cifar"
    assert config["byol_bench"] == json.loads((run / "encoder.json").read_text())
    assert config["pretrained_cfg"]["input_size"] == [3, 8, 8]
    ours, meta = load_encoder(run / "encoder.pt")
    model = timm.create_model("byol_resnet_small_cifar", pretrained=True, num_classes=0,
                              pretrained_cfg_overlay=dict(file=str(run / "encoder.timm" / "model.safetensors")))
    x = batch(meta)
    torch.testing.assert_close(features(model, x), features(ours, x), rtol=1e-5, atol=1e-5)
