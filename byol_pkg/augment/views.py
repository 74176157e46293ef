"""Per-image BYOL view transforms T / T' (paper Appendix B, Table 6) and the evaluation transform.

Every random number a view needs is drawn in *one* call, ``torch.rand(NUM_DRAWS, generator=g)``, by
:meth:`ViewTransform.sample_params`, which returns the decoded draws as a dict; :meth:`ViewTransform.apply`
is then a deterministic function of (image, draws). A caller that seeds one ``torch.Generator`` per
(epoch, image, view) therefore gets bit-identical views on replay, and no two images or views share a
draw (pitfall 4). All draws are made whether or not an op fires, so the stream layout is fixed.

Order of ops, as [DM] ``postprocess``: random resized crop -> bicubic resize (antialiased) -> flip ->
colour jitter (p, random op order) -> grayscale (p) -> Gaussian blur (p) -> solarize (p) -> normalise.
Jitter semantics are TF / DeepMind (additive brightness, per-channel-mean contrast, HSV saturation
and hue, clip after every op); see :mod:`byol_pkg.augment.functional`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from byol_pkg.augment import functional as AF
from byol_pkg.config import T_PRIME, ViewParams

__all__ = [
    "CROP_ATTEMPTS",
    "CROP_RATIO",
    "BLUR_SIGMA",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "JITTER_OPS",
    "JITTER_SEMANTICS",
    "NUM_DRAWS",
    "EvalTransform",
    "ViewParams",
    "ViewSpec",
    "ViewTransform",
    "paper_view_params",
    "random_resized_crop_params",
    "view_uniforms",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
CROP_RATIO: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
CROP_ATTEMPTS = 10
BLUR_SIGMA: tuple[float, float] = (0.1, 2.0)
JITTER_OPS: tuple[str, ...] = ("brightness", "contrast", "saturation", "hue")
#: Recorded in run metadata (pitfall 12): which colour-jitter semantics this module implements.
JITTER_SEMANTICS = "tf-deepmind"

# Layout of the uniform draws of one view (indices into the single torch.rand call).
# [0, 20): (area, log-ratio) per crop attempt; 20, 21: (top, left); then one uniform per coin or
# magnitude; 28..31: sort keys of the jitter order.
_POS = 2 * CROP_ATTEMPTS
_CROP_DRAWS = _POS + 2
_FLIP, _JITTER, _MAG, _ORDER, _GRAY, _BLUR, _SIGMA, _SOLAR = 22, 23, 24, 28, 32, 33, 34, 35
NUM_DRAWS = 36


def paper_view_params(view: int) -> ViewParams:
    """Paper Table 6: view 1 is T (blur 1.0, solarize 0.0), view 2 is T' (blur 0.1, solarize 0.2)."""
    if view == 1:
        return ViewParams()
    if view == 2:
        return T_PRIME
    raise ValueError(f"view must be 1 or 2, got {view}")


def view_uniforms(generator: torch.Generator) -> Tensor:
    """The ``NUM_DRAWS`` float64 uniforms one view consumes, in one call: the only source of a view's randomness
    for both backends (:meth:`ViewTransform.sample_params` decodes them per image, the batched backend per batch)."""
    return torch.rand(NUM_DRAWS, generator=generator, dtype=torch.float64)


# --------------------------------------------------------------------------------------------- crop


def _crop_from_uniforms(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], u: Sequence[float]
) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop algorithm driven by 22 given uniforms in [0, 1)."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for attempt in range(CROP_ATTEMPTS):
        target = area * (scale[0] + (scale[1] - scale[0]) * u[2 * attempt])
        aspect = math.exp(log_lo + (log_hi - log_lo) * u[2 * attempt + 1])
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = min(int(u[_POS] * (height - h + 1)), height - h)
            left = min(int(u[_POS + 1] * (width - w + 1)), width - w)
            return top, left, h, w
    return _centre_fallback(height, width, ratio)


def _centre_fallback(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """Whole image, trimmed to the nearest aspect ratio in ``ratio``, centred."""
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = CROP_RATIO,
    *,
    generator: torch.Generator,
) -> tuple[int, int, int, int]:
    """Crop box ``(top, left, h, w)``: area fraction ~ U[scale], aspect ratio log-uniform in ``ratio``.

    Up to 10 attempts, then a centre crop clamped to the ratio range (torchvision's algorithm). Always
    consumes exactly 22 uniforms of ``generator`` (the first 22 of a view's draws).
    """
    if height < 1 or width < 1:
        raise ValueError(f"image must be non-empty, got {height}x{width}")
    if not (0.0 < scale[0] <= scale[1] and 0.0 < ratio[0] <= ratio[1]):
        raise ValueError(f"need 0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1], got {scale}, {ratio}")
    u = torch.rand(_CROP_DRAWS, generator=generator, dtype=torch.float64).tolist()
    return _crop_from_uniforms(height, width, scale, ratio, u)


