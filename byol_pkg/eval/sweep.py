"""Hyper-parameter sweeps that train on images: fine-tuning (paper App. D.3), semi-supervised 1 % / 10 %
(App. C.1) and linear evaluation with on-the-fly augmentation (App. C.1), all selected on a validation split.

* Fine-tuning: SGD Nesterov 0.9, batch 256, 20,000 steps, cosine decay; LR in ``logspace(-4, -1, 7)``, weight
  decay in {0} ∪ ``logspace(-6, -3, 7)`` **divided by the LR** before use (PyTorch ``weight_decay = wd / lr``);
  BN running-statistics momentum from the TF decay ``max(1 - 10 / s, 0.9)``, s = steps per epoch. The best
  (LR, wd) on validation is retrained on train+val and scored on test once.
* Semi-supervised: the whole network (BN in train mode) on the labelled subset, SGD Nesterov 0.9, batch 1024,
  no weight decay; LR in {0.01, 0.02, 0.05, 0.1, 0.005} x epochs in {30, 50}. The LR values are used as given
  (the paper does not say they scale with the batch; implementation choice, recorded). The selected run is
  scored on test (no refit, as the paper).
* Linear with augmentation: frozen encoder, base LR in {0.4, 0.3, 0.2, 0.1, 0.05} x batch / 256, batch 1024,
  no weight decay; the selected run is scored on test.

A sweep keeps its state in a work folder so that a killed sweep resumes where it stopped::

    <work>/sweep.json          what the sweep is (encoder, dataset, split sizes, grid); a different sweep
                               replaces a finished one and is refused while this one is unfinished
    <work>/grid/<tag>.json     a finished grid point: hyper-parameters, run spec, validation score
    <work>/grid/<tag>.ckpt     the run in progress (deleted when it finishes)
    <work>/best.pt             weights of the best point so far (sweeps without refit)
    <work>/refit.ckpt          the refit in progress
    <work>/refit.pt            weights of the refit model, the one scored on test (sweeps with refit)
    <work>/final.json          the selected point and its test scores (a rerun returns them)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..augment import EvalTransform
from ..errors import SweepStateError
from ..io import atomic_torch_save, atomic_write_json
from .grids import (FINETUNE_BATCH, FINETUNE_LRS, FINETUNE_STEPS, FINETUNE_WDS, LINEAR_AUG_BATCH,
                    LINEAR_AUG_EPOCHS, SEMISUP_BATCH, SEMISUP_EPOCHS, SEMISUP_LRS)
from .predictions import Predictions, load_predictions, save_predictions
from .classifier import Classifier, RunSpec, TrainHooks, predict_scores, train_classifier
from ..train.tracking import Tracking

log = logging.getLogger(__name__)


ScoreFn = Callable[[np.ndarray, np.ndarray], float]


def bn_momentum(steps_per_epoch: int) -> float:
    """PyTorch BN momentum (1 - TF decay) of the fine-tuning rule: decay = max(1 - 10 / s, 0.9)."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    return 1.0 - max(1.0 - 10.0 / steps_per_epoch, 0.9)


@dataclass(frozen=True)
class GridPoint:
    """One configuration of a sweep; the run's length may be given in steps or in epochs of its data."""

    tag: str
    hyper: dict
    lr: float
    batch_size: int
    steps: int | None = None
    epochs: int | None = None
    weight_decay: float = 0.0
    frozen_encoder: bool = False
    bn_rule: bool = False

    def spec(self, num_images: int, seed: int) -> RunSpec:
        """The run on ``num_images`` training images (steps and BN momentum depend on the data size)."""
        per_epoch = math.ceil(num_images / self.batch_size)
        steps = self.steps if self.steps is not None else int(self.epochs) * per_epoch  # type: ignore[arg-type]
        return RunSpec(lr=self.lr, steps=steps, batch_size=self.batch_size, weight_decay=self.weight_decay,
                       frozen_encoder=self.frozen_encoder, bn_momentum=bn_momentum(per_epoch) if self.bn_rule else None,
                       seed=seed)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def finetune_grid(lrs: Sequence[float] = FINETUNE_LRS, wds: Sequence[float] = FINETUNE_WDS,
                  steps: int = FINETUNE_STEPS, batch_size: int = FINETUNE_BATCH) -> list[GridPoint]:
    """The paper's 7 x 8 fine-tuning grid; ``wd`` is the grid value, PyTorch gets ``wd / lr``."""
    return [GridPoint(tag=f"lr{_fmt(lr)}_wd{_fmt(wd)}", hyper={"lr": lr, "wd": wd, "torch_weight_decay": wd / lr},
                      lr=lr, batch_size=batch_size, steps=steps, weight_decay=wd / lr, bn_rule=True)
            for lr in lrs for wd in wds]


