"""Tiny transfer datasets written in each adapter's real on-disk layout (official archives / torchvision).

Every ``make_<dataset>(root, ...)`` writes small generated images (flat-colour JPEGs, 8x10 px) and the real
annotation files (text lists, tab-separated tables, MATLAB .mat files via ``scipy.io.savemat``) and returns a
:class:`Fixture`: the class names and, per creators' list, ``{absolute image path: label}`` (VOC: the row of
20 flags), keyed by the adapter split that list is (a creators' training list that val is held out of is
``trainval``). Nothing here reads the adapters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PathLike = str | os.PathLike[str]


@dataclass
class Fixture:
    base: Path
    classes: list[str]
    lists: dict[str, dict[str, object]] = field(default_factory=dict)  # creators' list -> {path: label}
    missing: list[str] = field(default_factory=list)  # listed but not written (Birdsnap)


#: Colours of the fixture images, shared by all classes. A few overlapping colours keep the frozen features of
#: the end-to-end runs few and non-separable, so the 45-lambda L-BFGS sweep converges in well under a second
#: (a distinct colour per image makes tiny separable problems that take minutes at lambda = 1e-6).
PALETTE = ((200, 40, 40), (40, 160, 60), (30, 60, 200), (220, 200, 40))


def write_jpeg(path: Path, rng: np.random.Generator, size: tuple[int, int] = (8, 10)) -> Path:
    """A flat-colour JPEG of ``size`` (h, w), its colour drawn from :data:`PALETTE`."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    hwc = np.empty((*size, 3), dtype=np.uint8)
    hwc[:] = PALETTE[int(rng.integers(len(PALETTE)))]
    Image.fromarray(hwc).save(path, format="JPEG", quality=95)
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{ln}\n" for ln in lines))
    return path


# ------------------------------------------------------------------------------------------ Food-101


