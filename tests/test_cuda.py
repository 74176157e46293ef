"""What only a GPU can show (``pytest -m cuda``; run by ``scripts/gpu_check.sh``): the batched views made on the
GPU equal the CPU's, JPEGs decoded on the GPU (nvJPEG) equal the CPU decode, a bf16 channels_last pretraining step
runs there, and a run stopped and resumed there reproduces the uninterrupted one.

Without a GPU these tests are skipped, except with ``BYOL_CUDA_TESTS_ON_CPU=1`` (``gpu_check.sh --smoke``, hence
CI), which runs them on the CPU so that the GPU check cannot rot between GPU sessions.

Tolerances: views after normalisation within 1e-4 (float rounding: the GPU's fused kernels and matrix products);
nvJPEG against libjpeg-turbo (torchvision's CPU decoder), per kind of JPEG (4:2:0, 4:4:4, progressive, grey,
CMYK), within a mean of 1.0 and a 99.9th percentile of 8 grey levels out of 255 (the two decoders' inverse DCT
and chroma upsampling round differently; equal on the CPU); a resumed run with ``train.deterministic`` bit for bit, without it (cuDNN autotuning, which may pick other
algorithms after the restart) within rel 1e-3 on each logged loss and 2e-3 / 2e-4 (rel / abs) on the weights.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
import torch

from byol_pkg.augment import paper_view_params
from byol_pkg.augment.batched import BatchedViewTransform, view_uniforms
from byol_pkg.cli import main
from byol_pkg.train.batched_stream import decode_on_device
from tests.test_pretrain import assert_same_state, load, read_metrics, write_config

pytestmark = pytest.mark.cuda
ON_CPU_ENV = "BYOL_CUDA_TESTS_ON_CPU"
VIEW_TOL = 1e-4
JPEG_MEAN_TOL, JPEG_P999_TOL = 1.0, 8.0


@pytest.fixture
def accel() -> torch.device:
    """The GPU; the CPU when ``BYOL_CUDA_TESTS_ON_CPU=1``; else the test is skipped."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if os.environ.get(ON_CPU_ENV) == "1":
        return torch.device("cpu")
    pytest.skip(f"needs a CUDA GPU ({ON_CPU_ENV}=1 runs it on the CPU, as gpu_check.sh --smoke does)")


def _uint8_images(n: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, height, width), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def _uniforms(n: int) -> torch.Tensor:
    return torch.stack([view_uniforms(torch.Generator().manual_seed(i)) for i in range(n)])


@pytest.mark.parametrize("view", [1, 2])
@pytest.mark.parametrize("shape,size,blur", [((3, 32, 32), 32, False), ((3, 96, 96), 64, True)])
def test_views_on_the_device_equal_cpu_views(accel, view, shape, size, blur):
    """CIFAR-size and STL-size views (the GPU's whole-batch ``where`` ops) against the CPU's (compact or image by
    image), for the same draws."""
    batch, u = _uint8_images(64, *shape), _uniforms(64)
    t = BatchedViewTransform(paper_view_params(view), size, blur=blur)
    on_device = t(batch.to(accel), u.to(accel)).cpu()
    torch.testing.assert_close(on_device, t(batch, u), rtol=0, atol=VIEW_TOL)


def test_views_of_differently_sized_images_on_the_device_equal_cpu_views(accel):
    """A list of decoded files of different sizes (image folders), cropped and resized image by image."""
    sizes = [(3, 120, 90), (3, 64, 160), (1, 100, 100), (3, 75, 75)]
    batch = [_uint8_images(1, *s, seed=i)[0] for i, s in enumerate(sizes)]
    u = _uniforms(len(batch))
    t = BatchedViewTransform(paper_view_params(1), 48)
    on_device = t([im.to(accel) for im in batch], u.to(accel)).cpu()
    torch.testing.assert_close(on_device, t(batch, u), rtol=0, atol=VIEW_TOL)


def _jpeg_bytes(image, **options) -> torch.Tensor:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


