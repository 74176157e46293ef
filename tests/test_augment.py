"""Augmentations: the numbers of every op (TF / DeepMind semantics), the drawn-parameter distributions
(paper Table 6), per-image determinism, and the evaluation transform."""

from __future__ import annotations

import colorsys
import dataclasses
import itertools
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from byol_pkg.augment import (
    BLUR_SIGMA,
    CROP_RATIO,
    IMAGENET_MEAN,
    IMAGENET_STD,
    JITTER_OPS,
    NUM_DRAWS,
    EvalTransform,
    ViewParams,
    ViewTransform,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    blur_kernel_size,
    gaussian_blur,
    hsv_to_rgb,
    paper_view_params,
    random_resized_crop_params,
    rgb_to_grayscale,
    rgb_to_hsv,
    solarize,
)
from byol_pkg.augment import functional as AF

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)
OFF = {"flip": False, "jitter": False, "grayscale": False, "blur": False, "solarize": False}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_image(seed: int, shape=(3, 32, 32)) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen(seed))


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    return x * STD + MEAN


def pixels(n: int = 400, seed: int = 0) -> torch.Tensor:
    """Random float64 pixels [3, 1, n] plus the awkward ones: gray, black, white, pure and tied colours."""
    special = torch.tensor(
        [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1],
         [1, 0, 1], [0.3, 0.3, 0.9], [0.9, 0.2, 0.9], [0.2, 0.7, 0.7], [0.9, 0.1, 0.2]], dtype=torch.float64)
    rand = torch.rand(n, 3, dtype=torch.float64, generator=gen(seed))
    return torch.cat((special, rand)).T.reshape(3, 1, -1)


def colorsys_map(x: torch.Tensor, fn) -> torch.Tensor:
    """Apply a per-pixel ``fn(r, g, b) -> (a, b, c)`` to [3, 1, n]."""
    out = [fn(*x[:, 0, i].tolist()) for i in range(x.shape[-1])]
    return torch.tensor(out, dtype=torch.float64).T.reshape(x.shape)


# ------------------------------------------------------------------------------------ colour ops


def test_brightness_adds_delta_then_clips():
    x = torch.tensor([0.0, 0.1, 0.5, 0.8, 1.0]).expand(3, 1, 5)
    assert torch.allclose(adjust_brightness(x, 0.3)[0, 0], torch.tensor([0.3, 0.4, 0.8, 1.0, 1.0]))
    assert torch.allclose(adjust_brightness(x, -0.2)[0, 0], torch.tensor([0.0, 0.0, 0.3, 0.6, 0.8]))
    y = torch.rand(3, 8, 8, generator=gen(1))
    assert torch.equal(adjust_brightness(y, 0.17), (y + 0.17).clamp(0, 1))  # additive, not multiplicative


def test_contrast_uses_per_channel_mean():
    x = torch.tensor([[[0.2, 0.6]], [[0.0, 1.0]], [[0.5, 0.5]]])  # channel means 0.4, 0.5, 0.5
    out = adjust_contrast(x, 1.5)
    expected = torch.tensor([[[0.1, 0.7]], [[0.0, 1.0]], [[0.5, 0.5]]])  # c1: -0.25, 1.25 clipped
    assert torch.allclose(out, expected, atol=1e-7)
    assert torch.allclose(adjust_contrast(x, 0.0), x.mean(dim=(1, 2), keepdim=True).expand_as(x))
    # torchvision's contrast blends towards the *grayscale* mean: a different answer here
    gray_mean = rgb_to_grayscale(x).mean()
    assert not torch.allclose(out, (1.5 * (x - gray_mean) + gray_mean).clamp(0, 1))


def test_rgb_hsv_match_colorsys_and_round_trip():
    x = pixels()
    hsv = rgb_to_hsv(x)
    assert torch.allclose(hsv, colorsys_map(x, colorsys.rgb_to_hsv), atol=1e-12)
    assert torch.allclose(hsv_to_rgb(hsv), x, atol=1e-12)
    assert torch.allclose(hsv_to_rgb(hsv), colorsys_map(hsv, colorsys.hsv_to_rgb), atol=1e-12)
    assert hsv.min() >= 0 and hsv.max() <= 1
    x32 = x.float()
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x32)), x32, atol=1e-6)


