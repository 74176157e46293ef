"""The BYOL paper's published numbers, as data (transcribed in ``BYOL_SPEC.md`` §7 from [P] arXiv v3).

Only numbers printed in the paper are here; ``None`` is a cell printed as a dash. Every row carries the table it
comes from, so a report can label it as published. Table 1 and 2 cells are keyed by metric (``top1``/``top5``)
and, for Table 2, label fraction in percent; Table 3 cells are keyed by our dataset registry names
(:data:`byol_pkg.data.transfer.TABLE3_ORDER`). The ablation tables keep their cells as printed strings
(``"18.8±0.7"``: mean ± half range over 3 seeds); :func:`cell_value` turns one into a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..data.registry import registered
from ..data.transfer import TABLE3_ORDER

#: Dataset names treated as ImageNet (the paper's Table 1 / 2 dataset): the records registered with
#: ``published="imagenet"`` (``imagenet``, and ``imagefolder``, which the ImageNet preset pretrains on) and their
#: aliases.
IMAGENET_NAMES = frozenset(name for info in registered(published="imagenet").values()
                           for name in (info.name, *info.aliases))


@dataclass(frozen=True)
class PublishedRow:
    """One published row: its method label, the encoder it used, its cells and where it is printed."""

    source: str  # "Table 1a", ...
    method: str  # as printed, e.g. "SimCLR (repro)", "Supervised-IN [8]"
    arch: str = "ResNet-50"
    cells: dict = field(default_factory=dict)  # key -> value (float) or None (printed as a dash)
    ours: str = ""  # our ``method`` name this row is the paper's value for ("" when none)
    also: tuple[str, ...] = ()  # other method names of ours it also stands beside (after ``ours``)

    @property
    def label(self) -> str:
        """Row label in reports, e.g. ``BYOL (published, R50)``."""
        return f"{self.method} (published, {short_arch(self.arch)})"

    @property
    def pairs(self) -> tuple[str, ...]:
        """Our method names this row stands beside, preferred first (empty when none)."""
        return ((self.ours,) if self.ours else ()) + self.also

    def paired_method(self, methods) -> str | None:
        """The first of :attr:`pairs` among our ``methods``, or None."""
        return next((m for m in self.pairs if m in set(methods)), None)


@dataclass(frozen=True)
class PublishedTable:
    """A published table kept as printed (strings), for the reference section of a report."""

    source: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def cell(self, row: int, column: str) -> str:
        """The printed text of one cell (row index, column title)."""
        return self.rows[row][self.columns.index(column)]

    def row_dict(self, row: int) -> dict[str, str]:
        """One row as ``{column title: printed text}``."""
        return dict(zip(self.columns, self.rows[row]))


def short_arch(arch: str) -> str:
    """``ResNet-50 (2×)`` -> ``R50 2×``."""
    m = re.fullmatch(r"ResNet-(\d+)(?: \((\d+×)\))?", arch)
    if not m:
        return arch
    return f"R{m.group(1)}" + (f" {m.group(2)}" if m.group(2) else "")


def cell_value(cell: str | float | None) -> float | None:
    """The mean of a printed cell (``"63.4±0.7"`` -> 63.4; ``"−"`` / ``None`` -> None)."""
    if cell is None:
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", str(cell).replace("−", "-"))
    return float(m.group(1)) if m and str(cell).strip() not in {"-", "−"} else None


def _t1(method: str, top1: float, top5: float | None, arch: str = "ResNet-50", ours: str = "",
        source: str = "Table 1a") -> PublishedRow:
    return PublishedRow(source, method, arch, {"top1": top1, "top5": top5}, ours)


# Table 1 — ImageNet linear evaluation (top-1 / top-5 %).
TABLE1_LINEAR: tuple[PublishedRow, ...] = (
    _t1("Local Agg.", 60.2, None),
    _t1("PIRL", 63.6, None),
    _t1("CPC v2", 63.8, 85.3),
    _t1("CMC", 66.2, 87.0),
    _t1("SimCLR", 69.3, 89.0, ours="simclr"),
    _t1("MoCo v2", 71.1, None),
    _t1("InfoMin Aug.", 73.0, 91.1),
    _t1("BYOL", 74.3, 91.6, ours="byol"),
    _t1("SimCLR", 74.2, 92.0, "ResNet-50 (2×)", "simclr", "Table 1b"),
    _t1("CMC", 70.6, 89.7, "ResNet-50 (2×)", source="Table 1b"),
    _t1("BYOL", 77.4, 93.6, "ResNet-50 (2×)", "byol", "Table 1b"),
    _t1("CPC v2", 71.5, 90.1, "ResNet-161", source="Table 1b"),
    _t1("MoCo", 68.6, None, "ResNet-50 (4×)", source="Table 1b"),
    _t1("SimCLR", 76.5, 93.2, "ResNet-50 (4×)", "simclr", "Table 1b"),
    _t1("BYOL", 78.6, 94.2, "ResNet-50 (4×)", "byol", "Table 1b"),
    _t1("BYOL", 79.6, 94.8, "ResNet-200 (2×)", "byol", "Table 1b"),
)


def _t2(method: str, t1_1: float | None, t1_10: float | None, t5_1: float | None, t5_10: float | None,
        arch: str = "ResNet-50", ours: str = "", source: str = "Table 2a") -> PublishedRow:
    cells = {(1.0, "top1"): t1_1, (10.0, "top1"): t1_10, (1.0, "top5"): t5_1, (10.0, "top5"): t5_10}
    return PublishedRow(source, method, arch, cells, ours)


# Table 2 — semi-supervised fine-tuning on 1 % / 10 % of the ImageNet labels; cells keyed (percent, metric).
# "Supervised [77]" (S4L, Zhai et al. 2019) is a ResNet-50 trained from scratch on the labelled 1 % / 10 % only,
# not an ImageNet-supervised network: our counterpart is ``random-init`` (a random init fine-tuned on the same
# labels), not ``supervised`` (pretrained with every label of the pretraining set).
TABLE2_SEMISUP: tuple[PublishedRow, ...] = (
    _t2("Supervised [77]", 25.4, 56.4, 48.4, 80.4, ours="random-init"),
    _t2("InstDisc", None, None, 39.2, 77.4),
    _t2("PIRL", None, None, 57.2, 83.8),
    _t2("SimCLR", 48.3, 65.6, 75.5, 87.8, ours="simclr"),
    _t2("BYOL", 53.2, 68.8, 78.4, 89.0, ours="byol"),
    _t2("CPC v2", None, None, 77.9, 91.2, "ResNet-161", source="Table 2b"),
    _t2("SimCLR", 58.5, 71.7, 83.0, 91.2, "ResNet-50 (2×)", "simclr", "Table 2b"),
    _t2("BYOL", 62.2, 73.5, 84.1, 91.7, "ResNet-50 (2×)", "byol", "Table 2b"),
    _t2("SimCLR", 63.0, 74.4, 85.8, 92.6, "ResNet-50 (4×)", "simclr", "Table 2b"),
    _t2("BYOL", 69.1, 75.7, 87.9, 92.5, "ResNet-50 (4×)", "byol", "Table 2b"),
    _t2("BYOL", 71.2, 77.7, 89.5, 93.7, "ResNet-200 (2×)", "byol", "Table 2b"),
)

#: Table 3 column order, as our registry names (the cells below are transcribed in this order).
TABLE3_DATASETS = TABLE3_ORDER


def _t3(method: str, values: tuple[float, ...], ours: str = "", also: tuple[str, ...] = ()) -> PublishedRow:
    assert len(values) == len(TABLE3_DATASETS)
    return PublishedRow("Table 3", method, "ResNet-50", dict(zip(TABLE3_DATASETS, values)), ours, also)


#: Our method name of an ImageNet-supervised encoder evaluated as given (torchvision's ResNet-50 weights, an
#: external method in ``config/imagenet.yaml``): the paper's "Supervised-IN [8]" rows; also shown beside our
#: ``supervised`` method (supervised pretraining on the pretraining set, ImageNet in the paper's setting).
SUPERVISED_IN = "supervised-in"

# Table 3 — transfer from ImageNet, ResNet-50; metric per dataset as in spec §6.6.
TABLE3_LINEAR: tuple[PublishedRow, ...] = (
    _t3("BYOL", (75.3, 91.3, 78.4, 57.2, 62.2, 67.8, 60.6, 82.5, 75.5, 90.4, 94.2, 96.1), "byol"),
    _t3("SimCLR (repro)", (72.8, 90.5, 74.4, 42.4, 60.6, 49.3, 49.8, 81.4, 75.7, 84.6, 89.3, 92.6), "simclr"),
    _t3("SimCLR [8]", (68.4, 90.6, 71.6, 37.4, 58.8, 50.3, 50.3, 80.5, 74.5, 83.6, 90.3, 91.2)),
    _t3("Supervised-IN [8]", (72.3, 93.6, 78.3, 53.7, 61.9, 66.7, 61.0, 82.8, 74.9, 91.5, 94.5, 94.7),
        SUPERVISED_IN, ("supervised",)),
)
TABLE3_FINETUNED: tuple[PublishedRow, ...] = (
    _t3("BYOL", (88.5, 97.8, 86.1, 76.3, 63.7, 91.6, 88.1, 85.4, 76.2, 91.7, 93.8, 97.0), "byol"),
    _t3("SimCLR (repro)", (87.5, 97.4, 85.3, 75.0, 63.9, 91.4, 87.6, 84.5, 75.4, 89.4, 91.7, 96.6), "simclr"),
    _t3("SimCLR [8]", (88.2, 97.7, 85.9, 75.9, 63.5, 91.3, 88.1, 84.1, 73.2, 89.2, 92.1, 97.0)),
    _t3("Supervised-IN [8]", (88.3, 97.5, 86.4, 75.8, 64.3, 92.1, 86.0, 85.0, 74.6, 92.1, 93.3, 97.6),
        SUPERVISED_IN, ("supervised",)),
    _t3("Random init [8]", (86.9, 95.9, 80.2, 76.1, 53.6, 91.4, 85.9, 67.3, 64.8, 81.5, 72.6, 92.0), "random-init"),
)

# Ablations (300 epochs, R50, linear top-1 unless stated; ± = half range over 3 seeds when > 0.25).
ABLATIONS: tuple[PublishedTable, ...] = (
    PublishedTable("Table 5a", "Target network modes (linear top-1).", ("Target", "τ_base", "Top-1"), (
        ("Constant random network", "1", "18.8±0.7"),
        ("Moving average of online", "0.999", "69.8"),
        ("Moving average of online", "0.99", "72.5"),
        ("Moving average of online", "0.9", "68.4"),
        ("Stop gradient of online (τ = 0 constant)", "0", "0.3"),
    )),
    PublishedTable("Table 5b", "Intermediate variants between BYOL and SimCLR (β = weight of the negative-pair "
                   "term, α = 0.1).", ("Method", "Predictor", "Target network", "β", "Top-1"), (
        ("BYOL", "✓", "✓", "0", "72.5"),
        ("−", "✓", "✓", "1", "70.9"),
        ("−", "", "✓", "1", "70.7"),
        ("SimCLR", "", "", "1", "69.4"),
        ("−", "✓", "", "1", "69.1"),
        ("−", "✓", "", "0", "0.3"),
        ("−", "", "✓", "0", "0.2"),
        ("−", "", "", "0", "0.1"),
    )),
    PublishedTable("Table 16", "Batch size (gradient accumulation, 300 epochs).",
                   ("Batch", "BYOL top-1", "SimCLR (repro) top-1", "BYOL top-5", "SimCLR (repro) top-5"), (
        ("4096", "72.5", "67.9", "90.8", "88.5"),
        ("2048", "72.4", "67.8", "90.7", "88.5"),
        ("1024", "72.2", "67.4", "90.7", "88.1"),
        ("512", "72.2", "66.5", "90.8", "87.6"),
        ("256", "71.8", "64.3±2.1", "90.7", "86.3±1.0"),
        ("128", "69.6±0.5", "63.6", "89.6", "85.9"),
        ("64", "59.7±1.5", "59.2±2.9", "83.2±1.2", "83.0±1.9"),
    )),
    PublishedTable("Table 17", "Augmentation ablation (300 epochs).",
                   ("Augmentation set", "BYOL top-1", "SimCLR (repro) top-1", "BYOL top-5", "SimCLR (repro) top-5"), (
        ("Baseline", "72.5", "67.9", "90.8", "88.5"),
        ("Remove flip", "71.9", "67.3", "90.6", "88.2"),
        ("Remove blur", "71.2", "65.2", "90.3", "86.6"),
        ("Remove color (jittering and grayscale)", "63.4±0.7", "45.7", "85.3±0.5", "70.6"),
        ("Remove color jittering", "71.8", "63.7", "90.7", "85.9"),
        ("Remove grayscale", "70.3", "61.9", "89.8", "84.1"),
        ("Remove blur in T'", "72.4", "67.5", "90.8", "88.4"),
        ("Remove solarize in T'", "72.3", "67.7", "90.8", "88.2"),
        ("Remove blur and solarize in T'", "72.2", "67.4", "90.8", "88.1"),
        ("Symmetric blurring/solarization", "72.5", "68.1", "90.8", "88.4"),
        ("Crop only", "59.4±0.3", "40.3±0.3", "82.4", "64.8±0.4"),
        ("Crop and flip only", "60.1±0.3", "40.2", "83.0±0.3", "64.8"),
        ("Crop and color only", "70.7", "64.2", "90.0", "86.2"),
        ("Crop and blur only", "61.1±0.3", "41.7", "83.9", "66.4"),
    )),
    PublishedTable("Table 14a", "Projector depth × predictor depth (top-1 / top-5).",
                   ("Projector depth", "Predictor depth 1", "Predictor depth 2", "Predictor depth 3"), (
        ("1", "61.9 / 86.0", "65.0 / 86.8", "65.7 / 86.8"),
        ("2", "71.5 / 90.7", "72.5 / 90.8", "71.4 / 90.4"),
        ("3", "71.4 / 90.4", "72.1 / 90.5", "72.1 / 90.5"),
    )),
    PublishedTable("Table 14b", "Projection dimension.", ("Projection dim", "Top-1", "Top-5"), (
        ("16", "69.9±0.3", "89.9"), ("32", "71.3", "90.6"), ("64", "72.2", "90.9"), ("128", "72.5", "91.0"),
        ("256", "72.5", "90.8"), ("512", "72.6", "91.0"),
    )),
    PublishedTable("Table 15a", "Base learning rate.", ("Base LR", "Top-1", "Top-5"), (
        ("0.01", "34.8±3.0", "60.8±3.2"), ("0.1", "65.0", "87.0"), ("0.2", "71.7", "90.6"), ("0.3", "72.5", "90.8"),
        ("0.4", "72.3", "90.6"), ("0.5", "71.5", "90.1"), ("1", "69.4", "89.2"),
    )),
    PublishedTable("Table 15b", "Weight decay.", ("Weight decay", "Top-1", "Top-5"), (
        ("1e-7", "72.1", "90.4"), ("5e-7", "72.6", "91.0"), ("1e-6", "72.5", "90.8"), ("5e-6", "71.0±0.3", "90.0"),
        ("1e-5", "69.6±0.4", "89.3"),
    )),
    PublishedTable("Table 20", "Loss normalisation.", ("Normalisation", "Top-1", "Top-5"), (
        ("ℓ2", "72.5", "90.8"), ("LayerNorm", "72.5±0.4", "90.1"), ("None", "67.4", "87.1"),
        ("BatchNorm", "65.3", "85.3"),
    )),
    PublishedTable("Table 21", "τ = 0 with predictor learning-rate multiplier λ (baseline 72.5).",
                   ("λ", "Top-1"), (
        ("0", "0.01"), ("1", "5.5"), ("2", "62.8±1.5"), ("10", "66.6"), ("20", "66.3±0.3"),
    )),
)


def table1_rows(arch: str | None = "ResNet-50") -> list[PublishedRow]:
    """Table 1 rows of one encoder (all encoders with ``arch=None``)."""
    return [r for r in TABLE1_LINEAR if arch is None or r.arch == arch]


def table2_rows(arch: str | None = "ResNet-50") -> list[PublishedRow]:
    """Table 2 rows of one encoder (all encoders with ``arch=None``)."""
    return [r for r in TABLE2_SEMISUP if arch is None or r.arch == arch]


def table3_rows(protocol: str) -> tuple[PublishedRow, ...]:
    """Table 3 rows of ``transfer_linear`` or ``finetune``."""
    return {"transfer_linear": TABLE3_LINEAR, "finetune": TABLE3_FINETUNED}[protocol]


def published_value(rows: list[PublishedRow] | tuple[PublishedRow, ...], ours: str, key) -> float | None:
    """The published value beside our method ``ours`` for cell ``key`` (first row pairing with it), or None."""
    for row in rows:
        if ours in row.pairs and row.cells.get(key) is not None:
            return row.cells[key]
    return None


def published_ablation_table(source: str) -> PublishedTable:
    """The published ablation table printed as ``source`` (``"Table 5a"``, ``"Table 16"``, ...)."""
    for table in ABLATIONS:
        if table.source == source:
            return table
    raise KeyError(f"no published ablation table {source!r}")
