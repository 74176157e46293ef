"""The batched view pipeline (``augment.backend: batched``) against the per-image reference and torchvision.

Tolerances: views are compared after normalisation (values of order 1). Batched and reference differ by float32
rounding only (matrix products instead of ``F.interpolate``, per-image strengths as tensors): 1e-4. Against
torchvision's functional ops on float images: 1e-4 for crop + resize, flip, grayscale, solarize, hue; the blur
is compared away from the borders, where torchvision pads by reflection and the paper (and we) by zeros.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TVF
from torchvision.transforms import InterpolationMode

from byol_pkg.augment import NUM_DRAWS, ViewParams, ViewTransform, paper_view_params
from byol_pkg.augment.batched import (
    PER_IMAGE_MIN_SIDE,
    BatchedViewTransform,
    bicubic_resample_matrices,
    view_uniforms,
)
from byol_pkg.augment.views import CROP_RATIO
from byol_pkg.data.base import ArrayImageDataset, ImageDataset
from byol_pkg.train.batched_stream import (
    BatchedTwoViews,
    ViewDraws,
    collate_draws,
    decode_on_device,
    device_images,
    has_fixed_size_images,
    uint8_array,
)
from byol_pkg.train.stream import StreamBatchSampler, TwoViewDataset

TOL = 1e-4


def images(n: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, height, width), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def seeded_uniforms(n: int, offset: int = 0) -> torch.Tensor:
    return torch.stack([view_uniforms(torch.Generator().manual_seed(offset + i)) for i in range(n)])


def reference_views(transform: ViewTransform, batch: list[torch.Tensor], offset: int = 0) -> torch.Tensor:
    return torch.stack([transform(img, torch.Generator().manual_seed(offset + i)) for i, img in enumerate(batch)])


CASES = [  # channels, height, width, size, blur, view params
    (1, 28, 28, 28, False, ViewParams(min_scale=0.2)),
    (3, 32, 32, 32, False, paper_view_params(1)),
    (3, 32, 32, 32, False, paper_view_params(2)),
    (3, 72, 60, 48, True, paper_view_params(1)),
    (3, 72, 60, 48, True, paper_view_params(2)),
    (3, 20, 50, 24, True, ViewParams(min_scale=0.5, solarize_prob=0.5, grayscale_prob=0.5, blur_prob=0.5)),
]


@pytest.mark.parametrize("mode", ["compact", "where", "per-image"])
@pytest.mark.parametrize("channels,height,width,size,blur,params", CASES)
def test_batched_views_equal_the_reference_views_for_the_same_draws(channels, height, width, size, blur, params,
                                                                   mode):
    """Every path: whole-batch ops in compact mode (the CPU's for small images) and in ``where`` mode (the GPU's,
    run here on the CPU), and image by image (the CPU's for large images)."""
    n = 96
    batch = images(n, channels, height, width)
    ref = reference_views(ViewTransform(params, size, blur=blur), list(batch))
    transform = BatchedViewTransform(params, size, blur=blur)
    transform.compact, transform.per_image = mode == "compact", mode == "per-image"
    out = transform(batch, seeded_uniforms(n))
    assert out.shape == (n, 3, size, size) and out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=TOL)


SIZES = [(30, 40), (48, 24), (17, 17), (48, 40), (25, 33), (40, 48)]


@pytest.mark.parametrize("per_image", [True, False], ids=["per-image", "whole-batch"])
def test_padded_images_of_different_sizes_give_each_image_its_own_view(per_image):
    params = paper_view_params(1)
    ref_t, bat_t = ViewTransform(params, 24), BatchedViewTransform(params, 24)
    bat_t.per_image = per_image
    singles = [images(1, 3, h, w, seed=i)[0] for i, (h, w) in enumerate(SIZES)]
    padded = torch.zeros(len(SIZES), 3, 48, 48, dtype=torch.uint8)
    for i, img in enumerate(singles):
        padded[i, :, : img.shape[1], : img.shape[2]] = img
    heights, widths = (torch.tensor(v) for v in zip(*SIZES))
    out = bat_t(padded, seeded_uniforms(len(SIZES)), heights, widths)
    torch.testing.assert_close(out, reference_views(ref_t, singles), rtol=0, atol=TOL)


