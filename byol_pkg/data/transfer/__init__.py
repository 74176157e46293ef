"""Adapters for the transfer datasets of the BYOL paper (Table 3), each reading its official on-disk layout.

Importing this package registers ``food101``, ``birdsnap``, ``sun397``, ``stanford_cars``, ``fgvc_aircraft``,
``voc2007``, ``dtd``, ``oxford_pets``, ``caltech101`` and ``flowers102`` in
:data:`byol_pkg.data.registry.DATASETS`, each with its :class:`~byol_pkg.data.registry.DatasetInfo` and the
splits ``train`` / ``val`` (hyper-parameter selection), ``trainval`` (refit) and ``test`` (spec §6.5).
CIFAR-10/100 live in :mod:`byol_pkg.data.cifar` (splits ``transfer_train`` / ``transfer_val`` / ``train`` /
``test``). :data:`TRANSFER_DATASETS` lists all 12 records in Table 3's column order.
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
from ..registry import DATASETS, DatasetInfo, PaperSizes, registered
from ._common import SPLITS, TransferDataset

#: Table 3's column order (the paper's), as registry names.
TABLE3_ORDER = ("food101", "cifar10", "cifar100", "birdsnap", "sun397", "stanford_cars", "fgvc_aircraft",
                "voc2007", "dtd", "oxford_pets", "caltech101", "flowers102")
if set(TABLE3_ORDER) != set(registered(published="table3")):
    raise RuntimeError("TABLE3_ORDER and the datasets registered with published='table3' differ")
#: The records of Table 3's 12 datasets, in its column order.
TRANSFER_DATASETS: dict[str, DatasetInfo] = {name: DATASETS[name].info for name in TABLE3_ORDER}

__all__ = ["SPLITS", "TABLE3_ORDER", "TRANSFER_DATASETS", "PaperSizes", "TransferDataset"]