@pytest.mark.parametrize("factor", [0.0, 0.8, 1.0, 1.2, 3.0])
def test_saturation_matches_colorsys(factor):
    x = pixels(seed=2)

    def ref(r, g, b):
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        return colorsys.hsv_to_rgb(h, min(max(s * factor, 0.0), 1.0), v)

    expected = colorsys_map(x, ref)
    assert torch.allclose(adjust_saturation(x, factor), expected, atol=1e-12)
    assert torch.allclose(adjust_saturation(x.float(), factor), expected.float(), atol=1e-5)


@pytest.mark.parametrize("delta", [-0.1, -0.03, 0.0, 0.05, 0.1, 0.5])
def test_hue_matches_colorsys(delta):
    x = pixels(seed=3)

    def ref(r, g, b):
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        return colorsys.hsv_to_rgb((h + delta) % 1.0, s, v)

    expected = colorsys_map(x, ref)
    assert torch.allclose(adjust_hue(x, delta), expected, atol=1e-12)
    assert torch.allclose(adjust_hue(x.float(), delta), expected.float(), atol=1e-5)


def test_grayscale_weights():
    red, green, blue = (torch.eye(3)[i].view(3, 1, 1).expand(3, 4, 4) for i in range(3))
    for img, weight in ((red, 0.2989), (green, 0.5870), (blue, 0.1140)):
        out = rgb_to_grayscale(img)
        assert out.shape == (3, 4, 4)
        assert torch.allclose(out, torch.full((3, 4, 4), weight), atol=1e-7)
    x = torch.rand(3, 5, 5, generator=gen(4))
    luma = 0.2989 * x[0] + 0.5870 * x[1] + 0.1140 * x[2]
    assert torch.allclose(rgb_to_grayscale(x), luma.expand(3, 5, 5), atol=1e-7)


def test_solarize_threshold():
    x = torch.tensor([0.0, 0.2, 0.49, 0.5, 0.51, 0.8, 1.0])
    assert torch.allclose(solarize(x), torch.tensor([0.0, 0.2, 0.49, 0.5, 0.49, 0.2, 0.0]))
    y = torch.rand(3, 16, 16, generator=gen(5))
    assert torch.equal(solarize(y), torch.where(y < 0.5, y, 1 - y))  # the min(x, 1-x) shortcut is exact
    assert torch.allclose(solarize(x, 0.3), torch.tensor([0.0, 0.2, 0.51, 0.5, 0.49, 0.2, 0.0]))


def test_functional_ops_accept_batches_with_per_image_values():
    x = torch.rand(4, 3, 9, 11, generator=gen(6))
    values = {
        adjust_brightness: torch.tensor([-0.3, 0.0, 0.1, 0.4]),
        adjust_contrast: torch.tensor([0.6, 1.0, 1.2, 1.4]),
        adjust_saturation: torch.tensor([0.0, 0.8, 1.1, 1.2]),
        adjust_hue: torch.tensor([-0.1, 0.0, 0.04, 0.1]),
    }
    for fn, v in values.items():
        batched = fn(x, v)
        looped = torch.stack([fn(x[i], float(v[i])) for i in range(4)])
        assert torch.allclose(batched, looped, atol=1e-6), fn.__name__
    assert torch.allclose(rgb_to_grayscale(x), torch.stack([rgb_to_grayscale(x[i]) for i in range(4)]))
    sigma = torch.tensor([0.1, 0.7, 1.3, 2.0])
    looped = torch.stack([gaussian_blur(x[i], float(sigma[i]), 5) for i in range(4)])
    assert torch.allclose(gaussian_blur(x, sigma, 5), looped, atol=1e-6)


# ------------------------------------------------------------------------------------------- blur


def gauss1d(sigma: float, k: int) -> torch.Tensor:
    r = k // 2
    g = torch.tensor([math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-r, r + 1)], dtype=torch.float64)
    return g / g.sum()


def test_blur_kernel_size():
    assert blur_kernel_size(224) == 23 and blur_kernel_size(32) == 3 and blur_kernel_size(28) == 3
    assert blur_kernel_size(96) == 9 and blur_kernel_size(64) == 7
    for size in range(1, 600):  # [DM]: radius = int(kernel_size / 2) with kernel_size = size / 10
        assert blur_kernel_size(size) == 2 * int(size / 10 / 2) + 1


@pytest.mark.parametrize("sigma, k", [(1.7, 23), (0.1, 23), (2.0, 3), (0.8, 9)])
def test_blurred_delta_is_outer_product_of_gaussians(sigma, k):
    n = 41
    x = torch.zeros(3, n, n)
    x[:, 20, 20] = 1.0
    out = gaussian_blur(x, sigma, k)
    g = gauss1d(sigma, k)
    expected = torch.zeros(n, n, dtype=torch.float64)
    r = k // 2
    expected[20 - r : 21 + r, 20 - r : 21 + r] = torch.outer(g, g)
    for c in range(3):
        assert torch.allclose(out[c].double(), expected, atol=1e-7)


