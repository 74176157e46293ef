"""BYOL augmentations on torch tensors (no PIL), every random draw from an explicit ``torch.Generator``.

``ViewTransform(paper_view_params(v), size)(img_uint8, generator)`` gives one view (T for v = 1,
T' for v = 2; paper Table 6) with TF / DeepMind semantics; ``EvalTransform(size)`` is the
deterministic evaluation preprocessing. The functional ops accept [3,H,W] or [B,3,H,W].
"""

from byol_pkg.augment.functional import (
    GRAY_WEIGHTS,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    blur_kernel_size,
    gaussian_blur,
    gaussian_kernel1d,
    hsv_to_rgb,
    normalize,
    rgb_to_grayscale,
    rgb_to_hsv,
    solarize,
)
from byol_pkg.augment.views import (
    BLUR_SIGMA,
    CROP_ATTEMPTS,
    CROP_RATIO,
    IMAGENET_MEAN,
    IMAGENET_STD,
    JITTER_OPS,
    JITTER_SEMANTICS,
    NUM_DRAWS,
    EvalTransform,
    ViewParams,
    ViewTransform,
    paper_view_params,
    random_resized_crop_params,
)

__all__ = [
    "BLUR_SIGMA",
    "CROP_ATTEMPTS",
    "CROP_RATIO",
    "GRAY_WEIGHTS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "JITTER_OPS",
    "JITTER_SEMANTICS",
    "NUM_DRAWS",
    "EvalTransform",
    "ViewParams",
    "ViewTransform",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "blur_kernel_size",
    "gaussian_blur",
    "gaussian_kernel1d",
    "hsv_to_rgb",
    "normalize",
    "paper_view_params",
    "random_resized_crop_params",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "solarize",
]