@pytest.mark.parametrize("per_image", [True, False], ids=["per-image", "whole-batch"])
@pytest.mark.parametrize("channels", [1, 3])
def test_a_list_of_images_of_different_sizes_gives_the_reference_views(channels, per_image):
    params = paper_view_params(2)
    singles = [images(1, channels, h, w, seed=i)[0] for i, (h, w) in enumerate(SIZES)]
    transform = BatchedViewTransform(params, 24)
    transform.per_image = per_image
    out = transform(singles, seeded_uniforms(len(SIZES)))
    torch.testing.assert_close(out, reference_views(ViewTransform(params, 24), singles), rtol=0, atol=TOL)


def test_a_cpu_makes_large_views_and_lists_image_by_image_and_small_views_batched():
    small, large = (BatchedViewTransform(paper_view_params(1), side) for side in (32, PER_IMAGE_MIN_SIDE + 1))
    batch = images(2, 3, 96, 96)
    assert not small._goes_per_image(batch) and large._goes_per_image(batch)
    assert small._goes_per_image(list(batch))
    large.per_image = False
    assert not large._goes_per_image(batch)


def test_crop_boxes_are_the_reference_boxes_including_the_fallback():
    transform = BatchedViewTransform(ViewParams(), 16)
    reference = ViewTransform(ViewParams(), 16)
    n = 3000
    shapes = [(32, 32), (224, 300), (7, 300), (300, 5), (1, 1), (3, 40)]  # thin images exercise the fallback
    for height, width in shapes:
        u = seeded_uniforms(n, offset=height * 1000 + width)
        d = transform.sample_params(u, torch.full((n,), height), torch.full((n,), width))
        got = torch.stack([d.top, d.left, d.height, d.width], 1).tolist()
        want = [list(reference.sample_params(torch.Generator().manual_seed(height * 1000 + width + i),
                                             height, width)["crop"]) for i in range(n)]
        assert got == want, (height, width)


def test_every_decoded_draw_is_the_reference_draw():
    params = paper_view_params(2)
    transform, reference = BatchedViewTransform(params, 32), ViewTransform(params, 32)
    n = 500
    d = transform.sample_params(seeded_uniforms(n), torch.full((n,), 32), torch.full((n,), 32))
    for i in range(n):
        r = reference.sample_params(torch.Generator().manual_seed(i), 32, 32)
        for key in ("flip", "jitter", "grayscale", "blur", "solarize"):
            assert bool(getattr(d, key)[i]) == r[key], key
        assert tuple(AF_ORDER[j] for j in d.order[i].tolist()) == r["jitter_order"]
        for key in ("brightness", "contrast", "saturation", "hue", "sigma"):
            assert math.isclose(float(getattr(d, key)[i]), r[key], rel_tol=1e-6, abs_tol=1e-7), key


AF_ORDER = ("brightness", "contrast", "saturation", "hue")


def test_both_transforms_describe_the_same_view_and_name_their_backend():
    params = paper_view_params(2)
    ref, bat = ViewTransform(params, 32, blur=False), BatchedViewTransform(params, 32, blur=False)
    a, b = ref.config(), bat.config()
    assert a.pop("backend") == "reference" and b.pop("backend") == "batched" and a == b
    assert repr(bat).startswith("BatchedViewTransform(") and repr(ref).startswith("ViewTransform(")


# ------------------------------------------------------------------------------- against torchvision