def test_blur_zero_padding_at_borders():
    k, sigma, r = 23, 1.5, 11
    g = gauss1d(sigma, k)
    corner = torch.zeros(1, 30, 30)
    corner[0, 0, 0] = 1.0
    out = gaussian_blur(corner, sigma, k)[0].double()
    assert torch.allclose(out[: r + 1, : r + 1], torch.outer(g[r:], g[r:]), atol=1e-7)
    assert math.isclose(out.sum().item(), g[r:].sum().item() ** 2, rel_tol=1e-5)  # mass lost off the edge
    ones = gaussian_blur(torch.ones(1, 30, 30), sigma, k)[0].double()
    assert torch.allclose(ones[0, 0], g[r:].sum() ** 2, atol=1e-6)  # 'SAME' zero padding, not reflect
    assert torch.allclose(ones[0, 15], g[r:].sum() * g.sum(), atol=1e-6)


def test_blur_preserves_mass_in_the_interior():
    k, r = 9, 4
    x = torch.zeros(3, 40, 40)
    x[:, r:-r, r:-r] = torch.rand(3, 32, 32, generator=gen(7))
    out = gaussian_blur(x, 1.9, k)
    assert torch.allclose(out.sum(dim=(1, 2)), x.sum(dim=(1, 2)), rtol=1e-5)
    assert torch.allclose(gaussian_blur(torch.ones(3, 40, 40), 1.9, k)[:, r:-r, r:-r], torch.ones(1), atol=1e-6)


@pytest.mark.parametrize("k", [3, 7, 13, 23])
def test_blur_evaluation_paths_agree(k):
    """Shifted adds, banded matrices and depthwise convolution compute the same sums."""
    x = torch.rand(2, 3, 20, 37, generator=gen(8))
    for sigma in (torch.tensor([0.4, 1.6]), 0.9):
        taps = AF.gaussian_kernel1d(sigma, k)
        taps = taps.view(2, 1, k) if taps.ndim == 2 else taps
        direct = AF._blur_direct(x, taps, k)
        conv = AF._blur_conv(x, taps, k)
        banded = AF._blur_matrix(taps, 20) @ x @ AF._blur_matrix(taps, 37).mT
        assert torch.allclose(direct, conv, atol=1e-6) and torch.allclose(direct, banded, atol=1e-6)
        assert torch.allclose(gaussian_blur(x, sigma, k), direct, atol=1e-6)
    tall = torch.rand(1, AF.BLUR_MATMUL_MAX_SIDE + 8, 6, generator=gen(9))  # takes the convolution path
    reference = AF._blur_direct(tall, AF.gaussian_kernel1d(1.2, k), k)
    assert torch.allclose(gaussian_blur(tall, 1.2, k), reference, atol=1e-6)


# ------------------------------------------------------------------------------------- crop draws


def test_crop_area_and_ratio_ranges():
    side = 4000  # large, so the rounding of h and w is negligible
    boxes = [random_resized_crop_params(side, side, generator=gen(s)) for s in range(2000)]
    frac = torch.tensor([h * w / side**2 for _, _, h, w in boxes])
    log_ratio = torch.tensor([math.log(w / h) for _, _, h, w in boxes])
    assert frac.min() >= 0.08 - 1e-3 and frac.max() <= 1.0
    assert frac.min() < 0.1 and frac.max() > 0.95  # the whole range is used
    assert log_ratio.min() >= math.log(3 / 4) - 1e-3 and log_ratio.max() <= math.log(4 / 3) + 1e-3
    assert log_ratio.min() < math.log(3 / 4) + 0.02 and log_ratio.max() > math.log(4 / 3) - 0.02
    assert all(0 <= t and 0 <= left and t + h <= side and left + w <= side for t, left, h, w in boxes)


def test_crop_boxes_stay_inside_small_and_oblong_images():
    for height, width in ((28, 28), (32, 32), (5, 40), (40, 7)):
        for s in range(300):
            t, left, h, w = random_resized_crop_params(height, width, generator=gen(s))
            assert 0 <= t <= height - h and 0 <= left <= width - w and h >= 1 and w >= 1


