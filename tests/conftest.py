"""Test-wide settings: one intra-op thread before every test (CLI commands called in-process may change it),
so that timings do not collapse when the cores are shared and float reductions are the same in every run."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the CLI's configure_cpu_threads honours it
    yield


@pytest.fixture(scope="session")
def encoder_path(tmp_path_factory):
    """A small encoder (resnet_small, CIFAR stem, 8 px) saved exactly as byol pretrain saves it
    (encoder.pt + encoder.json)."""
    from byol_pkg.config import load_config
    from byol_pkg.models import build_byol
    from byol_pkg.train.pretrain import export_encoder

    out = tmp_path_factory.mktemp("enc")
    cfg = load_config(None, ["model.backbone=resnet_small", "model.cifar_stem=true", "augment.image_size=8"])
    torch.manual_seed(1)
    online, _ = build_byol("resnet_small", cifar_stem=True, proj_hidden=16, proj_out=8, pred_hidden=16)
    return export_encoder(out, online, cfg, step=0)