def test_crop_resize_matches_torchvision_resized_crop():
    batch = images(8, 3, 40, 56, seed=4)
    boxes = [(0, 0, 40, 56), (3, 5, 10, 12), (10, 20, 30, 30), (0, 50, 40, 6), (39, 0, 1, 56), (5, 5, 24, 24),
             (1, 2, 7, 33), (12, 7, 25, 40)]
    top, left, h, w = (torch.tensor(v) for v in zip(*boxes))
    size = 24
    got = torch.matmul(bicubic_resample_matrices(top, h, size, 40).unsqueeze(1),
                       torch.matmul(batch.float() / 255, bicubic_resample_matrices(left, w, size, 56).mT.unsqueeze(1)))
    for i, (t, l, hh, ww) in enumerate(boxes):
        want = TVF.resized_crop(batch[i].float() / 255, t, l, hh, ww, [size, size],
                                interpolation=InterpolationMode.BICUBIC, antialias=True)
        torch.testing.assert_close(got[i], want, rtol=0, atol=TOL)


def test_resample_matrices_rows_sum_to_one_and_stay_inside_the_crop():
    start, length = torch.tensor([0, 7, 30]), torch.tensor([50, 13, 2])
    m = bicubic_resample_matrices(start, length, 16, 64)
    torch.testing.assert_close(m.sum(-1), torch.ones(3, 16))
    for b in range(3):
        outside = torch.ones(64, dtype=torch.bool)
        outside[start[b] : start[b] + length[b]] = False
        assert float(m[b][:, outside].abs().max()) == 0.0