def test_crop_fallback_is_centred_and_ratio_clamped():
    impossible = (2.0, 3.0)  # every attempt asks for more than the whole image
    assert random_resized_crop_params(100, 400, impossible, generator=gen(0)) == (0, 133, 100, 133)
    assert random_resized_crop_params(400, 100, impossible, generator=gen(0)) == (133, 0, 133, 100)
    assert random_resized_crop_params(90, 100, impossible, generator=gen(0)) == (0, 0, 90, 100)


def test_view_crop_is_random_resized_crop_with_view_scale():
    t = ViewTransform(ViewParams(min_scale=0.3, max_scale=0.9), 32)
    for s in range(50):
        crop = random_resized_crop_params(64, 48, (0.3, 0.9), CROP_RATIO, generator=gen(s))
        assert t.sample_params(gen(s), 64, 48)["crop"] == crop


# ------------------------------------------------------------------------------- parameter draws


def draws(view: int, n: int = 2000, blur: bool = True) -> list[dict]:
    t = ViewTransform(paper_view_params(view), 32, blur=blur)
    g = gen(1000 + view)  # one generator, n images in a row
    return [t.sample_params(g, 32, 32) for _ in range(n)]


@pytest.mark.parametrize("view", [1, 2])
def test_op_probabilities_match_table6(view):
    d = draws(view)
    p = paper_view_params(view)
    expected = {"flip": p.flip_prob, "jitter": p.jitter_prob, "grayscale": p.grayscale_prob,
                "blur": p.blur_prob, "solarize": p.solarize_prob}
    for key, prob in expected.items():
        rate = sum(x[key] for x in d) / len(d)
        tol = 3 * math.sqrt(prob * (1 - prob) / len(d))
        assert abs(rate - prob) <= tol + 1e-12, (key, rate, prob)
    # grayscale is independent of jitter: it fires as often on jittered as on plain images
    gray_given_jitter = sum(x["grayscale"] for x in d if x["jitter"]) / sum(x["jitter"] for x in d)
    assert abs(gray_given_jitter - 0.2) < 3 * math.sqrt(0.16 / (0.8 * len(d)))


@pytest.mark.parametrize("view", [1, 2])
def test_magnitude_ranges(view):
    d = draws(view, n=1000)
    bounds = {"brightness": (-0.4, 0.4), "contrast": (0.6, 1.4), "saturation": (0.8, 1.2),
              "hue": (-0.1, 0.1), "sigma": BLUR_SIGMA}
    for key, (lo, hi) in bounds.items():
        v = torch.tensor([x[key] for x in d])
        assert v.min() >= lo and v.max() <= hi, key
        assert v.min() < lo + 0.02 * (hi - lo) and v.max() > hi - 0.02 * (hi - lo), key  # range covered
        assert abs(v.mean().item() - (lo + hi) / 2) < 0.05 * (hi - lo), key  # uniform: centred


def test_jitter_order_is_a_random_permutation_per_image():
    orders = [x["jitter_order"] for x in draws(1)]
    assert all(sorted(o) == sorted(JITTER_OPS) for o in orders)
    counts = {o: orders.count(o) for o in itertools.permutations(JITTER_OPS)}
    assert all(c > 0 for c in counts.values()) and len(set(orders)) == 24
    assert max(counts.values()) < 2000 / 24 * 1.6  # roughly uniform (expected 83 each)


