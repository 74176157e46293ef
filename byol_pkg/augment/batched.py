"""The BYOL views T / T' for a whole uint8 batch at once, on any device (the fast path).

:class:`BatchedViewTransform` computes, for every image of a batch, the same view as
:class:`~byol_pkg.augment.views.ViewTransform` given the same 36 uniforms (float tolerance, see the tests):

* **draws**: ``uniforms [B, NUM_DRAWS]`` (float64, one row per image) are decoded by the same formulas as
  ``ViewTransform.sample_params``, vectorised (crop box by torchvision's 10-attempt algorithm, coins,
  magnitudes, jitter order). A row drawn from the reference's per-(epoch, image, view) generator
  (:func:`view_uniforms`) gives the reference's view; ``torch.rand`` rows give independent views.
* **crop + resize**: one matrix per image and axis holding the antialiased bicubic weights of its own crop box
  (the weights of ``F.interpolate(mode="bicubic", antialias=True)``, Keys kernel a = -0.5), so the batch is
  resampled by two batched matrix products (a zero-padded batch of different sizes works too: each matrix
  only reads its image's crop). A *list* of images of different sizes (decoded files) is cropped and resized
  image by image with the reference's ``F.interpolate`` and then stacked, so no image is padded to the largest.
* **colour**: brightness, contrast, saturation and hue in each image's own random order: four rounds, where
  round k applies to every image the op in position k of its order (the other ops get identity strengths and
  their output is discarded per image by ``where``); then grayscale, blur (per-image sigma), solarize, each
  fired per image by ``where``; then normalisation.

Every parameter is per image and per view; nothing synchronises with the host. On a CPU, lists, and batches
whose views are larger than :data:`PER_IMAGE_MIN_SIDE` px, are instead transformed image by image with the
reference's own ops from the same decoded draws (whole-batch ops stream every intermediate through memory and
lose to that there); small images (CIFAR, Fashion-MNIST) keep the whole-batch ops, which win on a CPU too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from byol_pkg.augment import functional as AF
from byol_pkg.augment.views import (
    _BLUR,
    _FLIP,
    _GRAY,
    _JITTER,
    _MAG,
    _ORDER,
    _POS,
    _SIGMA,
    _SOLAR,
    BLUR_SIGMA,
    CROP_RATIO,
    IMAGENET_MEAN,
    IMAGENET_STD,
    JITTER_OPS,
    NUM_DRAWS,
    ViewParams,
    ViewSpec,
    ViewTransform,
    _check_image,
    _resize,
    _to_rgb,
    _to_unit_float,
    view_uniforms,
)

__all__ = ["BICUBIC_A", "PER_IMAGE_MIN_SIDE", "BatchDraws", "BatchedViewTransform", "bicubic_resample_matrices",
           "view_uniforms"]

#: Keys cubic-convolution parameter of torch's (and PIL's) antialiased bicubic resampling.
BICUBIC_A = -0.5
#: On a CPU, views with a side above this (and lists of images) are made image by image.
PER_IMAGE_MIN_SIDE = 64


@dataclass
class BatchDraws:
    """Decoded per-image draws of one view for a batch (all tensors of length B on one device)."""

    top: Tensor  # int64 crop box
    left: Tensor
    height: Tensor
    width: Tensor
    flip: Tensor  # bool: whether each op fires
    jitter: Tensor
    grayscale: Tensor
    blur: Tensor
    solarize: Tensor
    order: Tensor  # int64 [B, 4]: indices into JITTER_OPS, in the order applied
    brightness: Tensor  # float32 magnitudes (drawn whether or not the op fires)
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    sigma: Tensor

    def to(self, device: torch.device | str) -> BatchDraws:
        return BatchDraws(**{f.name: getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)})

    def __len__(self) -> int:
        return int(self.top.shape[0])

    def per_image(self) -> list[dict[str, object]]:
        """The draws of each image as :meth:`ViewTransform.sample_params` returns them (read on the host)."""
        rows = {f.name: getattr(self, f.name).tolist() for f in fields(self)}
        return [{
            "crop": (rows["top"][i], rows["left"][i], rows["height"][i], rows["width"][i]),
            "flip": rows["flip"][i], "jitter": rows["jitter"][i],
            "jitter_order": tuple(JITTER_OPS[k] for k in rows["order"][i]),
            "brightness": rows["brightness"][i], "contrast": rows["contrast"][i],
            "saturation": rows["saturation"][i], "hue": rows["hue"][i],
            "grayscale": rows["grayscale"][i], "blur": rows["blur"][i], "sigma": rows["sigma"][i],
            "solarize": rows["solarize"][i],
        } for i in range(len(self))]


# ---------------------------------------------------------------------------------------------- crop


def _crop_boxes(heights: Tensor, widths: Tensor, u: Tensor, scale: tuple[float, float],
                ratio: tuple[float, float]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Vectorised ``views._crop_from_uniforms``: the first of 10 attempts that fits, else a centred crop of the
    whole image clamped to the ratio range. All arithmetic in float64, as the reference."""
    hf, wf = heights.to(torch.float64), widths.to(torch.float64)
    area = hf * wf
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    area_u = u[:, 0:_POS:2]  # [B, attempts]
    ratio_u = u[:, 1:_POS:2]
    target = area.unsqueeze(1) * (scale[0] + (scale[1] - scale[0]) * area_u)
    aspect = torch.exp(log_lo + (log_hi - log_lo) * ratio_u)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= wf.unsqueeze(1)) & (h > 0) & (h <= hf.unsqueeze(1))
    found = fits.any(dim=1)
    first = torch.argmax(fits.to(torch.uint8), dim=1, keepdim=True)  # first True (0 when none)
    h = h.gather(1, first).squeeze(1)
    w = w.gather(1, first).squeeze(1)
    top = torch.minimum(torch.floor(u[:, _POS] * (hf - h + 1)), hf - h)
    left = torch.minimum(torch.floor(u[:, _POS + 1] * (wf - w + 1)), wf - w)
    # fallback: the whole image trimmed to the nearest ratio in range, centred
    in_ratio = wf / hf
    fw = torch.where(in_ratio < ratio[0], wf, torch.where(in_ratio > ratio[1], torch.round(hf * ratio[1]), wf))
    fh = torch.where(in_ratio < ratio[0], torch.round(wf / ratio[0]), hf)
    ftop = torch.div(hf - fh, 2, rounding_mode="floor")
    fleft = torch.div(wf - fw, 2, rounding_mode="floor")
    pick = [torch.where(found, a, b).to(torch.int64) for a, b in ((top, ftop), (left, fleft), (h, fh), (w, fw))]
    return pick[0], pick[1], pick[2], pick[3]


