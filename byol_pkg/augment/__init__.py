"""BYOL augmentations on torch tensors (no PIL), every random draw from an explicit ``torch.Generator``.

``ViewTransform(paper_view_params(v), size)(img_uint8, generator)`` gives one view (T for v = 1,
T' for v = 2; paper Table 6) with TF / DeepMind semantics; ``EvalTransform(size)`` is the
deterministic evaluation preprocessing. The functional ops accept [3,H,W] or [B,3,H,W].
This package exports the public names of :mod:`.functional` (the image ops) and :mod:`.views` (one view's
distribution and its transforms); :mod:`.batched` holds the batched backend.
"""

from byol_pkg.augment import functional, views
from byol_pkg.augment.functional import *  # noqa: F403  (the names in functional.__all__)
from byol_pkg.augment.views import *  # noqa: F403  (the names in views.__all__)

__all__ = [*functional.__all__, *views.__all__]
