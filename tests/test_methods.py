"""The methods beside BYOL (config section ``method``): SimCLR, the Table 5b variants, supervised pretraining,
and the constant target decay of Table 5a. Values are checked against the formulas, not only shapes."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from byol_pkg.cli import main
from byol_pkg.config import ConfigError, load_config
from byol_pkg.loss import byol_loss
from byol_pkg.objectives import infonce_loss
from byol_pkg.schedules import scheduled_tau, target_tau
from byol_pkg.train.methods import batch_loss, build_method_networks

from data_fixtures import make_stl10
from test_pretrain import load, read_metrics, write_config

SMALL = ["model.backbone=resnet_small", "model.cifar_stem=true", "model.projector_hidden=32",
         "model.projector_out=16", "model.predictor_hidden=32"]


def _cfg(*overrides: str):
    return load_config("demo", [*SMALL, *overrides])


# ------------------------------------------------------------------------------------------------ config


def test_method_defaults_resolve_per_method():
    assert vars(_cfg().method) == {"name": "byol", "predictor": True, "target": "ema", "beta": 0.0, "alpha": 0.1}
    simclr = _cfg("method.name=simclr").method
    assert (simclr.predictor, simclr.target, simclr.beta) == (False, "online", 1.0)
    sup = _cfg("method.name=supervised").method
    assert (sup.predictor, sup.target, sup.beta) == (False, "none", 0.0)
    # an explicit key wins over the method's default: a Table 5b row (predictor, no target network, beta 1)
    row = _cfg("method.name=simclr", "method.predictor=true").method
    assert (row.predictor, row.target, row.beta) == (True, "online", 1.0)


@pytest.mark.parametrize("override, key", [
    ("method.name=moco", "method.name"),
    ("method.target=momentum", "method.target"),
    ("method.beta=-1", "method.beta"),
    ("method.alpha=0", "method.alpha"),
    ("target.schedule=linear", "target.schedule"),
])
def test_bad_method_keys_are_one_line_errors(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
        _cfg(override)
    assert "\n" not in str(err.value)


def test_supervised_refuses_byol_only_keys():
    with pytest.raises(ConfigError, match="supervised"):
        _cfg("method.name=supervised", "method.predictor=true")


def test_scheduled_tau():
    for k in (0, 3, 10):
        assert scheduled_tau(k, 10, 0.99) == target_tau(k, 10, 0.99)
        assert scheduled_tau(k, 10, 0.0, "constant") == 0.0
        assert scheduled_tau(k, 10, 1.0, "constant") == 1.0
    assert target_tau(5, 10, 0.0) == pytest.approx(0.5)  # why Table 5a's tau = 0 needs the constant schedule
    with pytest.raises(ValueError, match="schedule"):
        scheduled_tau(0, 10, 0.9, "linear")


# ----------------------------------------------------------------------------------- one batch, by formula


def _batch(seed: int = 0, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, 8, 8, generator=g), torch.randn(n, 3, 8, 8, generator=g),
            torch.arange(n) % 10)


def _networks(*overrides: str):
    torch.manual_seed(0)
    cfg = _cfg(*overrides)
    return cfg, build_method_networks(cfg, num_classes=10)


def _loss(cfg, nets, v1, v2, y):
    return batch_loss(cfg.method, nets.online, nets.target, v1, v2, y, contextlib.nullcontext())


def test_byol_batch_loss_is_the_regression_loss_on_target_projections():
    cfg, nets = _networks()
    v1, v2, y = _batch()
    loss, monitor = _loss(cfg, nets, v1, v2, y)
    p1, p2, z1, _ = nets.online(v1, v2)
    with torch.no_grad():
        expected = byol_loss(p1, p2, nets.target(v1), nets.target(v2))
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(monitor, z1)
    loss.backward()
    assert len(list(nets.target.parameters())) == 39 + 5  # resnet_small encoder + projector (Linear, BN, Linear)
    assert all(p.grad is None for p in nets.target.parameters())


def test_simclr_batch_loss_is_nt_xent_through_both_views():
    cfg, nets = _networks("method.name=simclr", "method.alpha=0.5")
    assert nets.target is None and isinstance(nets.online.predictor, torch.nn.Identity)
    assert not any(n.startswith("predictor") for n, _ in nets.online.named_parameters())
    v1, v2, y = _batch()
    loss, _ = _loss(cfg, nets, v1, v2, y)
    _, _, z1, z2 = nets.online(v1, v2)
    # independent NT-Xent over the 2B anchors (temperature alpha): the loss is 4 + 4 alpha x its mean
    h = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = h @ h.T / 0.5
    sim.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    torch.testing.assert_close(loss, 4 + 4 * 0.5 * F.cross_entropy(sim, positives), rtol=1e-5, atol=1e-5)


def test_stop_gradient_target_changes_the_gradient_not_the_value():
    v1, v2, y = _batch(1)
    grads, values = {}, {}
    for target in ("online", "stop_gradient"):
        cfg, nets = _networks("method.name=simclr", f"method.target={target}")
        loss, _ = _loss(cfg, nets, v1, v2, y)
        loss.backward()
        values[target] = loss.detach()
        grads[target] = nets.online.encoder.conv1.weight.grad.clone()
    torch.testing.assert_close(values["online"], values["stop_gradient"])
    assert not torch.allclose(grads["online"], grads["stop_gradient"])
    cfg, nets = _networks("method.name=simclr", "method.target=stop_gradient")
    loss, _ = _loss(cfg, nets, v1, v2, y)
    _, _, z1, z2 = nets.online(v1, v2)
    torch.testing.assert_close(loss, infonce_loss(z1, z2, z1.detach(), z2.detach(), beta=1.0, alpha=0.1))


def test_beta_zero_without_target_network_keeps_the_gradient_through_psi():
    """Table 5b's "no target network, beta 0" row: psi is the online projection *with* its gradient."""
    cfg, nets = _networks("method.predictor=false", "method.target=online", "method.beta=0")
    v1, v2, y = _batch(2)
    loss, _ = _loss(cfg, nets, v1, v2, y)
    _, _, z1, z2 = nets.online(v1, v2)
    torch.testing.assert_close(loss, (2 - 2 * F.cosine_similarity(z1, z2)).mean() * 2)
    loss.backward()
    assert nets.online.encoder.conv1.weight.grad.abs().sum() > 0