def _keys_cubic(x: Tensor, a: float = BICUBIC_A) -> Tensor:
    x = x.abs()
    inner = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    outer = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return torch.where(x < 1.0, inner, torch.where(x < 2.0, outer, torch.zeros_like(x)))


def bicubic_resample_matrices(start: Tensor, length: Tensor, out_size: int, in_size: int) -> Tensor:
    """``[B, out_size, in_size]``: row i of matrix b resamples pixels ``start_b .. start_b + length_b - 1`` of an
    axis of ``in_size`` pixels to output pixel i, with the weights of antialiased bicubic interpolation
    (``F.interpolate(mode="bicubic", antialias=True, align_corners=False)``): support 2 x max(scale, 1), taps
    normalised to sum to 1, none outside the crop."""
    device = start.device
    scale = length.to(torch.float32) / out_size  # [B]
    support = 2.0 * scale.clamp_min(1.0)
    inv = 1.0 / scale.clamp_min(1.0)
    centre = scale.unsqueeze(1) * (torch.arange(out_size, device=device, dtype=torch.float32) + 0.5)  # [B, out]
    lo = torch.floor(centre - support.unsqueeze(1) + 0.5).clamp_min(0.0)
    hi = torch.minimum(torch.floor(centre + support.unsqueeze(1) + 0.5), length.to(torch.float32).unsqueeze(1))
    pos = torch.arange(in_size, device=device, dtype=torch.float32) - start.to(torch.float32).unsqueeze(1)  # [B, in]
    pos = pos.unsqueeze(1)  # [B, 1, in], position inside the crop
    weights = _keys_cubic((pos - centre.unsqueeze(2) + 0.5) * inv.view(-1, 1, 1))
    inside = (pos >= lo.unsqueeze(2)) & (pos < hi.unsqueeze(2))
    weights = torch.where(inside, weights, torch.zeros_like(weights))
    return weights / weights.sum(dim=2, keepdim=True)


# --------------------------------------------------------------------------------------------- views


_IDENTITY = {"brightness": 0.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0}
_JITTER_FNS = {
    "brightness": AF.adjust_brightness,
    "contrast": AF.adjust_contrast,
    "saturation": AF.adjust_saturation,
    "hue": AF.adjust_hue,
}


def _fires(mask: Tensor) -> Tensor:
    return mask.view(-1, 1, 1, 1)


