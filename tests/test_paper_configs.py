"""The paper's protocols in the shipped configs, checked in numbers: the batch-size ablation by gradient
accumulation at the baseline's global batch (App. F.2), the ImageNet preset's BatchNorm over all 4,096 images,
and config/imagenet.yaml's comparison rows (SimCLR (repro), Supervised-IN, random init) with their published
counterparts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from byol_pkg.config import ConfigError, load_config, to_flat_dict
from byol_pkg.report import published as pub
from byol_pkg.report.plots import _published_transfer
from byol_pkg.report.records import method_label
from byol_pkg.train.pretrain import plan_run

ROOT = Path(__file__).resolve().parents[1]
IMAGENET_TRAIN = 1281167  # the preset's data.epoch_size


def _read(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())


def _overrides(sets: dict) -> list[str]:
    return [f"{key}={json.dumps(value)}" for key, value in sets.items()]


def _run_config(workflow: dict, run: str, extra: dict | None = None):
    """A pretraining run of a workflow config resolved as `byol pretrain` resolves it (preset + --set)."""
    spec = workflow["pretrain"][run]
    return load_config(spec["config"], _overrides({**(spec.get("set") or {}), **(extra or {})}))


# ----------------------------------------------------------------------------------------------- Table 16


def test_batch_size_ablation_accumulates_to_the_baseline_global_batch():
    """Each smaller batch B is a micro-batch: N = 256 / B micro-batches per optimiser step and target update, so
    K = 12,800 x 2 / 256 = 100 steps, 10 warm-up steps and peak LR 2.0 x 256 / 256 = 2.0 in every row; only the
    BatchNorm batch (the micro-batch, one process) shrinks."""
    workflow = _read("ablations_demo")
    ablation = workflow["ablations"]["batch_size"]
    assert set(ablation["methods"]) == {"byol", "simclr"}
    for method in ablation["methods"]:
        run = workflow["methods"][method]["pretrain"]
        plans = {}
        for variant, sets in ablation["variants"].items():
            cfg = _run_config(workflow, run, sets)
            assert cfg.data.max_samples == 12800 and cfg.method.name == method
            plans[int(variant)] = plan_run(cfg, 12800, world_size=1)
        assert sorted(plans) == [64, 128, 256]
        for batch, plan in plans.items():
            assert (plan.micro_batch, plan.accumulate, plan.global_batch) == (batch, 256 // batch, 256)
            assert plan.steps.total_steps == 100 and plan.steps.warmup_steps == 10
            assert plan.peak_lr == pytest.approx(2.0)
        assert plans[128].accumulate == 2 and plans[64].accumulate == 4


def _tiny_config(path):
    """tests/test_pretrain.py's tiny digits run at the ablation baseline's batch of 256."""
    from tests.test_pretrain import write_config

    return write_config(path, data={"max_samples": 512}, optim={"batch_size": 256},
                        train={"checkpoint_every_steps": 100, "checkpoint_every_epochs": 0})


@pytest.mark.slow
def test_batch_size_ablation_variant_logs_the_baselines_steps_and_lr(tmp_path):
    """A real run with the config's batch-64 overrides (4 micro-batches of 64 per step) logs the optimiser steps,
    learning rates and target rates of the unaccumulated batch-256 run: K = 512 x 2 / 256 = 4 steps, 1 warm-up
    step, peak LR 2.0 x 256 / 256 = 2.0."""
    from byol_pkg.cli import main

    sets = _read("ablations_demo")["ablations"]["batch_size"]["variants"]["64"]
    assert load_config(None, _overrides(sets)).optim.batch_size == 64  # the variant is the micro-batch
    _tiny_config(tmp_path / "cfg.yaml")
    runs = {"256": [], "64": _overrides(sets)}
    for name, overrides in runs.items():
        argv = ["pretrain", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / name)]
        assert main(argv + [a for o in overrides for a in ("--set", o)]) == 0
    summary = {n: json.loads((tmp_path / n / "summary.json").read_text()) for n in runs}
    metrics = {}
    for n in runs:
        with (tmp_path / n / "metrics.csv").open() as f:
            metrics[n] = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    assert summary["256"]["accumulate_steps"] == 1 and summary["64"]["accumulate_steps"] == 4
    for s in summary.values():
        assert s["global_batch"] == 256 and s["total_steps"] == 4 and s["peak_lr"] == pytest.approx(2.0)
    assert [r["step"] for r in metrics["64"]] == [r["step"] for r in metrics["256"]] == [1, 2, 3, 4]
    for acc, ref in zip(metrics["64"], metrics["256"]):
        assert acc["lr"] == pytest.approx(ref["lr"]) and acc["tau"] == pytest.approx(ref["tau"])
    assert max(r["lr"] for r in metrics["64"]) == pytest.approx(2.0)


# ----------------------------------------------------------------------------------------------- ImageNet preset


def test_imagenet_preset_normalises_over_the_whole_4096_batch():
    """512 images per process x 8 processes with SyncBN: BN statistics over 4,096 images, no accumulation, and
    the paper's K = 312,784, W = 3,127 and peak LR 0.2 x 4096 / 256 = 3.2."""
    cfg = load_config("imagenet")
    assert (cfg.optim.batch_size, cfg.optim.global_batch, cfg.model.sync_bn) == (512, 4096, True)
    assert cfg.train.precision == "bf16"  # about 46 GiB per GPU at 512 (docs/speed.md); fp32 would not fit 80 GB
    plan = plan_run(cfg, IMAGENET_TRAIN, world_size=8)
    assert (plan.micro_batch, plan.world_size, plan.accumulate, plan.global_batch) == (512, 8, 1, 4096)
    assert plan.micro_batch * plan.world_size == 4096  # SyncBN's batch: every process's micro-batch
    assert (plan.steps.total_steps, plan.steps.warmup_steps) == (312784, 3127)
    assert plan.peak_lr == pytest.approx(3.2)
    # fewer GPUs: the same optimiser steps and LR through accumulation, but BN over fewer images
    for gpus, accumulate in ((4, 2), (1, 8)):
        fewer = plan_run(cfg, IMAGENET_TRAIN, world_size=gpus)
        assert (fewer.accumulate, fewer.global_batch, fewer.micro_batch * gpus) == (accumulate, 4096, 512 * gpus)
        assert fewer.steps.total_steps == 312784 and fewer.peak_lr == pytest.approx(3.2)
    with pytest.raises(ConfigError, match="global_batch"):  # 16 processes need optim.batch_size=256
        plan_run(cfg, IMAGENET_TRAIN, world_size=16)
    assert plan_run(load_config("imagenet", ["optim.batch_size=256"]), IMAGENET_TRAIN, 16).accumulate == 1


