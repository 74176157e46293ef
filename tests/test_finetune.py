"""Fine-tuning, semi-supervised and augmented linear evaluation (the protocols that train on images), on real
digits data and a real saved encoder."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from byol_pkg.cli import main
from byol_pkg.data import build_dataset
from byol_pkg.eval.encoder import load_encoder
from byol_pkg.eval.sweep import (FINETUNE_LRS, FINETUNE_WDS, bn_momentum, finetune_grid,
                                    linear_aug_grid, semisup_grid)
from byol_pkg.eval.results import read_results
from byol_pkg.data.subsets import balanced_subset, read_subset
from byol_pkg.eval.classifier import (Classifier, CropFlipViews, IndexedImages, RunSpec, classification_loss,
                                      cosine_lr, train_classifier)

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)




def _classifier(encoder_path: Path, frozen: bool = False) -> Classifier:
    model, meta = load_encoder(encoder_path)
    return Classifier(model, meta["feature_dim"], 10, frozen_encoder=frozen)


# ------------------------------------------------------------------------------------------------ the grids


def test_finetune_grid_is_the_papers():
    np.testing.assert_allclose(FINETUNE_LRS, [1e-4, 10 ** -3.5, 1e-3, 10 ** -2.5, 1e-2, 10 ** -1.5, 1e-1])
    np.testing.assert_allclose(FINETUNE_WDS, [0.0, 1e-6, 10 ** -5.5, 1e-5, 10 ** -4.5, 1e-4, 10 ** -3.5, 1e-3])
    grid = finetune_grid()
    assert len(grid) == 56 and len({p.tag for p in grid}) == 56
    p = next(p for p in grid if p.hyper["lr"] == pytest.approx(1e-2) and p.hyper["wd"] == pytest.approx(1e-4))
    spec = p.spec(num_images=2560, seed=0)
    assert spec.weight_decay == pytest.approx(1e-2)  # wd / lr
    assert spec.steps == 20_000 and spec.batch_size == 256 and spec.momentum == 0.9 and spec.nesterov
    assert spec.bn_momentum == pytest.approx(0.1)  # s = 10 steps/epoch: max(1 - 10/10, 0.9) = 0.9


def test_bn_momentum_rule_in_tf_decay_convention():
    # PyTorch momentum = 1 - max(1 - 10/s, 0.9)
    assert bn_momentum(5) == pytest.approx(0.1)
    assert bn_momentum(100) == pytest.approx(0.1)
    assert bn_momentum(200) == pytest.approx(0.05)
    assert bn_momentum(1000) == pytest.approx(0.01)
    assert bn_momentum(1) == pytest.approx(0.1)  # one step per epoch: decay max(-9, 0.9)
    for bad in (0, -3):
        with pytest.raises(ValueError, match=f"steps_per_epoch must be >= 1, got {bad}"):
            bn_momentum(bad)
    # Stanford Cars refit: 8,144 images / 256 -> s = 32 -> decay 0.9
    assert finetune_grid([0.1], [0.0])[0].spec(8144, 0).bn_momentum == pytest.approx(0.1)
    # ImageNet-size data: 1,281,167 / 256 -> s = 5,005 -> decay 1 - 10/5005
    assert finetune_grid([0.1], [0.0])[0].spec(1_281_167, 0).bn_momentum == pytest.approx(10 / 5005)


def test_semisup_and_linear_grids():
    grid = semisup_grid()
    assert sorted(p.hyper["lr"] for p in grid) == sorted([0.01, 0.02, 0.05, 0.1, 0.005] * 2)
    assert {p.hyper["epochs"] for p in grid} == {30, 50} and all(p.batch_size == 1024 for p in grid)
    spec = next(p for p in grid if p.hyper == {"lr": 0.05, "epochs": 30}).spec(12_811, 0)
    assert spec.steps == 30 * math.ceil(12_811 / 1024) and spec.weight_decay == 0 and spec.bn_momentum is None
    lin = linear_aug_grid([0.4, 0.3, 0.2, 0.1, 0.05])
    assert [p.lr for p in lin] == pytest.approx([1.6, 1.2, 0.8, 0.4, 0.2])  # base x 1024 / 256
    assert all(p.frozen_encoder and p.weight_decay == 0 for p in lin)
    assert (lin[0].epochs, lin[0].batch_size) == (80, 1024)  # App. C.1: 80 epochs at batch 1024
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):  # a grid point is a value: shared, never edited
        lin[0].lr = 1.0  # type: ignore[misc]


def test_cosine_schedule_values():
    assert cosine_lr(0.4, 0, 100) == pytest.approx(0.4)
    assert cosine_lr(0.4, 50, 100) == pytest.approx(0.2)
    assert cosine_lr(0.4, 100, 100) == pytest.approx(0.0)
    assert cosine_lr(0.4, 25, 100) == pytest.approx(0.2 * (1 + math.cos(math.pi / 4)))


# ----------------------------------------------------------------------------------------- the training loop


def test_multilabel_loss_ignores_difficult_entries():
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.5, 3.0]])
    target = torch.tensor([[1, -1, 0], [0, 1, -1]])
    # kept entries: (0,0) y=1 x=0; (0,1) y=0 x=2; (1,1) y=1 x=0.5; (1,2) y=0 x=3
    expected = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(3))) / 4
    assert classification_loss(logits, target, multilabel=True).item() == pytest.approx(expected, rel=1e-6)
    ce = classification_loss(logits[:, :2], torch.tensor([1, 0]), multilabel=False)
    assert ce.item() == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:, :2], torch.tensor([1, 0]))))


def test_crop_flip_views_are_keyed_and_carry_no_colour_change():
    flat = torch.full((3, 20, 24), 200, dtype=torch.uint8)
    views = CropFlipViews([(flat, 3)] * 4, size=8, mean=MEAN, std=STD, seed=0)
    x, y = views[5]  # epoch 1, image 1
    assert y == 3 and x.shape == (3, 8, 8)
    torch.testing.assert_close(x, torch.full_like(x, (200 / 255 - 0.5) / 0.25))  # only geometry changes
    img = torch.randint(0, 256, (3, 20, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    views = CropFlipViews([(img, 0)] * 4, size=8, mean=MEAN, std=STD, seed=0)
    again = CropFlipViews([(img, 0)] * 4, size=8, mean=MEAN, std=STD, seed=0)
    torch.testing.assert_close(again[5][0], views[5][0])  # a fresh instance replays the same key
    assert not torch.equal(views[5][0], views[1][0])  # another epoch, another crop
    other_seed = CropFlipViews([(img, 0)] * 4, size=8, mean=MEAN, std=STD, seed=1)
    assert not torch.equal(other_seed[5][0], views[5][0])


def test_frozen_encoder_trains_only_the_head(encoder_path):
    data = IndexedImages(build_dataset("digits", None, "train"), np.arange(64))
    model = _classifier(encoder_path, frozen=True)
    enc_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head_before = model.head.weight.detach().clone()
    train_classifier(model, data, RunSpec(lr=0.5, steps=3, batch_size=16, frozen_encoder=True), 8, MEAN, STD)
    for k, v in model.encoder.state_dict().items():  # weights and BN running statistics untouched
        torch.testing.assert_close(v, enc_before[k], rtol=0, atol=0)
    assert not torch.equal(model.head.weight, head_before)


def test_finetuning_updates_encoder_with_the_bn_rule(encoder_path):
    data = IndexedImages(build_dataset("digits", None, "train"), np.arange(64))
    model = _classifier(encoder_path)
    before = model.encoder.state_dict()["conv1.weight"].clone()
    spec = RunSpec(lr=0.1, steps=2, batch_size=16, weight_decay=1e-3, bn_momentum=0.01)
    train_classifier(model, data, spec, 8, MEAN, STD)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.01 for m in bns)
    assert not torch.equal(model.encoder.state_dict()["conv1.weight"], before)


class _FailAfter(torch.utils.data.Dataset):
    """The real digits images; raises after ``n`` fetches (a crash in the middle of a run)."""

    def __init__(self, base, n: int) -> None:
        self.base, self.n, self.calls = base, n, 0
        self.targets = base.targets

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        self.calls += 1
        if self.calls > self.n:
            raise RuntimeError("simulated crash")
        return self.base[i]


def test_a_crashed_run_resumes_from_its_checkpoint_to_identical_weights(encoder_path, tmp_path):
    data = IndexedImages(build_dataset("digits", None, "train"), np.arange(48))
    spec = RunSpec(lr=0.05, steps=6, batch_size=16, weight_decay=1e-4, bn_momentum=0.1, seed=3)
    torch.manual_seed(0)
    straight = train_classifier(_classifier(encoder_path), data, spec, 8, MEAN, STD)

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_classifier(_classifier(encoder_path), _FailAfter(data, 16 * 4 + 3), spec, 8, MEAN, STD,
                         checkpoint=ckpt, checkpoint_every=2)
    assert torch.load(ckpt, weights_only=True)["step"] == 4
    resumed = train_classifier(_classifier(encoder_path), data, spec, 8, MEAN, STD, checkpoint=ckpt,
                               checkpoint_every=2)
    assert list(straight.state_dict()) == list(resumed.state_dict()) and len(straight.state_dict()) > 10
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


# ------------------------------------------------------------------------------------------------- commands


def _common(encoder_path: Path, tmp_path: Path) -> list[str]:
    return ["--encoder", str(encoder_path), "--dataset", "digits", "--cache-root", str(tmp_path / "cache")]


def test_finetune_command_selects_on_validation_refits_and_resumes(encoder_path, tmp_path, capfd):
    out = tmp_path / "ft.json"
    argv = ["finetune", *_common(encoder_path, tmp_path), "--lrs", "0.001", "0.05", "--wds", "0", "1e-4",
            "--steps", "4", "--batch-size", "32", "--out", str(out)]
    assert main(argv) == 0
    (rec,) = read_results(out)
    assert rec["protocol"] == "finetune" and rec["metric"] == "top1" and 0 <= rec["value"] <= 100
    assert rec["split_sizes"] == {"train": 1293, "val": 144, "test": 360, "trainval": 1437}
    hp = rec["hyperparameters"]
    assert len(hp["val_scores"]) == 4
    best = max(hp["val_scores"].values())
    first_best = next(t for t, v in hp["val_scores"].items() if v == best)  # ties: the earlier grid point
    assert hp["selected"] == first_best
    assert hp["run"]["weight_decay"] == pytest.approx(hp["wd"] / hp["lr"])
    assert hp["run"]["bn_momentum"] == pytest.approx(0.1)  # 1,437 / 32 -> 45 steps/epoch: decay 0.9
    work = tmp_path / "ft.work"
    assert sorted(p.name for p in (work / "grid").glob("*.json")) == sorted(f"{t}.json" for t in hp["val_scores"])
    assert not list(work.rglob("*.ckpt"))

    # A rerun reuses every finished grid point and the final score; so does one that lost its final step.
    capfd.readouterr()
    assert main(argv) == 0
    assert "already finished" in capfd.readouterr().err
    assert read_results(out)[0]["value"] == rec["value"]
    (work / "final.json").unlink()
    (work / "grid" / f"{hp['selected']}.json").unlink()
    assert main(argv) == 0
    err = capfd.readouterr().err
    assert err.count("already done") == 3 and f"point {list(hp['val_scores']).index(hp['selected']) + 1}/4" in err
    assert read_results(out)[0]["value"] == rec["value"]  # same weights, same number
    # Another sweep while this one is unfinished is refused instead of mixed in; nothing is touched.
    (work / "final.json").unlink()
    before = sorted(p.name for p in work.rglob("*"))
    other = argv[:-2] + ["--steps", "5", "--out", str(out)]
    assert main(other) == 6  # SweepStateError
    err = capfd.readouterr().err.strip().splitlines()
    assert "holds another, unfinished sweep (differs in: grid)" in err[-1] and len(err) == 2  # log + one line
    assert sorted(p.name for p in work.rglob("*")) == before
    # Once it has finished (its result is in the output file), a changed sweep replaces it: what a workflow
    # rerun after a config change needs.
    assert main(argv) == 0 and (work / "final.json").is_file()
    assert main(other) == 0
    assert "replacing a finished sweep (differs in: grid)" in capfd.readouterr().err
    assert read_results(out)[0]["hyperparameters"]["steps"] == 5
    assert read_results(out)[0]["hyperparameters"]["run"]["steps"] == 5  # refit again, not the old final.json
    assert len(list((work / "grid").glob("*.json"))) == 4
    for point in (work / "grid").glob("*.json"):  # every point trained again, none kept from the old sweep
        assert json.loads(point.read_text())["spec"]["steps"] == 5, point.name
    smaller = [("16" if i == other.index("--batch-size") + 1 else a) for i, a in enumerate(other)]
    assert main(smaller) == 0  # the batch size is part of what a grid point is
    assert "replacing a finished sweep (differs in: grid)" in capfd.readouterr().err


def test_semisup_command_uses_a_saved_balanced_subset_without_validation_images(encoder_path, tmp_path):
    out = tmp_path / "semi.json"
    assert main(["semisup", *_common(encoder_path, tmp_path), "--fraction", "0.1", "--lrs", "0.05",
                 "--epochs", "2", "--batch-size", "64", "--out", str(out)]) == 0
    recs = read_results(out)
    assert [r["metric"] for r in recs] == ["top1", "top5"] and all(r["protocol"] == "semisup" for r in recs)
    hp = recs[0]["hyperparameters"]
    subset_file = Path(hp["subset"])
    train = build_dataset("digits", None, "train")
    idx = read_subset(subset_file, train)
    counts = np.bincount(train.targets, minlength=10)
    assert hp["labelled_images"] == len(idx) == sum(max(1, round(0.1 * c)) for c in counts)
    split = json.loads((tmp_path / "cache/splits/digits_train_val0.1_seed0.json").read_text())
    assert not set(idx.tolist()) & set(split["val"])
    assert recs[0]["split_sizes"]["train"] == len(idx) and recs[0]["split_sizes"]["val"] == 144
    assert hp["run"]["steps"] == 2 * math.ceil(len(idx) / 64)
    # the subset is drawn per class with the seed, excluding the hold-out
    np.testing.assert_array_equal(idx, balanced_subset(train.targets, 0.1, 0, exclude=np.asarray(split["val"])))


def test_linear_augmented_mode_trains_on_crops_with_a_frozen_encoder(encoder_path, tmp_path):
    out = tmp_path / "lin.json"
    assert main(["linear", *_common(encoder_path, tmp_path), "--mode", "augmented", "--base-lrs", "0.1", "0.05",
                 "--epochs", "1", "--batch-size", "256", "--out", str(out)]) == 0
    top1, top5 = read_results(out)
    assert top1["metric"] == "top1" and top5["metric"] == "top5" and top5["value"] >= top1["value"]
    hp = top1["hyperparameters"]
    assert hp["mode"].startswith("augmented") and set(hp["val_scores"]) == {"base_lr0.1", "base_lr0.05"}
    assert hp["run"]["frozen_encoder"] and hp["run"]["lr"] == pytest.approx(hp["base_lr"] * 256 / 256)
    assert "trainval" not in top1["split_sizes"]  # the selected run itself is reported, no refit


def test_grid_hyperparameters_recorded_as_run():
    """What a record says of each point is what the point trains with: PyTorch's weight decay = wd / lr, and the
    augmented linear LR = base x batch / 256 at any batch."""
    assert not any(p.frozen_encoder for p in finetune_grid([0.01], [0.0]) + semisup_grid([0.01], [1]))
    for p in finetune_grid([0.01, 0.1], [0.0, 1e-4]):
        assert p.hyper["torch_weight_decay"] == p.weight_decay == pytest.approx(p.hyper["wd"] / p.hyper["lr"])
    for p in linear_aug_grid([0.4, 0.1], epochs=3, batch_size=512):
        assert p.hyper == {"base_lr": p.hyper["base_lr"], "lr": p.lr, "epochs": 3}
        assert p.lr == pytest.approx(p.hyper["base_lr"] * 2)


def test_sweep_defaults():
    import inspect

    from byol_pkg.eval.sweep import SweepSettings, run_sweep

    s = SweepSettings(image_size=8, mean=MEAN, std=STD)
    assert (s.multilabel, s.device, s.num_workers, s.precision, s.checkpoint_every, s.eval_batch_size) == (
        False, "cpu", 0, "fp32", 500, 256)
    assert inspect.signature(run_sweep).parameters["seed"].default == 0


def test_tied_points_keep_the_first_and_a_tampered_state_is_refused(encoder_path, tmp_path, capfd):
    """Two points that train the same head (LRs too small to move it) tie on validation: the earlier one is
    selected and its weights kept (best.pt). A best.pt naming another point, or holding anything but tensors, is
    refused; a final.json naming another point is recomputed, not trusted."""
    out = tmp_path / "lin.json"
    argv = ["linear", *_common(encoder_path, tmp_path), "--mode", "augmented", "--base-lrs", "1e-12", "2e-12",
            "--epochs", "1", "--batch-size", "256", "--out", str(out)]
    t0 = time.perf_counter()
    assert main(argv) == 0
    elapsed = time.perf_counter() - t0
    (rec, rec5) = read_results(out)
    hp = rec["hyperparameters"]
    assert hp["val_scores"]["base_lr1e-12"] == hp["val_scores"]["base_lr2e-12"] and hp["selected"] == "base_lr1e-12"
    assert 0 < rec["wall_s"] <= elapsed
    work = tmp_path / "lin.work"
    points = [json.loads(p.read_text()) for p in (work / "grid").glob("*.json")]
    assert len(points) == 2 and all(0 < p["wall_s"] <= rec["wall_s"] for p in points)  # each point's own time
    assert json.loads((work / "sweep.json").read_text())["refit"] is False  # the selected run itself is scored
    best = torch.load(work / "best.pt", weights_only=True)
    assert best["tag"] == "base_lr1e-12"

    final = json.loads((work / "final.json").read_text())
    for tampered in ({"selected": "base_lr9"}, {"selected": "base_lr0"},  # tags after and before the real one
                     {"test_scores": {"top1": 1.0}}, {"test_scores": {**final["test_scores"], "x": 1.0}}):
        (work / "final.json").write_text(json.dumps({**final, **tampered}))
        capfd.readouterr()
        assert main(argv) == 0 and "already finished" not in capfd.readouterr().err, tampered  # recomputed
        assert [r["value"] for r in read_results(out)] == [rec["value"], rec5["value"]]

    (work / "final.json").unlink()
    for other in ("base_lr2e-12", "base_lr0"):
        torch.save({**best, "tag": other}, work / "best.pt")
        with pytest.raises(RuntimeError, match=f"lin.work/best.pt holds {other}, expected the selected base_lr1e-12"):
            main(argv)
    torch.save({**best, "note": Path("x")}, work / "best.pt")  # a pickled object, not a tensor
    with pytest.raises(Exception, match="Weights only load failed"):
        main(argv)
    torch.save(best, work / "best.pt")
    assert main(argv) == 0  # finished again; now the same sweep with another number of epochs replaces it
    capfd.readouterr()
    two_epochs = [("2" if i == argv.index("--epochs") + 1 else a) for i, a in enumerate(argv)]
    assert main(two_epochs) == 0
    assert "replacing a finished sweep (differs in: grid)" in capfd.readouterr().err


def test_sweep_result_counts_its_splits_and_time():
    from byol_pkg.eval.sweep import SweepData, _result

    t0 = time.perf_counter() - 0.25
    res = _result(linear_aug_grid([0.1])[0], {"base_lr0.1": 1.0}, {"top1": 2.0},
                  SweepData(train=[0] * 3, val=[0] * 2, test=[0]), t0, {})
    assert 0.25 <= res.wall_s < 0.9  # seconds since t0 (not a ratio or a sum of clock readings)
    assert (res.train_size, res.val_size, res.test_size, res.refit_size) == (3, 2, 1, None)