def _where_fires(x: Tensor, mask: Tensor, fn: Callable[..., Tensor], *per_image: Tensor, compact: bool) -> Tensor:
    """``fn(image, *strengths)`` for the images where ``mask`` is True, the image itself elsewhere.

    ``compact`` (the CPU default): ``fn`` runs on the selected images only, written back into ``x`` in place.
    Otherwise (accelerators): ``fn`` runs on the whole batch and ``where`` selects, so no data-dependent shape
    forces a host synchronisation."""
    if not compact:
        return torch.where(_fires(mask), fn(x, *per_image), x)
    index = mask.nonzero().squeeze(1)
    if index.numel() == 0:
        return x
    if index.numel() == mask.numel():
        return fn(x, *per_image)
    x[index] = fn(x[index], *(v[index] for v in per_image))
    return x


class BatchedViewTransform(ViewSpec):
    """One BYOL view of every image of a batch: ``BatchedViewTransform(paper_view_params(1), 224)(images, u)``.

    ``images``: ``uint8 [B, C, H, W]`` (C in {1, 3}; images smaller than H x W are zero-padded at the bottom and
    right and their sizes passed as ``heights`` / ``widths``); ``uniforms``: ``float64 [B, NUM_DRAWS]`` in
    [0, 1) on any device. Returns ``float32 [B, 3, size, size]``, normalised, on the images' device. Same
    arguments and semantics as :class:`~byol_pkg.augment.views.ViewTransform`.
    """

    backend = "batched"

    def __init__(self, params: ViewParams, size: int, blur: bool = True,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__(params, size, blur, mean, std)
        #: None: compact ops on a CPU, whole-batch ``where`` elsewhere; True / False force one mode (tests).
        self.compact: bool | None = None
        #: None: on a CPU, lists, and batches whose views are above :data:`PER_IMAGE_MIN_SIDE` px, go image by
        #: image through the reference's ops (1.1-3.8x faster there than whole-batch ops, which stream every
        #: intermediate through memory; ``benchmarks/README.md``); True / False force it (tests).
        self.per_image: bool | None = None
        self._reference = ViewTransform(params, size, blur, mean, std)

    # ----------------------------------------------------------------------------------------- draws
    def sample_params(self, uniforms: Tensor, heights: Tensor, widths: Tensor) -> BatchDraws:
        """Decode ``uniforms [B, NUM_DRAWS]`` for images of the given sizes (as ``ViewTransform.sample_params``)."""
        if uniforms.ndim != 2 or uniforms.shape[1] != NUM_DRAWS:
            raise ValueError(f"uniforms must be [B, {NUM_DRAWS}], got shape {tuple(uniforms.shape)}")
        u = uniforms.to(torch.float64)
        p = self.params
        top, left, h, w = _crop_boxes(heights.to(u.device), widths.to(u.device), u,
                                      (p.min_scale, p.max_scale), CROP_RATIO)
        mag = u[:, _MAG:_MAG + 4]
        f32 = torch.float32
        return BatchDraws(
            top=top, left=left, height=h, width=w,
            flip=u[:, _FLIP] < p.flip_prob,
            jitter=u[:, _JITTER] < p.jitter_prob,
            grayscale=u[:, _GRAY] < p.grayscale_prob,
            blur=(u[:, _BLUR] < p.blur_prob) & self.blur,
            solarize=u[:, _SOLAR] < p.solarize_prob,
            order=torch.argsort(u[:, _ORDER:_ORDER + 4], dim=1, stable=True),
            brightness=(p.brightness * (2.0 * mag[:, 0] - 1.0)).to(f32),
            contrast=(1.0 + p.contrast * (2.0 * mag[:, 1] - 1.0)).to(f32),
            saturation=(1.0 + p.saturation * (2.0 * mag[:, 2] - 1.0)).to(f32),
            hue=(p.hue * (2.0 * mag[:, 3] - 1.0)).to(f32),
            sigma=(BLUR_SIGMA[0] + (BLUR_SIGMA[1] - BLUR_SIGMA[0]) * u[:, _SIGMA]).to(f32),
        )

    # ----------------------------------------------------------------------------------------- apply
    def crop_resize(self, images: Tensor, draws: BatchDraws) -> Tensor:
        """Each image's crop box resampled to ``size x size`` (float32 in [0, 1], channels as the input)."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected images [B, C, H, W] with C in {{1, 3}}, got shape {tuple(images.shape)}")
        if images.dtype != torch.uint8:
            raise TypeError(f"expected uint8 images, got {images.dtype}")
        b, c, height, width = images.shape
        rows = bicubic_resample_matrices(draws.top, draws.height, self.size, height)  # [B, S, H]
        cols = bicubic_resample_matrices(draws.left, draws.width, self.size, width)  # [B, S, W]
        x = images.to(torch.float32).div_(255.0)
        x = torch.matmul(x, cols.mT.unsqueeze(1))  # [B, C, H, S]: along W first (fewer products when H ~ W)
        x = torch.matmul(rows.unsqueeze(1), x)  # [B, C, S, S]
        return x.clamp_(0.0, 1.0)

    def colour(self, x: Tensor, draws: BatchDraws) -> Tensor:
        """Flip, colour jitter in each image's order, grayscale, blur, solarize (float32 RGB in [0, 1]).

        Compact mode (``self.compact``; default: on a CPU) overwrites ``x`` and runs each op on the images it fires
        for only; otherwise (accelerators) every op runs on the whole batch and ``where`` keeps each image's own
        result, with no host synchronisation. Both give the same views."""
        compact = x.device.type == "cpu" if self.compact is None else self.compact
        x = _where_fires(x, draws.flip, lambda t: t.flip(-1), compact=compact)
        strengths = {"brightness": draws.brightness, "contrast": draws.contrast,
                     "saturation": draws.saturation, "hue": draws.hue}
        for k in range(len(JITTER_OPS)):  # round k: every image's k-th op
            if compact:
                for op_index, name in enumerate(JITTER_OPS):
                    chosen = draws.jitter & (draws.order[:, k] == op_index)
                    x = _where_fires(x, chosen, _JITTER_FNS[name], strengths[name], compact=True)
                continue
            out = x
            for op_index, name in enumerate(JITTER_OPS):
                chosen = draws.jitter & (draws.order[:, k] == op_index)
                value = torch.where(chosen, strengths[name], torch.full_like(strengths[name], _IDENTITY[name]))
                out = torch.where(_fires(chosen), _JITTER_FNS[name](x, value), out)
            x = out
        x = _where_fires(x, draws.grayscale, AF.rgb_to_grayscale, compact=compact)
        if self.blur and self.params.blur_prob > 0.0:
            x = _where_fires(x, draws.blur, lambda t, s: AF.gaussian_blur(t, s, self.kernel_size), draws.sigma,
                             compact=compact)
        if self.params.solarize_prob > 0.0:
            x = _where_fires(x, draws.solarize, AF.solarize, compact=compact)
        return x

    def crop_resize_each(self, images: Sequence[Tensor], draws: BatchDraws) -> Tensor:
        """Images of different sizes (a list, e.g. decoded JPEGs): each crop resized on its own by the reference's
        ``F.interpolate`` (the boxes are read on the host, so ``draws`` should be on the CPU), then stacked."""
        boxes = torch.stack([draws.top, draws.left, draws.height, draws.width], 1).tolist()
        out = []
        for img, (top, left, h, w) in zip(images, boxes):
            x = _resize(_to_unit_float(_check_image(img)[:, top : top + h, left : left + w]), self.size, self.size)
            out.append(_to_rgb(x))
        return torch.stack(out)

    def _goes_per_image(self, images: Tensor | Sequence[Tensor]) -> bool:
        if self.per_image is not None:
            return self.per_image
        if isinstance(images, Tensor):
            return images.device.type == "cpu" and self.size > PER_IMAGE_MIN_SIDE
        return all(img.device.type == "cpu" for img in images)

    def apply(self, images: Tensor | Sequence[Tensor], draws: BatchDraws) -> Tensor:
        """The views of ``images`` (a padded uint8 batch, or a list of uint8 images) given decoded ``draws``."""
        if self._goes_per_image(images):
            images = images.unbind(0) if isinstance(images, Tensor) else images
            return torch.stack([self._reference.apply(img, d) for img, d in zip(images, draws.per_image())])
        if isinstance(images, Tensor):
            x = self.crop_resize(images, draws.to(images.device))
            x = x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x
        else:
            x = self.crop_resize_each(images, draws)
        x = self.colour(x, draws.to(x.device))
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def __call__(self, images: Tensor | Sequence[Tensor], uniforms: Tensor, heights: Tensor | None = None,
                 widths: Tensor | None = None) -> Tensor:
        """``apply(images, sample_params(uniforms, heights, widths))``. For a batch tensor the sizes default to its
        H x W; for a list they are the images' own. Draws are decoded where ``uniforms`` are (a CPU tensor from
        the DataLoader: no host synchronisation) and moved to the images' device."""
        if isinstance(images, Tensor):
            b, _, height, width = images.shape
            heights = torch.full((b,), height, dtype=torch.int64) if heights is None else heights
            widths = torch.full((b,), width, dtype=torch.int64) if widths is None else widths
        else:
            heights = torch.tensor([int(img.shape[-2]) for img in images], dtype=torch.int64)
            widths = torch.tensor([int(img.shape[-1]) for img in images], dtype=torch.int64)
        draws = self.sample_params(uniforms, heights.to(uniforms.device), widths.to(uniforms.device))
        return self.apply(images, draws)