def make_food101(root: PathLike, train_per_class: tuple[int, ...] = (78, 80, 77), test_per_class: int = 3,
                 seed: int = 0) -> Fixture:
    """``<root>/food-101/{images/<class>/<id>.jpg, meta/{classes,train,test}.txt}``."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "food-101"
    classes = ["apple_pie", "baby_back_ribs", "churros"][: len(train_per_class)]
    fx = Fixture(base, classes, {"trainval": {}, "test": {}})
    lines: dict[str, list[str]] = {"train": [], "test": []}
    next_id = 100000
    for label, cls in enumerate(classes):
        for split, n in (("train", train_per_class[label]), ("test", test_per_class)):
            for _ in range(n):
                next_id += int(rng.integers(1, 50))  # ids are not contiguous in the real lists
                path = write_jpeg(base / "images" / cls / f"{next_id}.jpg", rng)
                lines[split].append(f"{cls}/{next_id}")
                fx.lists["trainval" if split == "train" else split][str(path)] = label
    write_lines(base / "meta" / "classes.txt", classes)
    write_lines(base / "meta" / "labels.txt", [c.replace("_", " ").title() for c in classes])
    for split in ("train", "test"):
        order = rng.permutation(len(lines[split]))  # the adapter must not rely on the file order
        write_lines(base / "meta" / f"{split}.txt", [lines[split][i] for i in order])
    return fx


# ------------------------------------------------------------------------------------------ Birdsnap

BIRDSNAP_PARTS = ("back", "beak", "belly", "breast", "crown", "forehead", "left_cheek", "left_eye", "left_leg",
                  "left_wing", "nape", "right_cheek", "right_eye", "right_leg", "right_wing", "tail", "throat")


def make_birdsnap(root: PathLike, train_per_class: tuple[int, ...] = (9, 8, 10),
                  test_per_class: tuple[int, ...] = (2, 3, 1), image_dir: str = "download/images",
                  missing: int = 2, seed: int = 0) -> Fixture:
    """``<root>/birdsnap/{species.txt, images.txt, test_images.txt, <image_dir>/<dir>/<file>.jpg}``.

    The first ``missing`` train images of species 1 and the first test image of species 2 are listed
    but not written (failed downloads).
    """
    rng = np.random.default_rng(seed)
    base = Path(root) / "birdsnap"
    species = [("Acadian Flycatcher", "Empidonax virescens", "Acadian_Flycatcher"),
               ("Blue Jay", "Cyanocitta cristata", "Blue_Jay"),
               ("Black-capped Chickadee", "Poecile atricapillus", "Black_capped_Chickadee")][: len(train_per_class)]
    fx = Fixture(base, [s[0] for s in species], {"trainval": {}, "test": {}})
    write_lines(base / "species.txt", ["id\tcommon\tscientific\tdir"]
                + [f"{i + 1}\t{c}\t{s}\t{d}" for i, (c, s, d) in enumerate(species)])
    header = ["url", "md5", "path", "species_id", "bb_x1", "bb_y1", "bb_x2", "bb_y2"]
    header += [f"{p}_{xy}" for p in BIRDSNAP_PARTS for xy in "xy"]
    rows, test_paths = [], []
    for label, (_, _, folder) in enumerate(species):
        for which, n in (("trainval", train_per_class[label]), ("test", test_per_class[label])):
            for j in range(n):
                name = f"{rng.integers(0, 16 ** 8):08x}{j}.jpg"
                rel = f"{folder}/{name}"
                row = [f"http://farm1.staticflickr.com/1/{name}", f"{rng.integers(0, 16 ** 12):032x}", rel,
                       str(label + 1), "1", "2", "7", "8"] + ["-1"] * (2 * len(BIRDSNAP_PARTS))
                rows.append("\t".join(row))
                if which == "test":
                    test_paths.append(rel)
                gone = ((which == "trainval" and label == 0 and j < missing)
                        or (which == "test" and label == 1 and j == 0))
                path = base / image_dir / rel
                if gone:
                    fx.missing.append(str(path))
                    continue
                write_jpeg(path, rng)
                fx.lists[which][str(path)] = label
    write_lines(base / "images.txt", ["\t".join(header)] + rows)
    write_lines(base / "test_images.txt", ["path"] + test_paths)
    return fx


# ------------------------------------------------------------------------------------------ SUN397


def make_sun397(root: PathLike, train_per_class: int = 13, test_per_class: int = 4,
                partitions: str = "SUN397", seed: int = 0) -> Fixture:
    """``<root>/SUN397/<letter>/<class>[/<sub>]/sun_*.jpg``, ``ClassName.txt`` and ``Training_01.txt`` /
    ``Testing_01.txt`` in ``<root>/<partitions>`` (``SUN397``, ``SUN397/Partitions`` or ``Partitions``).
    One extra image per class is in neither partition file (partition 1 does not use every image)."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "SUN397"
    classes = ["a/abbey", "b/bakery/shop", "c/campus"]
    fx = Fixture(base, classes, {"trainval": {}, "test": {}})
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for label, cls in enumerate(classes):
        for split, n in (("train", train_per_class), ("test", test_per_class), ("unused", 1)):
            for _ in range(n):
                name = "sun_" + "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 16)) + ".jpg"
                path = write_jpeg(base / cls / name, rng)
                if split != "unused":
                    lines[split].append(f"/{cls}/{name}")
                    fx.lists["trainval" if split == "train" else split][str(path)] = label
    class_lines = [f"/{c}" for c in classes]
    write_lines(base / "ClassName.txt", class_lines)
    part = Path(root) / partitions
    write_lines(part / "ClassName.txt", class_lines)
    write_lines(part / "Training_01.txt", lines["train"])
    write_lines(part / "Testing_01.txt", lines["test"])
    write_lines(part / "Training_02.txt", lines["test"])  # other partitions must be ignored
    return fx


# ------------------------------------------------------------------------------------------ Stanford Cars


def _cars_annotations(path: Path, fnames: list[str], labels: list[int], rng: np.random.Generator) -> None:
    """``annotations``: a 1 x N struct array as in the devkit (bbox_x1..bbox_y2, class 1-based, fname)."""
    import scipy.io

    dtype = [(f, "O") for f in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")]
    annos = np.zeros((1, len(fnames)), dtype=dtype)
    for i, (fname, label) in enumerate(zip(fnames, labels)):
        x1, y1 = (int(v) for v in rng.integers(1, 4, 2))
        annos[0, i] = (np.array([[x1]], np.uint8), np.array([[y1]], np.uint8), np.array([[x1 + 5]], np.uint16),
                       np.array([[y1 + 5]], np.uint16), np.array([[label + 1]], np.uint8), np.array([fname]))
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"annotations": annos})


