"""The 12 transfer datasets of the BYOL paper (Table 3) with their splits, metric and Table 10 sizes.

``TRANSFER_DATASETS[name]`` gives, for the registry name ``name``: the column title of Table 3, the class
count the adapter yields, the metric key (equal to :func:`byol_pkg.metrics.metric_for_dataset`), the split
names to pass for selection (``train`` / ``val``), refit (``trainval``) and ``test``, the paper's sizes
(Table 10) and where the data comes from. Split rules: spec §6.5 and each adapter's module docstring.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperSizes:
    """Table 10: creators' training split, selection train / val, and test."""

    orig_train: int
    train: int
    val: int
    test: int


@dataclass(frozen=True)
class TransferSpec:
    name: str  # registry name (build_dataset)
    display: str  # Table 3 column title
    num_classes: int  # classes the adapter yields
    metric: str  # top1 | mean_per_class | voc07_map
    train: str  # split for the selection fit
    val: str  # split scored for selection
    trainval: str  # refit split (= train + val)
    test: str
    paper: PaperSizes
    multilabel: bool
    source: str  # where to get the data
    note: str = ""


def _spec(name: str, display: str, num_classes: int, metric: str, sizes: tuple[int, int, int, int], source: str,
          splits: tuple[str, str, str, str] = ("train", "val", "trainval", "test"), multilabel: bool = False,
          note: str = "") -> TransferSpec:
    return TransferSpec(name, display, num_classes, metric, *splits, PaperSizes(*sizes), multilabel, source, note)


_CIFAR_SPLITS = ("transfer_train", "transfer_val", "train", "test")

TRANSFER_DATASETS: dict[str, TransferSpec] = {s.name: s for s in (
    _spec("food101", "Food101", 101, "top1", (75_750, 68_175, 7_575, 25_250),
          "https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ (food-101.tar.gz; torchvision Food101)"),
    _spec("cifar10", "CIFAR10", 10, "top1", (50_000, 45_000, 5_000, 10_000),
          "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-10-python.tar.gz; torchvision CIFAR10)",
          _CIFAR_SPLITS),
    _spec("cifar100", "CIFAR100", 100, "top1", (50_000, 44_933, 5_067, 10_000),
          "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-100-python.tar.gz; torchvision CIFAR100)",
          _CIFAR_SPLITS),
    _spec("birdsnap", "Birdsnap", 500, "top1", (47_386, 42_405, 4_981, 2_443),
          "http://thomasberg.org/datasets/birdsnap/1.1/birdsnap.tgz, then its get_birdsnap.py (images from Flickr)",
          note="many Flickr images are gone: sizes depend on what downloaded; val follows the paper's text "
               "(as many per species as the test split), Table 10's 4,981 is about twice the test size"),
    _spec("sun397", "SUN397", 397, "top1", (19_850, 15_880, 3_970, 19_850),
          "https://vision.princeton.edu/projects/2010/SUN/ (SUN397.tar.gz + Partitions.zip; partition 1)"),
    _spec("stanford_cars", "Cars", 196, "top1", (8_144, 6_494, 1_650, 8_041),
          "https://ai.stanford.edu/~jkrause/cars/car_dataset.html (original URL gone: use a mirror of "
          "cars_train/cars_test/devkit + cars_test_annos_withlabels.mat)"),
    _spec("fgvc_aircraft", "Aircraft", 100, "mean_per_class", (3_334, 3_334, 3_333, 3_333),
          "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ (fgvc-aircraft-2013b.tar.gz; variant level)"),
    _spec("voc2007", "VOC2007", 20, "voc07_map", (5_011, 2_501, 2_510, 4_952),
          "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/ (VOCtrainval_06-Nov-2007.tar + VOCtest_06-Nov-2007.tar)",
          multilabel=True),
    _spec("dtd", "DTD", 47, "top1", (1_880, 1_880, 1_880, 1_880),
          "https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz; split 1)"),
    _spec("oxford_pets", "Pets", 37, "mean_per_class", (3_680, 2_940, 740, 3_669),
          "https://www.robots.ox.ac.uk/~vgg/data/pets/ (images.tar.gz + annotations.tar.gz)"),
    _spec("caltech101", "Caltech-101", 102, "mean_per_class", (3_060, 2_550, 510, 6_084),
          "https://data.caltech.edu/records/mzrjq-6wc02 (caltech-101.zip -> 101_ObjectCategories.tar.gz)",
          note="Table 10 says 101 classes but its counts (30 x 102) include BACKGROUND_Google as a 102nd class"),
    _spec("flowers102", "Flowers", 102, "mean_per_class", (1_020, 1_020, 1_020, 6_149),
          "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ (102flowers.tgz + imagelabels.mat + setid.mat)"),
)}

#: Table 3's column order.
TABLE3_ORDER = tuple(TRANSFER_DATASETS)
