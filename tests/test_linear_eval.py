"""Linear evaluation on cached features (Table 1 protocol, fast mode)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from byol_pkg.cli import main
from byol_pkg.config import load_config
from byol_pkg.eval.linear import LINEAR_BASE_LRS, linear_eval, train_linear
from byol_pkg.eval.results import read_results
from byol_pkg.models import build_byol
from byol_pkg.train.pretrain import export_encoder


def test_grid_is_the_papers():
    assert LINEAR_BASE_LRS == (0.4, 0.3, 0.2, 0.1, 0.05)


def test_one_step_is_nesterov_sgd_with_scaled_lr():
    torch.manual_seed(0)
    x, y = torch.randn(8, 5), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    torch.manual_seed(3)
    init = torch.nn.Linear(5, 3)
    w0, b0 = init.weight.detach().clone(), init.bias.detach().clone()
    head = train_linear(x, y, 3, base_lr=0.2, epochs=1, batch_size=8, seed=3)  # one step, full batch
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    F.cross_entropy(x @ w.T + b, y).backward()
    lr = 0.2 * 8 / 256  # base x batch / 256; cosine factor 1 at step 0
    # first Nesterov step from a zero buffer: p - lr * (g + 0.9 g)
    torch.testing.assert_close(head.weight.detach(), w0 - lr * 1.9 * w.grad)
    torch.testing.assert_close(head.bias.detach(), b0 - lr * 1.9 * b.grad)


def _blobs(n, seed, flip=0.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = np.eye(4)[y] * 3 + rng.normal(size=(n, 4))
    x = np.concatenate([x, rng.normal(size=(n, 12))], axis=1).astype(np.float32)
    return x, y


def test_selection_never_looks_at_the_test_split():
    train, val, test = _blobs(400, 0), _blobs(200, 1), _blobs(200, 2)
    a = linear_eval(train, val, test, 4, epochs=5, batch_size=64)
    shuffled = (test[0], np.random.default_rng(9).permutation(test[1]))
    b = linear_eval(train, val, shuffled, 4, epochs=5, batch_size=64)
    assert a.best_base_lr == b.best_base_lr and a.val_top1 == b.val_top1
    assert a.test_top1 > 90 and b.test_top1 < 50 and a.test_top5 == 100.0
    assert a.val_top1[a.best_base_lr] == max(a.val_top1.values())


def test_linear_command_records_top1_and_top5(tmp_path):
    out = tmp_path / "lin.json"
    enc = tmp_path / "enc"
    cfg = load_config(None, ["model.backbone=resnet_small", "model.cifar_stem=true", "augment.image_size=8"])
    online, _ = build_byol("resnet_small", cifar_stem=True, proj_hidden=16, proj_out=8, pred_hidden=16)
    path = export_encoder(enc, online, cfg, step=0)
    assert main(["linear", "--encoder", str(path), "--dataset", "digits", "--cache-root", str(tmp_path / "c"),
                 "--epochs", "3", "--out", str(out)]) == 0
    top1, top5 = read_results(out)
    assert (top1["metric"], top5["metric"]) == ("top1", "top5") and top1["protocol"] == "linear"
    assert top1["value"] <= top5["value"] <= 100 and top1["hyperparameters"]["base_lr"] in LINEAR_BASE_LRS
    assert top1["split_sizes"] == {"train": 1293, "val": 144, "test": 360}
    assert pytest.approx(top1["hyperparameters"]["val_top1"][str(top1["hyperparameters"]["base_lr"])]) == max(
        top1["hyperparameters"]["val_top1"].values())


def test_grid_training_equals_separate_runs_per_lr():
    """All LRs trained in one batched pass give each LR's own train_linear run (same init, same batches, the same
    Nesterov-SGD steps with the cosine schedule), up to float rounding: several epochs with a ragged last batch."""
    from byol_pkg.eval.linear import train_linear_grid

    x, y = (torch.as_tensor(a) for a in _blobs(300, 4))
    lrs = (0.4, 0.1, 0.05)
    grid = train_linear_grid(x, y, 4, lrs, epochs=4, batch_size=64, seed=7)
    for lr, head in zip(lrs, grid):
        alone = train_linear(x, y, 4, lr, epochs=4, batch_size=64, seed=7)
        torch.testing.assert_close(head.weight, alone.weight, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(head.bias, alone.bias, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(grid[0].weight, grid[2].weight)  # the LRs did differ


def test_cosine_factor_spans_every_step_of_every_epoch():
    """K = epochs x ceil(n / batch) steps (the last batch of an epoch ragged); factor 0.5 (1 + cos(pi k / K))."""
    import math

    from byol_pkg.eval.linear import _cosine_batches

    batches = list(_cosine_batches(10, 2, 4, seed=0, device=torch.device("cpu")))
    assert [len(idx) for idx, _ in batches] == [4, 4, 2, 4, 4, 2]
    assert [f for _, f in batches] == pytest.approx([0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(6)])
    for epoch in (batches[:3], batches[3:]):  # each epoch a permutation of all images
        assert sorted(torch.cat([idx for idx, _ in epoch]).tolist()) == list(range(10))


def test_tied_validation_scores_pick_the_first_grid_value():
    """Separable data: every LR reaches 100 % on validation; the tie goes to the first LR of the grid."""
    train, val, test = _blobs(200, 0), _blobs(100, 1), _blobs(100, 2)
    sep = [(np.eye(4)[y].astype(np.float32) * 10, y) for _, y in (train, val, test)]
    res = linear_eval(*sep, 4, base_lrs=(0.05, 0.4, 0.1), epochs=2, batch_size=64)
    assert set(res.val_top1.values()) == {100.0} and res.best_base_lr == 0.05
    assert res.config == {"epochs": 2, "batch_size": 64, "optimizer": "SGD nesterov momentum 0.9", "weight_decay": 0.0,
                          "schedule": "cosine, no warm-up", "lr_scaling": "base x batch/256",
                          "mode": "cached centre-crop features"}  # what the result record says of the protocol
    res = linear_eval(*sep, 4, base_lrs=(0.1, 0.4, 0.05), epochs=2, batch_size=64)
    assert res.best_base_lr == 0.1


def test_function_defaults_are_the_protocols():
    """80 epochs at batch 1024, seed 0, wherever a caller relies on the defaults (App. C.1)."""
    import inspect

    from byol_pkg.eval.linear import train_linear_grid

    for fn in (train_linear, train_linear_grid, linear_eval):
        params = inspect.signature(fn).parameters
        assert (params["epochs"].default, params["batch_size"].default, params["seed"].default) == (80, 1024, 0), \
            fn.__name__


def test_result_keeps_the_selected_heads_test_outputs_and_its_own_wall_time():
    import time

    from independent_metrics import top1, top5

    train, val, test = _blobs(120, 0), _blobs(60, 1), _blobs(60, 2)
    t0 = time.perf_counter()
    res = linear_eval(train, val, test, 4, base_lrs=(0.4, 0.1), epochs=1, batch_size=64)
    elapsed = time.perf_counter() - t0
    assert 0 < res.wall_s <= elapsed < 1.0  # seconds of this call, not a clock reading
    pred = res.test_predictions
    assert np.array_equal(pred.labels, test[1]) and pred.scores.shape == (60, 4) and pred.scores.dtype == np.float32
    assert res.test_top1 == pytest.approx(top1(pred.scores, pred.labels), abs=1e-9)
    assert res.test_top5 == pytest.approx(top5(pred.scores, pred.labels), abs=1e-9)
    assert (res.train_size, res.val_size, res.test_size) == (120, 60, 60)