def semisup_grid(lrs: Sequence[float] = SEMISUP_LRS, epochs: Sequence[int] = SEMISUP_EPOCHS,
                 batch_size: int = SEMISUP_BATCH) -> list[GridPoint]:
    """The paper's semi-supervised grid: LR x epochs, no weight decay."""
    return [GridPoint(tag=f"lr{_fmt(lr)}_ep{e}", hyper={"lr": lr, "epochs": e}, lr=lr, batch_size=batch_size,
                      epochs=e) for lr in lrs for e in epochs]


def linear_aug_grid(base_lrs: Sequence[float], epochs: int = LINEAR_AUG_EPOCHS,
                    batch_size: int = LINEAR_AUG_BATCH) -> list[GridPoint]:
    """Linear evaluation on augmented views: frozen encoder, LR = base x batch / 256."""
    return [GridPoint(tag=f"base_lr{_fmt(b)}", hyper={"base_lr": b, "lr": b * batch_size / 256, "epochs": epochs},
                      lr=b * batch_size / 256, batch_size=batch_size, epochs=epochs, frozen_encoder=True)
            for b in base_lrs]


@dataclass
class SweepResult:
    best: GridPoint
    val_scores: dict[str, float]
    test_scores: dict[str, float]
    train_size: int
    val_size: int
    test_size: int
    refit_size: int | None
    wall_s: float
    best_spec: dict = field(default_factory=dict)
    test_predictions: Predictions | None = None  # the selected (refit) model's test scores


@dataclass
class SweepData:
    """What a sweep trains and scores on (each a dataset with ``targets``)."""

    train: object
    val: object
    test: object
    trainval: object | None = None  # the refit set; None = no refit


@dataclass
class SweepSettings:
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    multilabel: bool = False
    device: str = "cpu"
    num_workers: int = 0
    precision: str = "fp32"
    checkpoint_every: int = 500
    eval_batch_size: int = 256


def _eval_transform(s: SweepSettings) -> EvalTransform:
    """Test-time preprocessing: resize the shorter side (256 at 224 px; native for small images), centre crop."""
    return EvalTransform(s.image_size, mean=tuple(s.mean), std=tuple(s.std))



#: The selected model's test scores and labels in the work folder (copied beside the result file by the CLI).
TEST_PREDICTIONS = "test_predictions.npz"
#: Files of a sweep's state in its work folder (removed when a finished sweep is replaced by another).
_STATE = ("sweep.json", "final.json", "best.pt", "refit.ckpt", "refit.pt", TEST_PREDICTIONS)


def _check_work_dir(work: Path, fingerprint: dict) -> None:
    """Claim ``work`` for the sweep ``fingerprint``: the same sweep resumes; a different *finished* sweep (its
    result is already in the output file, which this run replaces) is cleared; a different *unfinished* one is
    refused, so that its progress is never lost."""
    marker = work / "sweep.json"
    fingerprint = json.loads(json.dumps(fingerprint))
    if marker.is_file():
        old = json.loads(marker.read_text())
        if old == fingerprint:
            return
        diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
        if not (work / "final.json").is_file():
            raise SweepStateError(f"{work} holds another, unfinished sweep (differs in: {', '.join(diff)}); "
                                  "finish it, use another output, or delete the folder")
        log.info("%s: replacing a finished sweep (differs in: %s)", work, ", ".join(diff))
        for path in (work / "grid").glob("*"):
            path.unlink()
        for name in _STATE:
            (work / name).unlink(missing_ok=True)
    atomic_write_json(marker, fingerprint)