def make_stanford_cars(root: PathLike, train_per_class: tuple[int, ...] = (10, 12, 8), test_per_class: int = 3,
                       test_annos_in_devkit: bool = False, seed: int = 0) -> Fixture:
    """torchvision's layout: ``<root>/stanford_cars/{cars_train, cars_test, devkit/{cars_meta.mat,
    cars_train_annos.mat}, cars_test_annos_withlabels.mat}`` (real MATLAB struct files)."""
    import scipy.io

    rng = np.random.default_rng(seed)
    base = Path(root) / "stanford_cars"
    classes = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012"][: len(train_per_class)]
    fx = Fixture(base, classes, {"trainval": {}, "test": {}})
    for split, folder, counts in (("train", "cars_train", train_per_class),
                                  ("test", "cars_test", (test_per_class,) * len(classes))):
        labels = [c for c, n in enumerate(counts) for _ in range(n)]
        labels = [labels[i] for i in rng.permutation(len(labels))]  # classes interleaved, as in the real files
        fnames = [f"{i + 1:05d}.jpg" for i in range(len(labels))]
        for fname, label in zip(fnames, labels):
            fx.lists["trainval" if split == "train" else split][str(write_jpeg(base / folder / fname, rng))] = label
        annos = (base / "devkit" if split == "train" or test_annos_in_devkit else base) / (
            "cars_train_annos.mat" if split == "train" else "cars_test_annos_withlabels.mat")
        _cars_annotations(annos, fnames, labels, rng)
    names = np.empty((1, len(classes)), dtype=object)
    names[0, :] = classes
    scipy.io.savemat(str(base / "devkit" / "cars_meta.mat"), {"class_names": names})
    return fx


# ------------------------------------------------------------------------------------------ FGVC-Aircraft


def make_fgvc_aircraft(root: PathLike, per_class: dict[str, int | tuple[int, ...]] | None = None,
                       seed: int = 0) -> Fixture:
    """``<root>/fgvc-aircraft-2013b/data/{images, variants.txt, images_variant_<split>.txt}`` (plus the family
    and manufacturer files, which must not be used). Two variants share a family. ``per_class[split]``: one
    count for every variant, or one per variant."""
    rng = np.random.default_rng(seed)
    per_class = per_class or {"train": 3, "val": 2, "test": 2}
    data = Path(root) / "fgvc-aircraft-2013b" / "data"
    variants = ["737-300", "737-400", "F-16A/B"]
    families = {"737-300": "Boeing 737", "737-400": "Boeing 737", "F-16A/B": "F-16"}
    makers = {"737-300": "Boeing", "737-400": "Boeing", "F-16A/B": "Lockheed Martin"}
    fx = Fixture(data.parent, variants, {s: {} for s in per_class})
    lines: dict[str, list[tuple[str, str]]] = {s: [] for s in per_class}
    next_id = 1000000
    for label, variant in enumerate(variants):
        for split, n in per_class.items():
            for _ in range(n if isinstance(n, int) else n[label]):
                next_id += int(rng.integers(1, 999))
                path = write_jpeg(data / "images" / f"{next_id:07d}.jpg", rng)
                lines[split].append((f"{next_id:07d}", variant))
                fx.lists[split][str(path)] = label
    lines["trainval"] = lines["train"] + lines["val"]
    write_lines(data / "variants.txt", variants)
    write_lines(data / "families.txt", sorted(set(families.values())))
    write_lines(data / "manufacturers.txt", sorted(set(makers.values())))
    for split, rows in lines.items():
        for level, lookup in (("variant", None), ("family", families), ("manufacturer", makers)):
            write_lines(data / f"images_{level}_{split}.txt",
                        [f"{i} {v if lookup is None else lookup[v]}" for i, v in rows])
    return fx


# ------------------------------------------------------------------------------------------ VOC2007

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