# ------------------------------------------------------------------------------------------ helpers


def _check_image(img: Tensor) -> Tensor:
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"expected an image [C,H,W] with C in {{1, 3}}, got shape {tuple(img.shape)}")
    return img


def _to_unit_float(img: Tensor) -> Tensor:
    """uint8 -> float32 in [0, 1] (``/255``); float input is taken to be in [0, 1] already."""
    if img.dtype == torch.uint8:
        return img.to(torch.float32).div_(255.0)
    if img.is_floating_point():
        return img.to(torch.float32)
    raise TypeError(f"expected a uint8 or float image, got {img.dtype}")


def _resize(img: Tensor, height: int, width: int) -> Tensor:
    """Bicubic (antialiased) resize of [C,H,W] to ``height x width``, clipped to [0, 1]."""
    if tuple(img.shape[-2:]) == (height, width):
        return img
    out = F.interpolate(img.unsqueeze(0), size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return out.squeeze(0).clamp_(0.0, 1.0)


def _to_rgb(img: Tensor) -> Tensor:
    return img.expand(3, -1, -1).contiguous() if img.shape[0] == 1 else img


def _stats(values: Sequence[float], name: str) -> Tensor:
    if len(values) != 3:
        raise ValueError(f"{name} needs 3 values, got {list(values)}")
    return torch.tensor([float(v) for v in values], dtype=torch.float32).view(3, 1, 1)


_JITTER_FNS = {
    "brightness": AF.adjust_brightness,
    "contrast": AF.adjust_contrast,
    "saturation": AF.adjust_saturation,
    "hue": AF.adjust_hue,
}


# ------------------------------------------------------------------------------------------- views


class ViewSpec:
    """What both view transforms share: the view's distribution, output size, blur switch and normalisation.

    ``blur=False`` is the switch for the 32-px recipes (CIFAR, Fashion-MNIST): no blur regardless of
    ``params.blur_prob``. The blur kernel side is :func:`blur_kernel_size` of ``size``.
    """

    backend = "reference"

    def __init__(
        self,
        params: ViewParams,
        size: int,
        blur: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.params = params
        self.size = int(size)
        self.blur = bool(blur)
        self.kernel_size = AF.blur_kernel_size(self.size)
        self.mean = _stats(mean, "mean")
        self.std = _stats(std, "std")

    def config(self) -> dict[str, Any]:
        """Plain-dict description for run metadata."""
        return {
            **asdict(self.params),
            "size": self.size,
            "blur": self.blur,
            "blur_kernel_size": self.kernel_size,
            "blur_sigma": list(BLUR_SIGMA),
            "crop_ratio": list(CROP_RATIO),
            "interpolation": "bicubic-antialias",
            "jitter_semantics": JITTER_SEMANTICS,
            "backend": self.backend,
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, size={self.size}, blur={self.blur})"


class ViewTransform(ViewSpec):
    """One BYOL view: ``ViewTransform(paper_view_params(1), 224)(img_uint8, generator)``.

    Input ``uint8 [C, H, W]`` (C = 1 is replicated to RGB; a float image in [0, 1] is also accepted);
    output ``float32 [3, size, size]``, normalised. Jitter semantics: :data:`JITTER_SEMANTICS`;
    :meth:`config` gives a plain dict for run metadata.
    """

    def sample_params(self, generator: torch.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw every random choice for one view of a ``height x width`` image (one ``torch.rand`` call).

        Keys: ``crop`` (top, left, h, w); booleans ``flip``, ``jitter``, ``grayscale``, ``blur``,
        ``solarize`` (whether each op fires); ``jitter_order`` (permutation of :data:`JITTER_OPS`);
        magnitudes ``brightness`` (additive delta), ``contrast`` and ``saturation`` (factors),
        ``hue`` (shift, fraction of the circle), ``sigma`` (blur std in pixels). Magnitudes are drawn
        even when their op does not fire.
        """
        p = self.params
        u = view_uniforms(generator).tolist()
        mag = u[_MAG : _MAG + 4]
        order_keys = u[_ORDER : _ORDER + 4]
        scale = (p.min_scale, p.max_scale)
        return {
            "crop": _crop_from_uniforms(height, width, scale, CROP_RATIO, u[:_CROP_DRAWS]),
            "flip": u[_FLIP] < p.flip_prob,
            "jitter": u[_JITTER] < p.jitter_prob,
            "jitter_order": tuple(JITTER_OPS[i] for i in sorted(range(4), key=order_keys.__getitem__)),
            "brightness": p.brightness * (2.0 * mag[0] - 1.0),
            "contrast": 1.0 + p.contrast * (2.0 * mag[1] - 1.0),
            "saturation": 1.0 + p.saturation * (2.0 * mag[2] - 1.0),
            "hue": p.hue * (2.0 * mag[3] - 1.0),
            "grayscale": u[_GRAY] < p.grayscale_prob,
            "blur": self.blur and u[_BLUR] < p.blur_prob,
            "sigma": BLUR_SIGMA[0] + (BLUR_SIGMA[1] - BLUR_SIGMA[0]) * u[_SIGMA],
            "solarize": u[_SOLAR] < p.solarize_prob,
        }

    def apply(self, img: Tensor, draws: dict[str, Any]) -> Tensor:
        """Deterministic part: the view of ``img`` given the ``draws`` of :meth:`sample_params`."""
        img = _check_image(img)
        top, left, h, w = draws["crop"]
        x = _resize(_to_unit_float(img[:, top : top + h, left : left + w]), self.size, self.size)
        x = _to_rgb(x)
        if draws["flip"]:
            x = x.flip(-1)
        if draws["jitter"]:
            for name in draws["jitter_order"]:
                x = _JITTER_FNS[name](x, draws[name])
        if draws["grayscale"]:
            x = AF.rgb_to_grayscale(x)
        if draws["blur"]:
            x = AF.gaussian_blur(x, draws["sigma"], self.kernel_size)
        if draws["solarize"]:
            x = AF.solarize(x)
        return AF.normalize(x, self.mean, self.std)

    def __call__(self, img: Tensor, generator: torch.Generator) -> Tensor:
        """``apply(img, sample_params(generator, H, W))``."""
        return self.apply(img, self.sample_params(generator, img.shape[-2], img.shape[-1]))


#: The paper's test transform resizes the shorter side to 256 and centre-crops 224 (App. C.1, D.3).
TEST_RESIZE_RATIO = 256 / 224


class EvalTransform:
    """Evaluation preprocessing: resize the shorter side to ``resize`` (bicubic), centre crop ``size``, normalise.

    ``resize`` defaults to ``round(size * 256 / 224)`` at any size: the paper's test transform (App. C.1, D.3:
    resize 256, centre crop 224) keeps the ratio 224/256 (28 px: resize 32, crop 28; 32 px: 37, 32).
    Deterministic; takes ``uint8 [C, H, W]`` (C in {1, 3}), returns ``float32 [3, size, size]``.
    """

    def __init__(
        self,
        size: int,
        resize: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if resize is None:
            resize = round(size * TEST_RESIZE_RATIO)
        if size < 1 or resize < size:
            raise ValueError(f"need 1 <= size <= resize, got size={size}, resize={resize}")
        self.size = int(size)
        self.resize = int(resize)
        self.mean = _stats(mean, "mean")
        self.std = _stats(std, "std")

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """Shape after the shorter-side resize (torchvision's rule: the longer side is truncated)."""
        if height <= width:
            return self.resize, int(self.resize * width / height)
        return int(self.resize * height / width), self.resize

    def __call__(self, img: Tensor) -> Tensor:
        return self.batch(_check_image(img).unsqueeze(0))[0]

    def batch(self, images: Tensor) -> Tensor:
        """The transform of a batch ``uint8 [B, C, H, W]`` of one size in one call (a single image is a batch of
        one): the feature extraction of fixed-size datasets, where per-image calls cost as much as the small
        networks they feed."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected images [B,C,H,W] with C in {{1, 3}}, got shape {tuple(images.shape)}")
        new_h, new_w = self.resized_shape(images.shape[-2], images.shape[-1])
        x = _to_unit_float(images)
        if tuple(x.shape[-2:]) != (new_h, new_w):
            x = F.interpolate(x, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
        top = int(round((new_h - self.size) / 2.0))
        left = int(round((new_w - self.size) / 2.0))
        x = x[..., top : top + self.size, left : left + self.size]
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return (x - self.mean) / self.std

    def __repr__(self) -> str:
        return f"EvalTransform(size={self.size}, resize={self.resize})"