class SweepTracking:
    """A sweep's curves on one step axis: the SGD steps of the grid points one after another, then the refit.
    Each point logs ``train/loss`` and ``train/top1`` by epoch and, once trained, ``val/<select>``; a resumed
    sweep first drops what was tracked after the step it resumes at (:meth:`Tracking.rewind`), once."""

    def __init__(self, tracking: Tracking | None, select_name: str) -> None:
        self.tracking = tracking or Tracking()
        self.select_name = select_name
        self.rewound = False
        self.offset = 0  # steps of the points before the current one

    def hooks(self) -> TrainHooks | None:
        """The training run's hooks; None with tracking off (the training loop then keeps no epoch statistics)."""
        if not self.tracking.enabled:
            return None
        return TrainHooks(started=self._started, epoch=self._epoch, saved=self.tracking.checkpoint)

    def _started(self, step: int) -> None:
        if not self.rewound:
            self.tracking.rewind(self.offset + step)
            self.rewound = True

    def _epoch(self, step: int, stats: dict) -> None:
        self.tracking.log_metrics({f"train/{k}": v for k, v in stats.items()}, self.offset + step)

    def point_done(self, steps: int, val_score: float | None = None) -> None:
        """A point (or the refit) of ``steps`` steps is done (its result saved): its validation score."""
        self.offset += steps
        if val_score is not None:
            self.tracking.log_metrics({f"val/{self.select_name}": val_score}, self.offset)
        self.tracking.checkpoint()