def make_voc2007(root: PathLike, sizes: dict[str, int] | None = None, seed: int = 0) -> Fixture:
    """``<root>/VOCdevkit/VOC2007/{JPEGImages, ImageSets/Main/<split>.txt, <class>_<split>.txt}`` for train,
    val, trainval and test (test ids interleaved with trainval ids, as in the real release).

    Labels are 1 / -1 / 0. Image ``i`` of a split of ``n`` images has the classes ``c`` with ``c % n == i``
    (so every class has positives in every split, as in the real data; ``n <= 20``) plus one random class;
    the first train image also has a difficult-only ``person`` (flag 0)."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {"train": 5, "val": 5, "test": 4}
    voc = Path(root) / "VOCdevkit" / "VOC2007"
    fx = Fixture(voc, list(VOC_CLASSES), {s: {} for s in sizes})
    ids: dict[str, list[str]] = {s: [] for s in sizes}
    order = [s for s in sizes for _ in range(sizes[s])]
    flags: dict[str, np.ndarray] = {}
    person = VOC_CLASSES.index("person")
    for k, split in enumerate([order[i] for i in rng.permutation(len(order))]):
        image_id, i = f"{k + 1:06d}", len(ids[split])
        row = np.full(len(VOC_CLASSES), -1, dtype=np.int64)
        row[np.arange(len(VOC_CLASSES)) % sizes[split] == i] = 1
        row[rng.integers(len(VOC_CLASSES))] = 1
        if split == "train" and i == 0 and row[person] != 1:
            row[person] = 0  # a difficult-only object
        ids[split].append(image_id)
        flags[image_id] = row
        fx.lists[split][str(write_jpeg(voc / "JPEGImages" / f"{image_id}.jpg", rng))] = tuple(row.tolist())
    ids["trainval"] = sorted(ids["train"] + ids["val"])
    fx.lists["trainval"] = {**fx.lists["train"], **fx.lists["val"]}
    main = voc / "ImageSets" / "Main"
    for split, split_ids in ids.items():
        write_lines(main / f"{split}.txt", sorted(split_ids))
        for c, cls in enumerate(VOC_CLASSES):
            # the devkit pads positive flags with a second space ("000005  1")
            write_lines(main / f"{cls}_{split}.txt",
                        [f"{i} {flags[i][c]:2d}" for i in sorted(split_ids)])
    return fx


# ------------------------------------------------------------------------------------------ DTD


def make_dtd(root: PathLike, per_split: int = 3, nested: bool = False, seed: int = 0) -> Fixture:
    """``<root>/dtd/{images/<class>/<class>_<nnnn>.jpg, labels/{train,val,test}{1,2}.txt}``; ``nested``
    writes torchvision's ``<root>/dtd/dtd/...`` instead. Partition 2 is a different split of the same images."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "dtd" / "dtd" if nested else Path(root) / "dtd"
    classes = ["banded", "blotchy", "braided"]
    fx = Fixture(base, classes, {"train": {}, "val": {}, "test": {}})
    lines: dict[str, list[str]] = {s: [] for s in fx.lists}
    for label, cls in enumerate(classes):
        names = [f"{cls}_{k:04d}.jpg" for k in sorted(rng.choice(200, 3 * per_split, replace=False))]
        for k, name in enumerate(names):
            split = ("train", "val", "test")[k % 3]
            path = write_jpeg(base / "images" / cls / name, rng)
            lines[split].append(f"{cls}/{name}")
            fx.lists[split][str(path)] = label
    for split, rows in lines.items():
        write_lines(base / "labels" / f"{split}1.txt", rows)
    write_lines(base / "labels" / "train2.txt", lines["test"])
    write_lines(base / "labels" / "val2.txt", lines["train"])
    write_lines(base / "labels" / "test2.txt", lines["val"])
    return fx


# ------------------------------------------------------------------------------------------ Oxford-IIIT Pets