def test_imagenet_workflow_runs_fill_the_preset_batch_on_their_gpus():
    """config/imagenet.yaml's runs (BYOL, SimCLR (repro)) each launch 8 processes: 8 x 512 = 4096, accumulate 1."""
    workflow = _read("imagenet")
    assert set(workflow["pretrain"]) == {"imagenet", "imagenet_simclr"}
    for run, spec in workflow["pretrain"].items():
        plan = plan_run(_run_config(workflow, run), IMAGENET_TRAIN, world_size=spec["gpus"])
        assert (spec["gpus"], plan.accumulate, plan.global_batch) == (8, 1, 4096), run


# ----------------------------------------------------------------------------------------------- comparison rows


def test_imagenet_config_pretrains_simclr_with_the_byol_run_settings():
    """SimCLR (repro): the same preset (ResNet-50, batch 4096, LARS, 1000 epochs, BYOL's augmentations and
    projector) with the SimCLR objective: no predictor, online projection as target, beta 1, alpha 0.1."""
    workflow = _read("imagenet")
    assert workflow["methods"]["simclr"] == {"pretrain": "imagenet_simclr"}
    byol, simclr = _run_config(workflow, "imagenet"), _run_config(workflow, "imagenet_simclr")
    assert (byol.method.name, simclr.method.name) == ("byol", "simclr")
    assert (simclr.method.predictor, simclr.method.target, simclr.method.beta, simclr.method.alpha) == (
        False, "online", 1.0, 0.1)
    flat_byol, flat_simclr = to_flat_dict(byol), to_flat_dict(simclr)
    differ = {k for k in flat_byol if flat_byol[k] != flat_simclr[k]}
    assert differ and all(k.startswith("method.") for k in differ)
    assert (simclr.model.backbone, simclr.optim.global_batch, simclr.optim.epochs) == ("resnet50", 4096, 1000)
    assert (simclr.model.projector_hidden, simclr.model.projector_out) == (4096, 256)


def test_imagenet_config_evaluates_torchvisions_supervised_resnet50_as_supervised_in():
    workflow = _read("imagenet")
    spec = workflow["methods"][pub.SUPERVISED_IN]
    assert spec == {"weights": "data/torchvision/resnet50-0676ba61.pth", "backbone": "resnet50"}
    text = (ROOT / "config" / "imagenet.yaml").read_text()
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in text  # how the user gets the file
    assert set(workflow["methods"]) == {"byol", "simclr", pub.SUPERVISED_IN, "random-init"}
    # the report: its label, and the paper's Supervised-IN [8] rows beside it (Table 3, linear and fine-tuned)
    assert method_label(pub.SUPERVISED_IN) == "Supervised-IN"
    for rows in (pub.TABLE3_LINEAR, pub.TABLE3_FINETUNED):
        (row,) = [r for r in rows if r.method == "Supervised-IN [8]"]
        assert row.paired_method([pub.SUPERVISED_IN, "supervised"]) == pub.SUPERVISED_IN
    assert pub.published_value(pub.TABLE3_LINEAR, pub.SUPERVISED_IN, "food101") == 72.3
    assert pub.published_value(pub.TABLE3_FINETUNED, pub.SUPERVISED_IN, "flowers102") == 97.6
    assert pub.published_value(pub.TABLE3_LINEAR, "simclr", "birdsnap") == 42.4  # SimCLR (repro), not [8]
    assert pub.published_value(pub.TABLE3_FINETUNED, "random-init", "dtd") == 64.8
    # every table method of the config stands beside a published Table 3 row (random init: fine-tuned only)
    methods = list(workflow["methods"])
    plotted = _published_transfer("finetune", ["food101"], methods)
    assert dict(zip(plotted["label"], plotted["value"])) == {
        "BYOL (published, R50)": 88.5, "SimCLR (published, R50)": 87.5, "Supervised-IN (published, R50)": 88.3,
        "Random init (published, R50)": 86.9}