def run_sweep(points: Sequence[GridPoint], make_model: Callable[[], Classifier], data: SweepData,
              settings: SweepSettings, select: ScoreFn, test_metrics: dict[str, ScoreFn], work: Path,
              fingerprint: dict, seed: int = 0, desc: str = "sweep", tracking: Tracking | None = None,
              select_name: str = "score") -> SweepResult:
    """Train every point on ``data.train``, score ``data.val`` with ``select`` (higher is better; ties: the
    earlier point), then score the selected configuration on ``data.test`` once: retrained on ``data.trainval``
    when given, else the selected run itself. ``tracking``: the curves (:class:`SweepTracking`) and, at the end,
    the selected point and test scores."""
    if not points:
        raise ValueError("the hyper-parameter grid is empty")
    t0 = time.perf_counter()
    work = Path(work)
    (work / "grid").mkdir(parents=True, exist_ok=True)
    grid = [{k: v for k, v in dataclasses.asdict(p).items() if k != "hyper"} for p in points]
    _check_work_dir(work, {**fingerprint, "grid": grid, "seed": seed,
                           "refit": data.trainval is not None})
    keep_best = data.trainval is None
    s = settings
    track = SweepTracking(tracking, select_name)
    val_scores: dict[str, float] = {}
    for i, point in enumerate(points):
        done = work / "grid" / f"{point.tag}.json"
        if done.is_file():
            val_scores[point.tag] = float(json.loads(done.read_text())["val_score"])
            log.info("%s: %s already done (validation %.2f)", desc, point.tag, val_scores[point.tag])
            track.offset += point.spec(len(data.train), seed).steps
        else:
            spec = point.spec(len(data.train), seed)
            log.info("%s: point %d/%d %s (%d steps)", desc, i + 1, len(points), point.tag, spec.steps)
            t1 = time.perf_counter()
            ckpt = work / "grid" / f"{point.tag}.ckpt"
            model = train_classifier(make_model(), data.train, spec, s.image_size, s.mean, s.std, s.multilabel,
                                     s.device, ckpt, s.checkpoint_every, s.num_workers, s.precision,
                                     desc=f"{desc} {point.tag}", hooks=track.hooks())
            scores, labels = predict_scores(model, data.val, _eval_transform(s), s.eval_batch_size, s.device,
                                            s.num_workers, s.precision)
            val_scores[point.tag] = float(select(scores, labels))
            if keep_best and all(val_scores[p.tag] < val_scores[point.tag] for p in points[:i]):
                atomic_torch_save(work / "best.pt", {"tag": point.tag, "model": model.state_dict()})
            atomic_write_json(done, {"tag": point.tag, "hyper": point.hyper, "spec": spec.describe(),
                                     "val_score": val_scores[point.tag], "wall_s": time.perf_counter() - t1})
            ckpt.unlink(missing_ok=True)
            track.point_done(spec.steps, val_scores[point.tag])
            log.info("%s: %s validation %.2f", desc, point.tag, val_scores[point.tag])
    best = max(points, key=lambda p: (val_scores[p.tag], -points.index(p)))
    final = work / "final.json"
    if final.is_file():
        saved = json.loads(final.read_text())
        if (saved["selected"] == best.tag and sorted(saved["test_scores"]) == sorted(test_metrics)
                and (work / TEST_PREDICTIONS).is_file()):
            log.info("%s: already finished (%s)", desc, final)
            if data.trainval is not None:
                track.offset += best.spec(len(data.trainval), seed).steps
            _track_end(track, best, saved["test_scores"])
            return _result(best, val_scores, saved["test_scores"], data, t0, saved["spec"],
                           load_predictions(work / TEST_PREDICTIONS))

    # Only now is the test split touched, once, for the selected configuration.
    if data.trainval is not None:
        spec = best.spec(len(data.trainval), seed)
        log.info("%s: refit %s on train+val (%d images, %d steps)", desc, best.tag, len(data.trainval), spec.steps)
        model = train_classifier(make_model(), data.trainval, spec, s.image_size, s.mean, s.std, s.multilabel,
                                 s.device, work / "refit.ckpt", s.checkpoint_every, s.num_workers, s.precision,
                                 desc=f"{desc} refit", hooks=track.hooks())
        atomic_torch_save(work / "refit.pt", {"tag": best.tag, "model": model.state_dict()})
        (work / "refit.ckpt").unlink(missing_ok=True)
        track.point_done(spec.steps)
    else:
        spec = best.spec(len(data.train), seed)
        model = make_model()
        state = torch.load(work / "best.pt", map_location="cpu", weights_only=True)
        if state["tag"] != best.tag:
            raise RuntimeError(f"{work / 'best.pt'} holds {state['tag']}, expected the selected {best.tag}")
        model.load_state_dict(state["model"])
    scores, labels = predict_scores(model, data.test, _eval_transform(s), s.eval_batch_size, s.device,
                                    s.num_workers, s.precision)
    test_scores = {name: float(fn(scores, labels)) for name, fn in test_metrics.items()}
    predictions = Predictions(labels=np.asarray(labels), scores=np.asarray(scores))
    save_predictions(work / TEST_PREDICTIONS, predictions)  # before final.json: a finished sweep has both
    atomic_write_json(final, {"selected": best.tag, "test_scores": test_scores, "spec": spec.describe()})
    _track_end(track, best, test_scores)
    return _result(best, val_scores, test_scores, data, t0, spec.describe(), predictions)


def _track_end(track: SweepTracking, best: GridPoint, test_scores: dict[str, float]) -> None:
    """The sweep's summary: the selected point's numeric hyper-parameters and the test scores, at its last step."""
    summary = {f"selected/{k}": v for k, v in best.hyper.items()}
    track.tracking.log_summary({**summary, **{f"test/{k}": v for k, v in test_scores.items()}}, track.offset)


def _result(best: GridPoint, val_scores: dict[str, float], test_scores: dict[str, float], data: SweepData,
            t0: float, spec: dict, predictions: Predictions | None = None) -> SweepResult:
    return SweepResult(best=best, val_scores=val_scores, test_scores=test_scores, train_size=len(data.train),
                       val_size=len(data.val), test_size=len(data.test),
                       refit_size=None if data.trainval is None else len(data.trainval),
                       wall_s=time.perf_counter() - t0, best_spec=spec, test_predictions=predictions)