def make_oxford_pets(root: PathLike, trainval_per_class: tuple[int, ...] = (23, 22, 25),
                     test_per_class: int | tuple[int, ...] = 3, seed: int = 0) -> Fixture:
    """``<root>/oxford-iiit-pet/{images/<Breed>_<n>.jpg, annotations/{trainval,test,list}.txt}``; test images:
    one count for every breed, or one per breed."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "oxford-iiit-pet"
    breeds = [("Abyssinian", 1), ("american_bulldog", 2), ("Bengal", 1)][: len(trainval_per_class)]
    fx = Fixture(base, [b for b, _ in breeds], {"trainval": {}, "test": {}})
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    for label, (breed, species) in enumerate(breeds):
        n_test = test_per_class if isinstance(test_per_class, int) else test_per_class[label]
        numbers = rng.permutation(np.arange(1, 200))[: trainval_per_class[label] + n_test]
        for k, number in enumerate(numbers):
            split = "trainval" if k < trainval_per_class[label] else "test"
            image_id = f"{breed}_{number}"
            path = write_jpeg(base / "images" / f"{image_id}.jpg", rng)
            lines[split].append(f"{image_id} {label + 1} {species} {label // 2 + 1}")
            fx.lists[split][str(path)] = label
    for split, rows in lines.items():
        write_lines(base / "annotations" / f"{split}.txt", rows)
    write_lines(base / "annotations" / "list.txt",
                ["#Image CLASS-ID SPECIES BREED ID", "#ID: 1:37 Class ids"] + lines["trainval"] + lines["test"])
    return fx


# ------------------------------------------------------------------------------------------ Caltech-101


def make_caltech101(root: PathLike, per_class: dict[str, int] | None = None, seed: int = 0) -> Fixture:
    """``<root>/caltech101/101_ObjectCategories/<class>/image_<nnnn>.jpg`` incl. ``BACKGROUND_Google``."""
    rng = np.random.default_rng(seed)
    per_class = per_class or {"BACKGROUND_Google": 33, "Faces_easy": 31, "accordion": 32, "yin_yang": 34}
    folder = Path(root) / "caltech101" / "101_ObjectCategories"
    classes = sorted(per_class)
    fx = Fixture(folder, classes, {"all": {}})
    for label, cls in enumerate(classes):
        for k in range(1, per_class[cls] + 1):
            fx.lists["all"][str(write_jpeg(folder / cls / f"image_{k:04d}.jpg", rng, (8, 8)))] = label
    (Path(root) / "caltech101" / "Annotations").mkdir(parents=True, exist_ok=True)  # shipped beside, unused
    return fx


# ------------------------------------------------------------------------------------------ Flowers-102


def make_flowers102(root: PathLike, per_class: tuple[int, ...] = (8, 9, 10), seed: int = 0) -> Fixture:
    """``<root>/flowers-102/{jpg/image_<nnnnn>.jpg, imagelabels.mat, setid.mat}``: 2 train + 2 val images per
    class, the rest test (ids shuffled over classes, as in the real release)."""
    import scipy.io

    rng = np.random.default_rng(seed)
    base = Path(root) / "flowers-102"
    labels = np.asarray([c for c, n in enumerate(per_class) for _ in range(n)])[rng.permutation(sum(per_class))]
    sets: dict[str, list[int]] = {"trnid": [], "valid": [], "tstid": []}
    seen = np.zeros(len(per_class), dtype=int)
    fx = Fixture(base, [f"class_{k:03d}" for k in range(1, len(per_class) + 1)], {"train": {}, "val": {}, "test": {}})
    for image_id, label in enumerate(labels.tolist(), start=1):
        key = "trnid" if seen[label] < 2 else "valid" if seen[label] < 4 else "tstid"
        seen[label] += 1
        sets[key].append(image_id)
        path = write_jpeg(base / "jpg" / f"image_{image_id:05d}.jpg", rng)
        fx.lists[{"trnid": "train", "valid": "val", "tstid": "test"}[key]][str(path)] = label
    scipy.io.savemat(str(base / "imagelabels.mat"), {"labels": (labels + 1).astype(np.uint8)[None, :]})
    scipy.io.savemat(str(base / "setid.mat"), {k: np.asarray(v, dtype=np.uint16)[None, :] for k, v in sets.items()})
    return fx


MAKERS = {
    "food101": make_food101,
    "birdsnap": make_birdsnap,
    "sun397": make_sun397,
    "stanford_cars": make_stanford_cars,
    "fgvc_aircraft": make_fgvc_aircraft,
    "voc2007": make_voc2007,
    "dtd": make_dtd,
    "oxford_pets": make_oxford_pets,
    "caltech101": make_caltech101,
    "flowers102": make_flowers102,
}