def one_op(**fires) -> tuple[BatchedViewTransform, dict]:
    """A view whose only random op is the one named (probability 1), full-image crops."""
    base = dict(min_scale=1.0, flip_prob=0.0, jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0,
                brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    base.update(fires)
    return BatchedViewTransform(ViewParams(**base), 32, blur=True, mean=(0, 0, 0), std=(1, 1, 1)), base


def square_uniforms(n: int) -> torch.Tensor:
    """Draws whose crop is the whole (square) image: the first attempt has ratio 1 (log-uniform midpoint)."""
    u = torch.rand(n, NUM_DRAWS, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u[:, 1] = 0.5
    return u


def test_flip_grayscale_solarize_hue_match_torchvision():
    n = 16
    batch = images(n, 3, 32, 32, seed=2)
    x = batch.float() / 255
    u = square_uniforms(n)
    flip, _ = one_op(flip_prob=1.0)
    torch.testing.assert_close(flip(batch, u), TVF.horizontal_flip(x), rtol=0, atol=TOL)
    gray, _ = one_op(grayscale_prob=1.0)
    torch.testing.assert_close(gray(batch, u), TVF.rgb_to_grayscale(x, num_output_channels=3), rtol=0, atol=1e-3)
    solar, _ = one_op(solarize_prob=1.0)
    torch.testing.assert_close(solar(batch, u), TVF.solarize(x, 0.5), rtol=0, atol=TOL)
    hue, _ = one_op(jitter_prob=1.0, hue=0.5)
    d = hue.sample_params(u, torch.full((n,), 32), torch.full((n,), 32))
    want = torch.stack([TVF.adjust_hue(x[i], float(d.hue[i])) for i in range(n)])
    torch.testing.assert_close(hue(batch, u), want, rtol=0, atol=TOL)


def test_blur_matches_torchvision_away_from_the_borders():
    n = 12
    batch = images(n, 3, 32, 32, seed=3)
    blur, _ = one_op(blur_prob=1.0)
    u = square_uniforms(n)
    d = blur.sample_params(u, torch.full((n,), 32), torch.full((n,), 32))
    out = blur(batch, u)
    k, r = blur.kernel_size, blur.kernel_size // 2
    for i in range(n):
        s = float(d.sigma[i])
        want = TVF.gaussian_blur(batch[i].float() / 255, [k, k], [s, s])
        torch.testing.assert_close(out[i, :, r:-r, r:-r], want[:, r:-r, r:-r], rtol=0, atol=TOL)


def test_brightness_and_contrast_follow_the_tf_formulas():
    """torchvision's brightness is multiplicative and its contrast uses the grayscale mean; ours (as the paper's
    code) adds a delta and uses each channel's mean: checked against the formulas."""
    n = 8
    batch = images(n, 3, 32, 32, seed=5)
    x = batch.float() / 255
    u = square_uniforms(n)
    for name, fn in (("brightness", lambda x, v: x + v), ("contrast", lambda x, v: v * (x - x.mean((-2, -1), True))
                                                                               + x.mean((-2, -1), True))):
        t, _ = one_op(jitter_prob=1.0, **{name: 0.4})
        d = t.sample_params(u, torch.full((n,), 32), torch.full((n,), 32))
        want = fn(x, getattr(d, name).view(-1, 1, 1, 1)).clamp(0, 1)
        torch.testing.assert_close(t(batch, u), want, rtol=0, atol=TOL)


# ------------------------------------------------------------------------------- drawn parameters


@pytest.mark.parametrize("view", [1, 2])
def test_probabilities_and_ranges_of_the_draws(view):
    params = paper_view_params(view)
    n = 40000
    t = BatchedViewTransform(params, 224)
    u = torch.rand(n, NUM_DRAWS, dtype=torch.float64, generator=torch.Generator().manual_seed(view))
    d = t.sample_params(u, torch.full((n,), 256), torch.full((n,), 320))
    for key, p in (("flip", params.flip_prob), ("jitter", params.jitter_prob), ("grayscale", params.grayscale_prob),
                   ("blur", params.blur_prob), ("solarize", params.solarize_prob)):
        rate = getattr(d, key).double().mean().item()
        assert abs(rate - p) <= 5 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12, (key, rate, p)
    area = (d.height * d.width).double() / (256 * 320)
    aspect = d.width.double() / d.height.double()
    assert area.min() >= params.min_scale - 0.01 and area.max() <= 1.0
    assert aspect.min() >= CROP_RATIO[0] - 0.05 and aspect.max() <= CROP_RATIO[1] + 0.05
    assert (d.top >= 0).all() and (d.left >= 0).all()
    assert (d.top + d.height <= 256).all() and (d.left + d.width <= 320).all()
    for key, lo, hi in (("brightness", -params.brightness, params.brightness),
                        ("contrast", 1 - params.contrast, 1 + params.contrast),
                        ("saturation", 1 - params.saturation, 1 + params.saturation),
                        ("hue", -params.hue, params.hue), ("sigma", 0.1, 2.0)):
        v = getattr(d, key)
        assert v.min() >= lo - 1e-6 and v.max() <= hi + 1e-6, key
        assert v.min() < lo + 0.01 * (hi - lo) and v.max() > hi - 0.01 * (hi - lo), key  # the whole range is used
        assert abs(v.double().mean().item() - (lo + hi) / 2) < 0.01 * (hi - lo), key  # uniform: mean at the midpoint
    perms = {p: 0 for p in itertools.permutations(range(4))}
    for row in d.order.tolist():
        perms[tuple(row)] += 1
    expected = n / 24
    assert all(abs(c - expected) < 5 * math.sqrt(expected) for c in perms.values())


def test_every_image_and_view_gets_its_own_draws():
    """Draws come per image from its own generator: no two images or views of a batch share a crop."""
    ds = ArrayImageDataset("t", "train", images(64, 3, 32, 32).numpy(), np.zeros(64, dtype=np.int64), 1)
    batch = collate_draws([ViewDraws(ds, seed=0, with_images=False)[k] for k in range(64)])
    u = batch["uniforms"]
    assert u.shape == (64, 2, NUM_DRAWS)
    assert len({tuple(row) for row in u.reshape(128, -1).tolist()}) == 128


# ------------------------------------------------------------------------------- the input stream


class VariableSizeImages(ImageDataset):
    """Images of different sizes read one by one (as an ImageFolder)."""

    def __init__(self, n: int) -> None:
        self.sizes = [(20 + 3 * (i % 5), 24 + 5 * (i % 3)) for i in range(n)]
        super().__init__("variable", "train", np.arange(n) % 3, 3, 3)

    def load_image(self, index: int) -> torch.Tensor:
        return images(1, 3, *self.sizes[index], seed=index)[0]


@pytest.mark.parametrize("dataset", ["array", "variable"])
def test_stream_gives_the_reference_views_of_the_same_keys(dataset):
    n, batch, seed = 24, 8, 7
    if dataset == "array":
        ds: ImageDataset = ArrayImageDataset("a", "train", images(n, 1, 28, 28).numpy(), np.arange(n) % 10, 10)
    else:
        ds = VariableSizeImages(n)
    p1, p2 = paper_view_params(1), paper_view_params(2)
    sampler = StreamBatchSampler(n, batch, seed, 0, 5)  # 5 micro-batches: crosses an epoch boundary
    reference = TwoViewDataset(ds, ViewTransform(p1, 16), ViewTransform(p2, 16), seed)
    held = device_images(ds, torch.device("cpu"), "auto")
    assert (held is None) == (dataset == "variable")
    draws = ViewDraws(ds, seed, with_images=held is None, encoded=True)
    stream = BatchedTwoViews((collate_draws([draws[k] for k in keys]) for keys in sampler),
                             BatchedViewTransform(p1, 16), BatchedViewTransform(p2, 16), torch.device("cpu"), held)
    checked = 0
    for keys, (v1, v2, labels) in zip(sampler, stream):
        want = [reference[k] for k in keys]
        torch.testing.assert_close(v1, torch.stack([w[0] for w in want]), rtol=0, atol=TOL)
        torch.testing.assert_close(v2, torch.stack([w[1] for w in want]), rtol=0, atol=TOL)
        assert labels.tolist() == [w[2] for w in want]
        checked += 1
    assert checked == 5  # every micro-batch compared, none skipped


def test_device_images_share_the_array_and_refuse_variable_sizes(tmp_path):
    array = images(10, 3, 8, 8).numpy()
    ds = ArrayImageDataset("a", "train", array, np.zeros(10, dtype=np.int64), 1)
    held = device_images(ds, torch.device("cpu"), "auto")
    assert held is not None and held.data_ptr() == torch.from_numpy(ds.images).data_ptr()  # no copy on a CPU
    assert device_images(ds, torch.device("cpu"), "never") is None
    assert device_images(VariableSizeImages(4), torch.device("cpu"), "auto") is None
    assert uint8_array(VariableSizeImages(4)) is None and not has_fixed_size_images(VariableSizeImages(4))
    assert has_fixed_size_images(ds)
    with pytest.raises(ValueError, match="augment.on_device"):
        device_images(VariableSizeImages(4), torch.device("cpu"), "always")


def test_jpeg_files_travel_undecoded_and_decode_to_the_same_pixels(tmp_path):
    from byol_pkg.data import build_dataset
    from tests.data_fixtures import make_image_folder

    make_image_folder(tmp_path, {"train": {"a": 5, "b": 5}}, size=(14, 11))
    ds = build_dataset("imagefolder", tmp_path, "train")
    items = [ViewDraws(ds, seed=0, with_images=True, encoded=True)[k] for k in range(len(ds))]
    kinds = [ds.paths[i].rsplit(".", 1)[1].lower() for i in range(len(ds))]
    assert [it[3].ndim == 1 for it in items] == [k == "jpeg" for k in kinds]  # only JPEGs travel as bytes
    assert "jpeg" in kinds and "png" in kinds
    batch = collate_draws(items)
    decoded = decode_on_device(batch["images"], torch.device("cpu"))
    assert len(decoded) == len(ds) == 10  # every image decoded, none dropped
    for i, img in enumerate(decoded):
        assert torch.equal(img, ds.load_image(i)), ds.paths[i]
    views = BatchedViewTransform(paper_view_params(1), 8)(decoded, batch["uniforms"][:, 0])
    assert views.shape == (len(ds), 3, 8, 8)


def test_stl10_memmap_and_concat_are_held_whole(tmp_path):
    from byol_pkg.data import build_dataset
    from tests.data_fixtures import make_stl10

    arrays = make_stl10(tmp_path)
    ds = build_dataset("stl10", tmp_path, "train+unlabeled")
    array = uint8_array(ds)
    assert has_fixed_size_images(ds) and array is not None and array.shape == (11, 3, 96, 96)
    np.testing.assert_array_equal(array, np.concatenate([arrays["train"][0], arrays["unlabeled"][0]]))
