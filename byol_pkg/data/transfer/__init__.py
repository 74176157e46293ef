"""Adapters for the transfer datasets of the BYOL paper (Table 3), each reading its official on-disk layout.

Importing this package registers ``food101``, ``birdsnap``, ``sun397``, ``stanford_cars``, ``fgvc_aircraft``,
``voc2007``, ``dtd``, ``oxford_pets``, ``caltech101`` and ``flowers102`` in
:data:`byol_pkg.data.registry.DATASETS`, each with the splits ``train`` / ``val`` (hyper-parameter selection),
``trainval`` (refit) and ``test`` (spec §6.5). CIFAR-10/100 live in :mod:`byol_pkg.data.cifar` (splits
``transfer_train`` / ``transfer_val`` / ``train`` / ``test``). :data:`TRANSFER_DATASETS` lists all 12.
"""

from . import (  # noqa: F401  (importing registers the builders)
    birdsnap,
    caltech101,
    dtd,
    fgvc_aircraft,
    flowers102,
    food101,
    oxford_pets,
    stanford_cars,
    sun397,
    voc2007,
)
from ._common import SPLITS, TransferDataset
from .specs import TRANSFER_DATASETS, PaperSizes, TransferSpec

__all__ = ["SPLITS", "TRANSFER_DATASETS", "PaperSizes", "TransferDataset", "TransferSpec"]