def test_supervised_batch_loss_is_cross_entropy_over_both_views():
    cfg, nets = _networks("method.name=supervised")
    assert nets.target is None and nets.online.classifier.out_features == 10
    v1, v2, y = _batch(3)
    loss, monitor = _loss(cfg, nets, v1, v2, y)
    net = nets.online
    logits1, logits2 = net.classifier(net.encoder(v1)), net.classifier(net.encoder(v2))
    rows = torch.arange(6)
    expected = 0.5 * (-logits1.log_softmax(1)[rows, y].mean() - logits2.log_softmax(1)[rows, y].mean())
    torch.testing.assert_close(loss, expected)
    assert monitor.shape == (6, nets.online.classifier.in_features)


# ------------------------------------------------------------------------------------- pretraining runs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["simclr", "supervised"])
def test_pretrain_other_methods_end_to_end(tmp_path, name):
    cfg = write_config(tmp_path / "cfg.yaml", method={"name": name})
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    rows = read_metrics(tmp_path / "run")
    assert len(rows) == 8 and all(r["tau"] != r["tau"] for r in rows)  # no target network: tau is NaN
    meta = json.loads((tmp_path / "run/encoder.json").read_text())
    assert meta["method"] == name
    state = load(tmp_path / "run/checkpoints/last.pt")
    assert state["target"] == {}
    # the exported encoder is the trained encoder, also through byol export-encoder of an epoch checkpoint
    out = tmp_path / "epoch1/encoder.pt"
    assert main(["export-encoder", "--checkpoint", str(tmp_path / "run/checkpoints/epoch_0001.pt"),
                 "--out", str(out)]) == 0
    final = load(tmp_path / "run/encoder.pt")
    assert final.keys() == load(out).keys()
    assert len(final) == 13 + 13 * 5  # resnet_small: 13 convolutions, 13 BatchNorms of 5 entries
    for key, value in final.items():
        assert torch.equal(value, state["online"][f"encoder.{key}"])


@pytest.mark.slow
def test_constant_tau_zero_and_one(tmp_path):
    """tau = 0 (constant): the target equals the online network after every step; tau = 1: it never moves."""
    for tau in (0.0, 1.0):
        run = tmp_path / f"tau{tau}"
        cfg = write_config(tmp_path / f"cfg{tau}.yaml", target={"base_tau": tau, "schedule": "constant"},
                           train={**yaml.safe_load(write_config(tmp_path / "t.yaml").read_text())["train"],
                                  "checkpoint_every_steps": 1})
        assert main(["pretrain", "--config", str(cfg), "--set", "train.max_steps=3", "--out", str(run)]) == 0
        assert {r["tau"] for r in read_metrics(run)} == {tau}
        last, previous = load(run / "checkpoints/last.pt"), load(run / "checkpoints/previous.pt")
        assert (last["step"], previous["step"]) == (3, 2)
        for key, value in last["target"].items():
            if key.endswith("num_batches_tracked") or "running_" in key:
                continue  # BN buffers are each network's own state
            if tau == 0.0:
                assert torch.equal(value, last["online"][key]), key
            else:
                assert torch.equal(value, previous["target"][key]), key
        moved = [k for k in last["target"] if "running_" not in k and "num_batches" not in k
                 and not torch.equal(last["online"][k], previous["online"][k])]
        assert moved  # the online network did train


@pytest.mark.slow
def test_supervised_needs_labels(tmp_path, capsys):
    make_stl10(tmp_path / "data")
    cfg = write_config(tmp_path / "cfg.yaml", method={"name": "supervised"},
                       data={"name": "stl10", "root": str(tmp_path / "data"), "split": "train+unlabeled",
                             "max_samples": None, "num_workers": 0})
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert "needs labels" in err and "train+unlabeled" in err
    assert not (tmp_path / "run/encoder.pt").exists()