def test_view_params_are_table6():
    v1, v2 = paper_view_params(1), paper_view_params(2)
    common = dict(min_scale=0.08, max_scale=1.0, flip_prob=0.5, jitter_prob=0.8, brightness=0.4,
                  contrast=0.4, saturation=0.2, hue=0.1, grayscale_prob=0.2)
    assert v1 == ViewParams(**common, blur_prob=1.0, solarize_prob=0.0) == ViewParams()
    assert v2 == ViewParams(**common, blur_prob=0.1, solarize_prob=0.2)
    with pytest.raises(ValueError):
        paper_view_params(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v1.blur_prob = 0.5  # type: ignore[misc]
    for bad in (dict(blur_prob=1.5), dict(min_scale=0.0), dict(min_scale=0.9, max_scale=0.5), dict(hue=0.6)):
        with pytest.raises(ValueError):
            ViewParams(**bad)


def test_blur_false_never_blurs():
    assert not any(x["blur"] for x in draws(1, n=500, blur=False))
    img = rand_image(9)
    no_blur = ViewTransform(dataclasses.replace(paper_view_params(1), blur_prob=0.0), 32)
    switched = ViewTransform(paper_view_params(1), 32, blur=False)
    for s in range(20):
        assert torch.equal(switched(img, gen(s)), no_blur(img, gen(s)))


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_is_bit_identical_and_seeds_differ():
    t = ViewTransform(paper_view_params(2), 32)
    img = rand_image(10)
    outs = [t(img, gen(s)) for s in range(8)]
    assert all(torch.equal(t(img, gen(s)), outs[s]) for s in range(8))
    assert all(not torch.equal(a, b) for a, b in itertools.combinations(outs, 2))


def test_draws_are_per_image_and_use_a_fixed_stream_layout():
    t = ViewTransform(paper_view_params(1), 32)
    g = gen(11)
    first, second = t.sample_params(g, 32, 32), t.sample_params(g, 32, 32)
    for key in ("crop", "brightness", "contrast", "saturation", "hue", "sigma"):
        assert first[key] != second[key], key  # two images in a row do not share draws
    g1, g2 = gen(12), gen(12)
    t(rand_image(0), g1)  # one view consumes exactly NUM_DRAWS uniforms, whatever fired
    torch.rand(NUM_DRAWS, generator=g2, dtype=torch.float64)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_call_is_apply_of_sample_params():
    t = ViewTransform(paper_view_params(1), 24)
    img = rand_image(13, (3, 40, 30))
    for s in range(10):
        assert torch.equal(t(img, gen(s)), t.apply(img, t.sample_params(gen(s), 40, 30)))


def reference_view(img_u8: torch.Tensor, d: dict, size: int, k: int) -> torch.Tensor:
    """The pipeline written out op by op, from the drawn parameters."""
    t, left, h, w = d["crop"]
    x = img_u8[:, t : t + h, left : left + w].float() / 255
    x = F.interpolate(x[None], size=(size, size), mode="bicubic", antialias=True, align_corners=False)[0]
    x = x.clamp(0, 1).expand(3, -1, -1)
    if d["flip"]:
        x = x.flip(-1)
    if d["jitter"]:
        for name in d["jitter_order"]:
            x = {"brightness": adjust_brightness, "contrast": adjust_contrast,
                 "saturation": adjust_saturation, "hue": adjust_hue}[name](x, d[name])
    if d["grayscale"]:
        x = rgb_to_grayscale(x)
    if d["blur"]:
        x = gaussian_blur(x, d["sigma"], k)
    if d["solarize"]:
        x = torch.where(x < 0.5, x, 1 - x)
    return (x - MEAN) / STD


@pytest.mark.parametrize("channels", [1, 3])
def test_apply_follows_the_pipeline_order(channels):
    t = ViewTransform(paper_view_params(2), 32)
    img = rand_image(14, (channels, 45, 38))
    for s in range(12):
        d = t.sample_params(gen(s), 45, 38)
        d.update(flip=s % 2 == 0, jitter=s % 3 != 0, grayscale=s % 4 == 1, blur=s % 2 == 1, solarize=s % 3 == 1)
        expected = reference_view(img, d, 32, t.kernel_size)
        assert torch.allclose(t.apply(img, d), expected, atol=1e-5)
    d = dict(t.sample_params(gen(0), 45, 38), **OFF)
    assert torch.allclose(t.apply(img, dict(d, flip=True)), t.apply(img, d).flip(-1))


def test_view_output_shape_range_and_gray_input():
    t = ViewTransform(paper_view_params(1), 28)
    gray = rand_image(15, (1, 28, 28))
    for s in range(20):
        out = t(gray, gen(s))
        assert out.shape == (3, 28, 28) and out.dtype == torch.float32
        raw = unnormalise(out)
        assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6
        assert torch.equal(out, t(gray.expand(3, -1, -1).contiguous(), gen(s)))  # 1 channel -> RGB
    assert ViewTransform(paper_view_params(2), 64)(rand_image(16, (3, 50, 90)), gen(0)).shape == (3, 64, 64)
    with pytest.raises(ValueError):
        t(rand_image(0, (2, 28, 28)), gen(0))


def test_view_blur_uses_the_drawn_sigma():
    size = 64
    t = ViewTransform(paper_view_params(1), size)
    assert t.kernel_size == 7
    img = torch.zeros(3, size, size, dtype=torch.uint8)
    img[:, 32, 32] = 255
    for s in range(5):
        d = dict(t.sample_params(gen(s), size, size), **OFF)
        d.update(crop=(0, 0, size, size), blur=True)
        out = unnormalise(t.apply(img, d)).double()
        g = gauss1d(d["sigma"], 7)
        expected = torch.zeros(size, size, dtype=torch.float64)
        expected[29:36, 29:36] = torch.outer(g, g)
        assert torch.allclose(out, expected.expand(3, -1, -1), atol=1e-5)


def test_config_records_semantics_and_transform_pickles():
    t = ViewTransform(paper_view_params(2), 32, blur=False)
    cfg = t.config()
    assert cfg["jitter_semantics"] == "tf-deepmind" and cfg["blur"] is False and cfg["blur_kernel_size"] == 3
    assert cfg["solarize_prob"] == 0.2 and cfg["interpolation"] == "bicubic-antialias"
    clone = pickle.loads(pickle.dumps(t))  # DataLoader workers may receive it by pickling
    img = rand_image(21)
    assert torch.equal(clone(img, gen(3)), t(img, gen(3)))


def test_normalisation_values():
    img = torch.full((3, 32, 32), 200, dtype=torch.uint8)
    img[1] = 17
    expected = (torch.tensor([200, 17, 200]) / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    out = EvalTransform(32)(img)
    assert torch.allclose(out, expected.view(3, 1, 1).expand(3, 32, 32), atol=1e-6)
    plain = ViewParams(jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0)
    out = ViewTransform(plain, 16)(img, gen(0))
    assert torch.allclose(out, expected.view(3, 1, 1).expand(3, 16, 16), atol=1e-5)
    custom = EvalTransform(32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))(img)
    assert torch.allclose(custom[:, 0, 0], (torch.tensor([200, 17, 200]) / 255 - 0.5) / torch.tensor([0.25, 0.5, 1.0]))


# ------------------------------------------------------------------------------------------- eval


def test_eval_default_resize():
    """The paper's test transform (resize 256, centre crop 224; App. C.1) keeps the ratio 224/256 at any size."""
    assert EvalTransform(224).resize == 256 and EvalTransform(32).resize == 37 and EvalTransform(28).resize == 32
    assert EvalTransform(96).resize == 110 and EvalTransform(64).resize == 73
    with pytest.raises(ValueError):
        EvalTransform(224, resize=200)


def test_eval_centre_crop_without_resize():
    img = rand_image(17, (3, 32, 40))
    out = EvalTransform(32, resize=32)(img)
    expected = (img[:, :, 4:36].float() / 255 - MEAN) / STD
    assert torch.allclose(out, expected, atol=1e-6)
    gray = rand_image(18, (1, 28, 28))
    assert torch.allclose(EvalTransform(28, resize=28)(gray), (gray.float().expand(3, -1, -1) / 255 - MEAN) / STD,
                          atol=1e-6)


def test_eval_default_is_resize_then_centre_crop_at_small_sizes():
    """28 px Fashion-MNIST: resized to 32 (bicubic, antialiased), then the central 28 x 28."""
    gray = rand_image(21, (1, 28, 28))
    resized = F.interpolate(gray[None].float() / 255, size=(32, 32), mode="bicubic", antialias=True)[0].clamp(0, 1)
    expected = (resized[:, 2:30, 2:30].expand(3, -1, -1) - MEAN) / STD
    assert torch.allclose(EvalTransform(28)(gray), expected, atol=1e-6)


def test_eval_resize_shorter_side_then_centre_crop():
    img = rand_image(19, (3, 100, 200))
    t = EvalTransform(32, resize=40)
    assert t.resized_shape(100, 200) == (40, 80) and t.resized_shape(300, 120) == (100, 40)
    resized = F.interpolate(img[None].float() / 255, size=(40, 80), mode="bicubic", antialias=True)[0].clamp(0, 1)
    expected = (resized[:, 4:36, 24:56] - MEAN) / STD
    out = t(img)
    assert out.shape == (3, 32, 32) and torch.allclose(out, expected, atol=1e-6)
    big = EvalTransform(224)(rand_image(20, (3, 375, 500)))
    assert big.shape == (3, 224, 224) and big.dtype == torch.float32
    assert torch.equal(EvalTransform(224)(rand_image(20, (3, 375, 500))), big)  # deterministic


@pytest.mark.parametrize("shape,size", [((1, 28, 28), 28), ((3, 32, 32), 32), ((3, 40, 30), 24), ((3, 9, 9), 9)])
def test_eval_batch_equals_image_by_image(shape, size):
    images = torch.stack([rand_image(30 + i, shape) for i in range(5)])
    t = EvalTransform(size, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    expected = torch.stack([t(img) for img in images])
    out = t.batch(images)
    assert out.shape == (5, 3, size, size)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
