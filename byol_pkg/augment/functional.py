"""Colour and filtering ops on float images in [0, 1], with TF / DeepMind BYOL semantics.

Every op takes an image ``[3, H, W]`` or a batch ``[B, 3, H, W]`` (float, values in [0, 1]).
Strength arguments are a Python float (same value for every image) or, for a batch, a 1-D tensor
of ``B`` per-image values, so a batched GPU pipeline can reuse these functions with independent
per-image draws. The jitter ops clip their result to [0, 1], as the official code does after each op.

Semantics (spec section 5, pitfall 12): brightness is *additive* (``x + delta``), contrast blends
towards the *per-channel* spatial mean, saturation and hue act in HSV. torchvision's ``ColorJitter``
differs (multiplicative brightness, grayscale-mean contrast).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BLUR_DIRECT_MAX_KERNEL",
    "BLUR_MATMUL_MAX_SIDE",
    "GRAY_WEIGHTS",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "blur_kernel_size",
    "gaussian_blur",
    "gaussian_kernel1d",
    "normalize",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "solarize",
]

#: Luma weights of ``tf.image.rgb_to_grayscale`` (ITU-R BT.601).
GRAY_WEIGHTS: tuple[float, float, float] = (0.2989, 0.5870, 0.1140)

Strength = float | Tensor


def _per_image(value: Strength, img: Tensor) -> Strength:
    """Make a per-image strength broadcastable against ``img`` ([3,H,W] or [B,3,H,W])."""
    if isinstance(value, Tensor):
        value = value.to(dtype=img.dtype, device=img.device)
        if value.ndim == 1 and img.ndim == 4:
            return value.view(-1, 1, 1, 1)
        if value.ndim == 1 and value.numel() == 1:
            return value.view(())
        if value.ndim > 1 or (value.ndim == 1 and img.ndim != 4):
            raise ValueError(f"per-image strengths of shape {tuple(value.shape)} need a batch [B,3,H,W]")
    return value


def _check_rgb(img: Tensor) -> None:
    if img.ndim not in (3, 4) or img.shape[-3] != 3:
        raise ValueError(f"expected an RGB image [3,H,W] or batch [B,3,H,W], got shape {tuple(img.shape)}")


def adjust_brightness(img: Tensor, delta: Strength) -> Tensor:
    """TF brightness: add ``delta`` to every pixel, then clip to [0, 1]."""
    return (img + _per_image(delta, img)).clamp_(0.0, 1.0)


def adjust_contrast(img: Tensor, factor: Strength) -> Tensor:
    """TF contrast: ``factor * (x - m) + m`` with ``m`` the spatial mean of each channel, then clip."""
    mean = img.mean(dim=(-2, -1), keepdim=True)
    return torch.lerp(mean, img, _per_image(factor, img)).clamp_(0.0, 1.0)


_HSV_OFFSETS = (5.0, 3.0, 1.0)  # r, g, b sectors of the piecewise-linear hue -> rgb map


def _hue_sextant(img: Tensor, val: Tensor, delta: Tensor) -> Tensor:
    """6 * hue, in (-1, 6), from ``img`` and its per-pixel ``max`` and ``max - min``; 0 for gray pixels.

    Hexcone hue as ``colorsys``: red max -> ``(g - b) / d``, else green max -> ``2 + (b - r) / d``,
    else ``4 + (r - g) / d``. (Nested ``where`` rather than ``argmax``: argmax over channels is ~50x
    slower on CPU. Ties between channels give the same value either way.)
    """
    r, g, b = img.split(1, dim=-3)
    not_red = torch.where(g == val, (b - r).add_(delta, alpha=2.0), (r - g).add_(delta, alpha=4.0))
    sextant = torch.where(r == val, g - b, not_red)
    return sextant.div_(delta.clamp_min(1e-12))


def _hexcone(hue6: Tensor, val: Tensor, delta: Tensor) -> Tensor:
    """RGB from 6 * hue (any real, taken mod 6), value and chroma ``delta = value * saturation``."""
    offsets = torch.tensor(_HSV_OFFSETS, dtype=hue6.dtype, device=hue6.device).view(3, 1, 1)
    k = torch.remainder(hue6 + offsets, 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return val - delta * ramp


def rgb_to_hsv(img: Tensor) -> Tensor:
    """RGB -> HSV, all channels in [0, 1] (hue as a fraction of the circle); matches ``colorsys``."""
    _check_rgb(img)
    val = img.amax(dim=-3, keepdim=True)
    delta = val - img.amin(dim=-3, keepdim=True)
    sat = delta / torch.where(val > 0, val, torch.ones_like(val))
    hue = torch.remainder(_hue_sextant(img, val, delta) / 6.0, 1.0)
    return torch.cat((hue, sat, val), dim=-3)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """HSV -> RGB, inverse of :func:`rgb_to_hsv`; matches ``colorsys.hsv_to_rgb``."""
    _check_rgb(hsv)
    hue, sat, val = hsv.split(1, dim=-3)
    return _hexcone(hue * 6.0, val, val * sat)


def adjust_saturation(img: Tensor, factor: Strength) -> Tensor:
    """Multiply HSV saturation by ``factor`` (clipped to [0, 1]); hue and value are kept.

    Computed in closed form: with ``v = max`` and ``d = max - min`` per pixel, the HSV round trip
    gives ``x' = v - (v - x) * min(factor, v / d)``, which equals ``hsv_to_rgb(h, clip(s*factor), v)``
    exactly (up to float rounding; checked against ``colorsys`` in the tests) at a fraction of the cost.
    """
    _check_rgb(img)
    val = img.amax(dim=-3, keepdim=True)
    delta = val - img.amin(dim=-3, keepdim=True)
    factor = _per_image(factor, img)
    ratio = val / delta.clamp_min(1e-12)  # s' / s when s' would exceed 1 (the HSV clip)
    if isinstance(factor, Tensor):
        ratio = torch.minimum(ratio, factor.clamp_min(0.0))
    else:
        ratio = ratio.clamp_(max=max(float(factor), 0.0))
    return (val - (val - img) * ratio).clamp_(0.0, 1.0)


def adjust_hue(img: Tensor, delta: Strength) -> Tensor:
    """Rotate HSV hue by ``delta`` (fraction of the circle): ``H <- (H + delta) mod 1``; S and V kept.

    Fused form of ``hsv_to_rgb(rgb_to_hsv(x)`` with the hue shifted``)``, without materialising S.
    """
    _check_rgb(img)
    val = img.amax(dim=-3, keepdim=True)
    delta_c = val - img.amin(dim=-3, keepdim=True)
    hue6 = _hue_sextant(img, val, delta_c) + 6.0 * _per_image(delta, img)
    return _hexcone(hue6, val, delta_c).clamp_(0.0, 1.0)


def rgb_to_grayscale(img: Tensor) -> Tensor:
    """Luma ``0.2989 r + 0.5870 g + 0.1140 b`` replicated to 3 channels."""
    _check_rgb(img)
    r, g, b = img.unbind(dim=-3)
    luma = (GRAY_WEIGHTS[0] * r).add_(g, alpha=GRAY_WEIGHTS[1]).add_(b, alpha=GRAY_WEIGHTS[2])
    return luma.unsqueeze(-3).expand_as(img).contiguous()


def solarize(img: Tensor, threshold: float = 0.5) -> Tensor:
    """``x if x < threshold else 1 - x``.

    At the default threshold 0.5 this is ``min(x, 1 - x)`` (same values, picked elementwise; faster).
    """
    if threshold == 0.5:
        return torch.minimum(img, 1.0 - img)
    return torch.where(img < threshold, img, 1.0 - img)


def blur_kernel_size(image_size: int) -> int:
    """Side of the square blur kernel: ``2 * ((size // 10) // 2) + 1`` (23 at 224 px, 3 at 32 px), as [DM]."""
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return 2 * ((image_size // 10) // 2) + 1


def gaussian_kernel1d(sigma: Strength, kernel_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Normalised 1-D Gaussian taps ``exp(-x^2 / 2 sigma^2)`` at ``x = -r..r``; [k], or [B, k] for a [B] ``sigma``.

    Computed in float64, then cast to ``dtype``.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    radius = kernel_size // 2
    if isinstance(sigma, Tensor):
        sig = sigma.to(torch.float64).reshape(-1, 1)
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=sig.device)
        taps = torch.exp(-(offsets**2) / (2.0 * sig**2))
        return (taps / taps.sum(dim=-1, keepdim=True)).to(dtype)
    if not float(sigma) > 0.0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    taps = [math.exp(-(o * o) / (2.0 * float(sigma) ** 2)) for o in range(-radius, radius + 1)]
    total = math.fsum(taps)
    return torch.tensor([t / total for t in taps], dtype=dtype)


_BAND_CACHE: dict[tuple[int, int, str], Tensor] = {}
#: Kernels up to this size run as shifted multiply-adds (serial, no BLAS threading: best for small images).
BLUR_DIRECT_MAX_KERNEL = 9
#: Above this side the blur runs as two depthwise convolutions instead of two banded matrix products.
BLUR_MATMUL_MAX_SIDE = 512


def _band_index(n: int, kernel_size: int, device: torch.device) -> Tensor:
    """[n, n] indices into taps padded with one trailing zero: ``M[i, j] = taps[j - i + r]`` inside the band."""
    key = (n, kernel_size, str(device))
    if key not in _BAND_CACHE:
        pos = torch.arange(n, device=device)
        offset = pos.view(1, n) - pos.view(n, 1) + kernel_size // 2
        _BAND_CACHE[key] = torch.where((offset >= 0) & (offset < kernel_size), offset, kernel_size)
    return _BAND_CACHE[key]


def _blur_matrix(taps: Tensor, n: int) -> Tensor:
    """Banded [.., n, n] matrix applying the 1-D filter with zero padding (rows outside the image drop out)."""
    padded = torch.cat((taps, taps.new_zeros(*taps.shape[:-1], 1)), dim=-1)
    return padded[..., _band_index(n, taps.shape[-1], taps.device)]


def gaussian_blur(img: Tensor, sigma: Strength, kernel_size: int) -> Tensor:
    """Separable Gaussian blur, square ``kernel_size`` kernel, zero ('SAME') padding as in [DM].

    ``img`` is [C,H,W] or [B,C,H,W]; ``sigma`` a float, or for a batch a [B] tensor of per-image values.
    Three equivalent evaluations of the same sums, picked for speed: shifted multiply-adds for kernels
    up to :data:`BLUR_DIRECT_MAX_KERNEL`, two banded matrix products up to :data:`BLUR_MATMUL_MAX_SIDE`
    pixels, depthwise convolutions beyond. A CPU batch with per-image sigmas always takes the depthwise
    convolutions (3-15x faster there than the other two; ``benchmarks/README.md``).
    """
    if img.ndim not in (3, 4):
        raise ValueError(f"expected [C,H,W] or [B,C,H,W], got shape {tuple(img.shape)}")
    taps = gaussian_kernel1d(sigma, kernel_size, dtype=img.dtype).to(img.device)
    if taps.ndim == 2:
        if img.ndim != 4 or taps.shape[0] != img.shape[0]:
            raise ValueError(f"{taps.shape[0]} sigmas for an input of shape {tuple(img.shape)}")
        taps = taps.view(-1, 1, kernel_size)  # [B, 1 (channels), k]
    height, width = img.shape[-2:]
    if taps.ndim == 3 and img.device.type == "cpu":
        return _blur_conv(img, taps, kernel_size)
    if kernel_size <= BLUR_DIRECT_MAX_KERNEL:
        return _blur_direct(img, taps, kernel_size)
    if max(height, width) > BLUR_MATMUL_MAX_SIDE:
        return _blur_conv(img, taps, kernel_size)
    rows = _blur_matrix(taps, height)
    cols = rows if width == height else _blur_matrix(taps, width)
    return rows @ img @ cols.mT


def _blur_direct(img: Tensor, taps: Tensor, kernel_size: int) -> Tensor:
    """Zero-pad by the radius, then sum the ``k`` shifted copies along W, then along H."""
    height, width = img.shape[-2:]
    radius = kernel_size // 2
    padded = F.pad(img, (radius, radius, radius, radius))
    if taps.ndim == 1:  # one kernel: Python-number weights, one fused op per tap
        weights = taps.tolist()
        rows = padded[..., 0:width] * weights[0]
        for t in range(1, kernel_size):
            rows.add_(padded[..., t : t + width], alpha=weights[t])
        out = rows[..., 0:height, :] * weights[0]
        for t in range(1, kernel_size):
            out.add_(rows[..., t : t + height, :], alpha=weights[t])
        return out
    per_tap = taps.unsqueeze(-1).unsqueeze(-1)  # [B, 1, k, 1, 1]
    rows = sum(per_tap[..., t, :, :] * padded[..., t : t + width] for t in range(kernel_size))
    return sum(per_tap[..., t, :, :] * rows[..., t : t + height, :] for t in range(kernel_size))


def _blur_conv(img: Tensor, taps: Tensor, kernel_size: int) -> Tensor:
    """Two depthwise 1-D convolutions (one filter per image and channel) with zero padding."""
    batch = img.unsqueeze(0) if img.ndim == 3 else img
    n, c, h, w = batch.shape
    weight = taps.reshape(-1, kernel_size).expand(n, -1).repeat_interleave(c, dim=0).unsqueeze(1)  # [n*c, 1, k]
    radius = kernel_size // 2
    flat = batch.reshape(1, n * c, h, w)
    flat = F.conv2d(flat, weight.unsqueeze(2), padding=(0, radius), groups=n * c)  # along W
    flat = F.conv2d(flat, weight.unsqueeze(3), padding=(radius, 0), groups=n * c)  # along H
    return flat.reshape(batch.shape) if img.ndim == 4 else flat.reshape(img.shape)


def normalize(img: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(x - mean) / std`` with ``mean``/``std`` shaped [3, 1, 1]."""
    return (img - mean) / std