def _smooth_photo(height: int, width: int, seed: int) -> np.ndarray:
    """A photo-like image: smooth colour fields with a few sharp edges (noise would make unrealistic JPEGs)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(height // 16, width // 16, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC)).copy()
    image[height // 3: height // 2, width // 4: width // 2] = rng.integers(0, 256, 3, dtype=np.uint8)
    return image


JPEG_KINDS = {  # name: (height, width, PIL save options, PIL mode)
    "baseline 4:2:0": (375, 500, {"quality": 90}, "RGB"),  # ImageNet's usual size and chroma subsampling
    "baseline 4:4:4": (333, 500, {"quality": 95, "subsampling": 0}, "RGB"),
    "progressive": (240, 320, {"quality": 85, "progressive": True}, "RGB"),
    "greyscale": (200, 300, {"quality": 90}, "L"),  # one channel, decoded to RGB
    "CMYK": (120, 160, {"quality": 90}, "CMYK"),  # ImageNet's train set holds a few such files
}


@pytest.mark.parametrize("kind", list(JPEG_KINDS))
def test_jpeg_decoded_on_the_device_equals_the_cpu_decode(accel, kind):
    """Each kind of JPEG, decoded in one batch with a baseline file on the device (nvJPEG on a GPU, as
    ``augment.decode: device`` does), against torchvision's CPU decoder, as RGB uint8."""
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_jpeg

    height, width, options, mode = JPEG_KINDS[kind]
    photo = Image.fromarray(_smooth_photo(height, width, seed=len(kind))).convert(mode)
    files = [_jpeg_bytes(photo, **options), _jpeg_bytes(Image.fromarray(_smooth_photo(64, 96, seed=0)), quality=90)]
    decoded = decode_on_device(list(files), accel)
    for data, image in zip(files, decoded):
        with warnings.catch_warnings():  # torchvision 0.29 warns on every decode call
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = decode_jpeg(data, mode=ImageReadMode.RGB)
        assert image.device.type == accel.type and image.dtype == torch.uint8
        assert image.shape == expected.shape
        diff = (image.cpu().int() - expected.int()).abs().float()
        mean, p999 = diff.mean().item(), diff.flatten().quantile(0.999).item()
        print(f"{kind}: {tuple(image.shape)} mean |diff| {mean:.3f}, p99.9 {p999:.0f}, max {diff.max().item():.0f}")
        assert mean <= JPEG_MEAN_TOL and p999 <= JPEG_P999_TOL, (mean, p999)
        if accel.type == "cpu":
            assert torch.equal(image, expected)


def _tiny_run_config(tmp_path, accel: torch.device, **train) -> str:
    return str(write_config(tmp_path / "cfg.yaml", augment={"backend": "batched"}, data={"num_workers": 1},
                            train={"device": accel.type, **train}))


def test_bf16_channels_last_step_runs(accel, tmp_path):
    """Three bf16 autocast steps in channels_last with the batched views on the device: finite losses, weights
    that moved, fp32 master weights."""
    cfg = _tiny_run_config(tmp_path, accel, precision="bf16", channels_last=True)
    out = tmp_path / "run"
    assert main(["pretrain", "--config", cfg, "--set", "train.max_steps=3", "--out", str(out)]) == 0
    rows = read_metrics(out)
    assert len(rows) == 3 and all(np.isfinite(r["loss"]) and 0 <= r["loss"] <= 8 for r in rows)
    final = load(out / "encoder.pt")
    assert all(v.dtype == torch.float32 for v in final.values() if v.is_floating_point())  # fp32 master weights
    assert load(out / "checkpoints/last.pt")["step"] == 3
    one = tmp_path / "one"
    assert main(["pretrain", "--config", cfg, "--set", "train.max_steps=1", "--out", str(one)]) == 0
    after_one = load(one / "encoder.pt")
    weights = [k for k, v in final.items() if v.is_floating_point() and "running" not in k]
    assert any(not torch.equal(final[k], after_one[k]) for k in weights)  # steps 2 and 3 moved the weights


@pytest.mark.parametrize("deterministic", [True, False])
def test_resumed_run_on_the_device_reproduces_the_uninterrupted_one(accel, tmp_path, deterministic):
    """Stopped after 3 of 8 steps and resumed, on the device: the same weights and losses as a run that was never
    stopped; bit for bit with ``train.deterministic``, else within the module's stated tolerance."""
    cfg = _tiny_run_config(tmp_path, accel, deterministic=deterministic, precision="fp32")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["pretrain", "--config", cfg, "--out", str(whole)]) == 0
    assert main(["pretrain", "--config", cfg, "--set", "train.max_steps=3", "--out", str(parts)]) == 0
    assert load(parts / "checkpoints/last.pt")["step"] == 3
    assert main(["pretrain", "--config", cfg, "--out", str(parts)]) == 0
    losses = [r["loss"] for r in read_metrics(parts)], [r["loss"] for r in read_metrics(whole)]
    assert len(losses[0]) == len(losses[1]) == 8
    if deterministic or accel.type == "cpu":
        assert_same_state(load(parts / "encoder.pt"), load(whole / "encoder.pt"))
        assert losses[0] == losses[1]
    else:
        assert losses[0] == pytest.approx(losses[1], rel=1e-3)
        a, b = load(parts / "encoder.pt"), load(whole / "encoder.pt")
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=2e-3, atol=2e-4, msg=k)
