"""The paper's protocol defaults and preset headline values, pinned in one table (BYOL_SPEC.md Sec. 4-6; paper
Sec. 3.3, App. B, C.1, D.2, D.3, G). Each row reads the value where a user meets it: the ``byol`` command's
parsed default, the config dataclass, or the preset file. A one-line change of any of them (80 epochs to 8, a
grid value, a preset's LR or tau) fails here with the row's name."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from byol_pkg.cli import build_parser
from byol_pkg.config import Config, load_config
from byol_pkg.eval import linear, logreg, sweep

ENCODER = ["--encoder", "e.pt", "--dataset", "d", "--out", "o.json"]


def parsed(command: str, *extra: str):
    """The parsed defaults of ``byol <command>`` (required options filled with placeholders)."""
    return build_parser().parse_args([command, *ENCODER, *extra])


def _linear_grid_default() -> tuple[float, ...]:
    assert parsed("linear").base_lrs is None  # None means the module's grid, pinned below
    return linear.LINEAR_BASE_LRS


def _sgd_of_linear_eval() -> dict:
    """The optimiser the linear evaluation builds, read off its source (one line, pinned exactly)."""
    src = inspect.getsource(linear)
    return {"nesterov": "nesterov=True" in src, "momentum_0.9": "momentum=0.9" in src,
            "no_weight_decay": "weight_decay=0.0" in src}


# (row, the value in the code, the paper's value)
DEFAULTS: list[tuple[str, object, object]] = [
    # linear evaluation, App. C.1 (BYOL_SPEC 6.1)
    ("linear: epochs", lambda: parsed("linear").epochs, 80),
    ("linear: batch", lambda: parsed("linear").batch_size, 1024),
    ("linear: base LR grid", _linear_grid_default, (0.4, 0.3, 0.2, 0.1, 0.05)),
    ("linear: SGD Nesterov 0.9, no weight decay", _sgd_of_linear_eval,
     {"nesterov": True, "momentum_0.9": True, "no_weight_decay": True}),
    ("linear: cached mode by default, augmented available", lambda: (parsed("linear").mode,
                                                                     parsed("linear", "--mode", "augmented").mode),
     ("cached", "augmented")),
    # semi-supervised, Sec. 4 / App. C.1 (BYOL_SPEC 6.2)
    ("semisup: LR grid", lambda: tuple(parsed("semisup").lrs), (0.01, 0.02, 0.05, 0.1, 0.005)),
    ("semisup: epochs grid", lambda: tuple(parsed("semisup").epochs), (30, 50)),
    ("semisup: batch", lambda: parsed("semisup").batch_size, 1024),
    ("semisup: label fraction", lambda: parsed("semisup").fraction, 0.01),
    # transfer linear, App. D.2 (BYOL_SPEC 6.3)
    ("transfer linear: 45 lambdas in logspace(-6, 5)", lambda: logreg.LAMBDAS.tolist(),
     np.logspace(-6, 5, 45).tolist()),
    ("transfer linear: sweep default grid", lambda: np.asarray(
        inspect.signature(logreg.sweep_path).parameters["lambdas"].default).tolist(), np.logspace(-6, 5, 45).tolist()),
    ("transfer linear: features not standardised", lambda: parsed("transfer-linear").standardize, False),
    ("transfer linear: L-BFGS cap >= 1000", lambda: inspect.signature(logreg.fit_logreg).parameters["max_iter"].default
     >= 1000, True),
    # fine-tuning, App. D.3 (BYOL_SPEC 6.4)
    ("finetune: steps", lambda: parsed("finetune").steps, 20_000),
    ("finetune: batch", lambda: parsed("finetune").batch_size, 256),
    ("finetune: 7 LRs in logspace(-4, -1)", lambda: parsed("finetune").lrs, np.logspace(-4, -1, 7).tolist()),
    ("finetune: 0 and 7 weight decays in logspace(-6, -3)", lambda: parsed("finetune").wds,
     [0.0, *np.logspace(-6, -3, 7).tolist()]),
    ("finetune: BN momentum 1 - max(1 - 10/s, 0.9) at s = 5, 50, 1000",
     lambda: [round(sweep.bn_momentum(s), 12) for s in (5, 50, 1000)], [0.1, 0.1, 0.01]),
    # pretraining defaults, Sec. 3.3 (BYOL_SPEC 4)
    ("config: LARS momentum, trust coefficient", lambda: (Config().optim.momentum, Config().optim.trust_coefficient),
     (0.9, 1e-3)),
    ("config: projector / predictor widths", lambda: (Config().model.projector_hidden, Config().model.projector_out,
                                                      Config().model.predictor_hidden), (4096, 256, 4096)),
    ("config: target schedule", lambda: (Config().target.base_tau, Config().target.schedule), (0.996, "cosine")),
    # augmentations, App. B Table 6 (BYOL_SPEC 5)
    ("augment: T", lambda: _view(Config().augment.view1),
     dict(min_scale=0.08, max_scale=1.0, flip_prob=0.5, jitter_prob=0.8, brightness=0.4, contrast=0.4,
          saturation=0.2, hue=0.1, grayscale_prob=0.2, blur_prob=1.0, solarize_prob=0.0)),
    ("augment: T'", lambda: _view(Config().augment.view2),
     dict(min_scale=0.08, max_scale=1.0, flip_prob=0.5, jitter_prob=0.8, brightness=0.4, contrast=0.4,
          saturation=0.2, hue=0.1, grayscale_prob=0.2, blur_prob=0.1, solarize_prob=0.2)),
    # presets: the paper's headline run (Sec. 3.3) and its batch-512 row for CIFAR (App. G)
    ("preset imagenet", lambda: _preset("imagenet"),
     dict(backbone="resnet50", global_batch=4096, epochs=1000, warmup_epochs=10, base_lr=0.2, weight_decay=1.5e-6,
          base_tau=0.996, image_size=224, blur=True, sync_bn=True)),
    ("preset cifar10", lambda: _preset("cifar10"),
     dict(backbone="resnet18", global_batch=512, epochs=1000, warmup_epochs=10, base_lr=0.4, weight_decay=1.5e-6,
          base_tau=0.9995, image_size=32, blur=False, sync_bn=False)),
]


def _view(view) -> dict:
    return {k: getattr(view, k) for k in ("min_scale", "max_scale", "flip_prob", "jitter_prob", "brightness",
                                          "contrast", "saturation", "hue", "grayscale_prob", "blur_prob",
                                          "solarize_prob")}


def _preset(name: str) -> dict:
    cfg = load_config(name)
    global_batch = cfg.optim.global_batch or cfg.optim.batch_size * cfg.optim.accumulate_steps
    return dict(backbone=cfg.model.backbone, global_batch=global_batch, epochs=cfg.optim.epochs,
                warmup_epochs=cfg.optim.warmup_epochs, base_lr=cfg.optim.base_lr,
                weight_decay=cfg.optim.weight_decay, base_tau=cfg.target.base_tau,
                image_size=cfg.augment.image_size, blur=cfg.augment.blur, sync_bn=cfg.model.sync_bn)


def _close(a, b) -> bool:
    """Equal, floats to 1e-12 relative, through lists, tuples and dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


@pytest.mark.parametrize("row, read, paper", DEFAULTS, ids=[row for row, _, _ in DEFAULTS])
def test_paper_default(row, read, paper):
    value = read()
    assert _close(value, paper), f"{row}: the code has {value!r}, the paper {paper!r}"


def test_the_comparison_itself_notices_a_changed_value():
    """The table's comparison is strict where it matters: 80 vs 8 epochs, a grid off by one value or by order,
    a tuple vs its list, a float off in the 3rd digit."""
    assert not _close(8, 80) and not _close((0.4, 0.3, 0.2, 0.1), (0.4, 0.3, 0.2, 0.1, 0.05))
    assert not _close((0.3, 0.4), (0.4, 0.3)) and not _close([30, 50], (30, 50))
    assert not _close(0.9996, 0.9995) and not _close({"a": 1}, {"a": 1, "b": 2}) and not _close(False, 0)
    assert _close(np.logspace(-6, 5, 45).tolist(), [10 ** (-6 + 11 * i / 44) for i in range(45)])
