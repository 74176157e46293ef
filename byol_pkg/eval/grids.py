"""The paper's hyper-parameter grids for the protocols that train on images (importable without torch)."""

from __future__ import annotations

import numpy as np

#: How every evaluation protocol that trains with SGD trains (App. C.1, D.3), as its result records say: the
#: cached-feature linear head (eval/linear.py) and the image classifier (eval/classifier.py).
SGD_RECIPE = {"optimizer": "SGD nesterov momentum 0.9", "schedule": "cosine, no warm-up"}
#: The training views of the image-trained protocols (eval/classifier.py's CROP_FLIP).
CROP_FLIP_NOTE = "random resized crop + flip"

#: Fine-tuning (App. D.3): LR in logspace(-4, -1, 7); wd in {0} and logspace(-6, -3, 7), used as wd / lr.
FINETUNE_LRS: tuple[float, ...] = tuple(float(v) for v in np.logspace(-4, -1, 7))
FINETUNE_WDS: tuple[float, ...] = (0.0,) + tuple(float(v) for v in np.logspace(-6, -3, 7))
FINETUNE_STEPS = 20_000
FINETUNE_BATCH = 256
#: Semi-supervised (App. C.1): LR x epochs, batch 1024.
SEMISUP_LRS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.005)
SEMISUP_EPOCHS: tuple[int, ...] = (30, 50)
SEMISUP_BATCH = 1024
#: Linear evaluation on augmented views (App. C.1): 80 epochs at batch 1024.
LINEAR_AUG_EPOCHS = 80
LINEAR_AUG_BATCH = 1024
