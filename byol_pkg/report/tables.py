"""Paper-form tables from result records: Table 1 (linear), Table 2 (semi-supervised), Table 3 (transfer),
a kNN table and method comparisons, with the paper's published rows beside ours.

Every cell of ours is the mean ± sample standard deviation (ddof = 1) over seeds with the seed count, e.g.
``74.3 ± 0.2 (n=3)``; a single seed reads ``74.3 (n=1)``. Records of one seed that repeat a cell are averaged
first. Writers: :func:`to_markdown`, :func:`to_latex` (booktabs, hand-written: no jinja2), :func:`to_csv` (one
tidy row per cell with mean, std, n and the text) and :func:`write_table` (all three, atomically).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..io import atomic_write_text
from . import published as pub
from .captions import TABLE_CAPTIONS, TABLE_TITLES

#: Display names of our ``method`` values; others are shown as they are.
METHOD_NAMES = {"byol": "BYOL", "simclr": "SimCLR", "supervised": "Supervised", "random-init": "Random init",
                "random_init": "Random init", "moco": "MoCo", "mocov2": "MoCo v2",
                pub.SUPERVISED_IN: "Supervised-IN"}
METRIC_NAMES = {"top1": "top-1", "top5": "top-5", "mean_per_class": "mean per-class", "voc07_map": "11-pt mAP"}
PROTOCOL_NAMES = {"transfer_linear": "Linear evaluation", "finetune": "Fine-tuned"}
MISSING = "–"


# ----------------------------------------------------------------------------------------------- records


def method_label(method: str) -> str:
    """Display name of a method (``byol`` -> ``BYOL``)."""
    return METHOD_NAMES.get(str(method).lower(), str(method))


def dataset_label(dataset: str) -> str:
    """Display name of a dataset registry name (its record's ``display``: Table 3's title for the transfer
    sets); a name not registered is shown as it is."""
    from ..data.registry import DATASETS

    builder = DATASETS.get(dataset)
    return builder.info.display if builder is not None else dataset


def label_fraction(variant: str, hyperparameters: object = None) -> float | None:
    """Label fraction in percent of a semi-supervised record: ``hyperparameters["label_fraction"]`` (a
    fraction) when present, else parsed from the variant (``"1%"``, ``"10percent"``, ``"frac0.01"``)."""
    if isinstance(hyperparameters, dict) and isinstance(hyperparameters.get("label_fraction"), (int, float)):
        return round(100.0 * float(hyperparameters["label_fraction"]), 6)
    text = str(variant or "")
    m = re.search(r"(\d+(?:\.\d+)?)\s*(%|percent|pct)", text)
    if m:
        return float(m.group(1))
    m = re.search(r"frac(?:tion)?[_-]?(\d*\.\d+)", text)
    return 100.0 * float(m.group(1)) if m else None


def is_ablation_method(method: object) -> bool:
    """Whether a ``method`` value names an ablation variant (``"{base}/{ablation}/{variant}"``)."""
    return "/" in str(method)


_SEED_DIR = re.compile(r"seed\d+")


def is_ablation_run(path: str | Path) -> bool:
    """Whether a file of a pretraining run (``metrics.csv``, ``encoder.pt``) belongs to an ablation run: its
    folder has extra levels below ``pretrain/``, ``results/pretrain/<run>/<ablation>/<variant>/seed<S>/``.
    False when the path has no ``pretrain`` folder."""
    parts = [p for p in Path(path).parent.parts if p not in ("", ".")]
    if "pretrain" not in parts:
        return False
    last = len(parts) - 1 - parts[::-1].index("pretrain")
    below = parts[last + 1:]
    if below and _SEED_DIR.fullmatch(below[-1]):
        below = below[:-1]
    return len(below) > 1


def prepare(frame: pd.DataFrame, ablations: bool = False) -> pd.DataFrame:
    """Normalised copy of a :func:`~byol_pkg.eval.results.results_frame`: missing fields filled (``variant`` "",
    ``method`` "unknown", ``seed`` 0), ``pretrain_epoch`` and ``fraction`` columns, a ``label`` column (method
    display name, plus the backbone when one method has several), and only each run's final checkpoint kept
    (records without ``pretrain_epoch``, else the latest epoch). Ablation records (``method`` with a ``/``, see
    :mod:`byol_pkg.report.ablations`) are dropped unless ``ablations`` is true."""
    df = frame.copy() if frame is not None else pd.DataFrame()
    for col, default in (("protocol", ""), ("variant", ""), ("metric", ""), ("dataset", ""), ("method", "unknown"),
                         ("backbone", ""), ("seed", 0), ("value", math.nan)):
        if col not in df:
            df[col] = default
        df[col] = df[col].fillna(default)
    if not ablations and not df.empty:
        df = df[~df["method"].map(is_ablation_method)].copy()
    if df.empty:
        return df.assign(pretrain_epoch=pd.Series(dtype=float), fraction=pd.Series(dtype=float),
                         label=pd.Series(dtype=str))
    df["method"] = df["method"].astype(str).replace("", "unknown")
    df["value"] = df["value"].astype(float)
    df["seed"] = df["seed"].astype(int)
    hps = df["hyperparameters"] if "hyperparameters" in df else pd.Series([{}] * len(df), index=df.index)
    df["pretrain_epoch"] = [h.get("pretrain_epoch") if isinstance(h, dict) else None for h in hps]
    df["pretrain_epoch"] = pd.to_numeric(df["pretrain_epoch"], errors="coerce")
    df["fraction"] = [label_fraction(v, h) if p == "semisup" else None
                      for v, h, p in zip(df["variant"], hps, df["protocol"])]
    df["fraction"] = pd.to_numeric(df["fraction"], errors="coerce")
    backbones = df.groupby("method")["backbone"].nunique()
    df["label"] = [method_label(m) + (f" ({b})" if backbones[m] > 1 and b else "")
                   for m, b in zip(df["method"], df["backbone"])]
    return df


def final_records(df: pd.DataFrame) -> pd.DataFrame:
    """Drop records of intermediate checkpoints: per run and cell keep the records without ``pretrain_epoch``
    if there are any, else those of the largest ``pretrain_epoch``."""
    if df.empty:
        return df
    keys = ["label", "seed", "protocol", "dataset", "variant", "metric"]
    epoch = df["pretrain_epoch"].fillna(math.inf)
    best = epoch.groupby([df[k] for k in keys]).transform("max")
    return df[epoch == best]


def summarise(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean, sample std (NaN for one seed) and seed count of ``value`` per ``keys``; one seed's repeats are
    averaged first."""
    if df.empty:
        return pd.DataFrame(columns=[*keys, "mean", "std", "n"])
    per_seed = df.groupby([*keys, "seed"], dropna=False, sort=False)["value"].mean().reset_index()
    out = per_seed.groupby(keys, dropna=False, sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


# ----------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """One value column: its header and what it holds."""

    label: str
    protocol: str = ""
    dataset: str = ""
    variant: str = ""
    metric: str = ""


@dataclass
class Cell:
    """A mean ± std over ``n`` seeds (``n == 0``: a published value)."""

    mean: float
    std: float = math.nan
    n: int = 0
    note: str = ""  # shown instead of the number when set (a text cell)
    decimals: int | None = None  # overrides the table's decimals (e.g. a collapse std of about 0.06)

    def text(self, decimals: int = 1) -> str:
        if self.note:
            return self.note
        decimals = decimals if self.decimals is None else self.decimals
        if self.mean is None or (isinstance(self.mean, float) and math.isnan(self.mean)):
            return MISSING
        if self.n == 0:
            return f"{self.mean:.{decimals}f}"
        if self.n == 1 or math.isnan(self.std):
            return f"{self.mean:.{decimals}f} (n={self.n})"
        return f"{self.mean:.{decimals}f} ± {self.std:.{decimals}f} (n={self.n})"


@dataclass
class Row:
    """A table row: its labels (one per row-label column), whether it is ours or published, its cells."""

    labels: tuple[str, ...]
    source: str  # "ours" | "published"
    cells: dict[str, Cell] = field(default_factory=dict)  # column label -> cell
    group: str = ""  # rows of one group are printed together; LaTeX puts a rule between groups


@dataclass
class ReportTable:
    """A paper-form table (text cells via :func:`display_frame`)."""

    name: str
    title: str
    caption: str
    row_columns: tuple[str, ...]
    columns: list[Column]
    rows: list[Row]
    decimals: int = 1

    @property
    def empty(self) -> bool:
        return not any(r.source == "ours" for r in self.rows)


def display_frame(table: ReportTable) -> pd.DataFrame:
    """The table as text cells: row-label columns, then one column per value column."""
    records = []
    for row in table.rows:
        rec = dict(zip(table.row_columns, row.labels))
        for col in table.columns:
            cell = row.cells.get(col.label)
            rec[col.label] = cell.text(table.decimals) if cell is not None else MISSING
        records.append(rec)
    return pd.DataFrame(records, columns=[*table.row_columns, *(c.label for c in table.columns)])


def _our_rows(summary: pd.DataFrame, columns: dict[tuple, Column], key_of, labels_of, group_of=None) -> list[Row]:
    rows: dict[tuple, Row] = {}
    for rec in summary.to_dict("records"):
        labels = labels_of(rec)
        row = rows.setdefault(labels, Row(labels, "ours", group=group_of(rec) if group_of else "ours"))
        row.cells[columns[key_of(rec)].label] = Cell(float(rec["mean"]), float(rec["std"]), int(rec["n"]))
    return list(rows.values())


def _published_rows(rows, columns: list[Column], key_for, labels_of, group: str = "published") -> list[Row]:
    """Published rows restricted to our columns (``key_for(column)`` = the paper's cell key or None); rows with
    no value in any of our columns are left out."""
    out = []
    for prow in rows:
        cells = {}
        for col in columns:
            key = key_for(col)
            if key is not None and prow.cells.get(key) is not None:
                cells[col.label] = Cell(float(prow.cells[key]))
        if cells:
            out.append(Row(labels_of(prow), "published", cells, group))
    return out


def sorted_labels(df: pd.DataFrame) -> list[str]:
    """Row order: BYOL first, then the other methods alphabetically, the baselines (supervised, random init)
    last."""
    def rank(label: str) -> tuple:
        low = label.lower()
        baselines = {"supervised": 2, "random": 3}
        group = 0 if low.startswith("byol") else next((g for k, g in baselines.items() if low.startswith(k)), 1)
        return group, low

    return sorted(set(df["label"]), key=rank)


def _order_rows(rows: list[Row], order: list[str]) -> list[Row]:
    rank = {label: i for i, label in enumerate(order)}
    return sorted(rows, key=lambda r: rank.get(r.labels[-1], len(rank)))


def k_of(variant: str) -> float:
    m = re.search(r"k\s*=\s*(\d+)", str(variant))
    return float(m.group(1)) if m else math.inf


def dataset_order(datasets) -> list[str]:
    """ImageNet first, then Table 3's order, then the rest alphabetically."""
    table3 = {d: i for i, d in enumerate(pub.TABLE3_DATASETS)}
    return sorted(set(datasets), key=lambda d: (d not in pub.IMAGENET_NAMES, table3.get(d, len(table3)), d))


def _variant_part(variant: str) -> str:
    return f" ({variant})" if variant else ""


def table1(frame: pd.DataFrame, decimals: int = 1, published_arch: str | None = "ResNet-50") -> ReportTable:
    """Table 1: linear evaluation, rows = method, columns = top-1 / top-5 per dataset and variant."""
    df = final_records(prepare(frame))
    df = df[(df["protocol"] == "linear") & df["metric"].isin(["top1", "top5"])]
    summary = summarise(df, ["label", "dataset", "variant", "metric"])
    ds_rank = {d: i for i, d in enumerate(dataset_order(summary["dataset"]))}
    keys = sorted({(r["dataset"], r["variant"], r["metric"]) for r in summary.to_dict("records")},
                  key=lambda k: (ds_rank[k[0]], k[1], k[2]))
    columns = {k: Column(f"{dataset_label(k[0])}{_variant_part(k[1])} {METRIC_NAMES[k[2]]}", "linear", *k)
               for k in keys}
    rows = _order_rows(_our_rows(summary, columns, lambda r: (r["dataset"], r["variant"], r["metric"]),
                                 lambda r: (r["label"],)), sorted_labels(df))
    cols = list(columns.values())
    rows += _published_rows(pub.table1_rows(published_arch), cols,
                            lambda c: c.metric if c.dataset in pub.IMAGENET_NAMES else None,
                            lambda p: (p.label,))
    return ReportTable("table1", TABLE_TITLES["table1"], TABLE_CAPTIONS["table1"], ("Method",), cols, rows, decimals)


def table2(frame: pd.DataFrame, decimals: int = 1, published_arch: str | None = "ResNet-50") -> ReportTable:
    """Table 2: semi-supervised, rows = method, columns = top-1 / top-5 per label fraction (paper order)."""
    df = final_records(prepare(frame))
    df = df[(df["protocol"] == "semisup") & df["metric"].isin(["top1", "top5"])]
    df = df.assign(fraction=df["fraction"].fillna(math.inf))
    summary = summarise(df, ["label", "dataset", "variant", "fraction", "metric"])
    ds_rank = {d: i for i, d in enumerate(dataset_order(summary["dataset"]))}
    keys = sorted({(r["dataset"], r["metric"], r["fraction"], r["variant"]) for r in summary.to_dict("records")},
                  key=lambda k: (ds_rank[k[0]], k[1], k[2], k[3]))

    def header(k: tuple) -> str:
        dataset, metric, frac, variant = k
        frac_text = f"{frac:g}%" if math.isfinite(frac) else variant
        extra = f" [{variant}]" if variant and variant != frac_text else ""
        return f"{dataset_label(dataset)} {METRIC_NAMES[metric]} {frac_text}{extra}"

    columns = {k: Column(header(k), "semisup", k[0], k[3], k[1]) for k in keys}
    fractions = {columns[k].label: k[2] for k in keys}
    rows = _order_rows(_our_rows(summary, columns, lambda r: (r["dataset"], r["metric"], r["fraction"], r["variant"]),
                                 lambda r: (r["label"],)), sorted_labels(df))
    cols = list(columns.values())
    rows += _published_rows(pub.table2_rows(published_arch), cols,
                            lambda c: (fractions[c.label], c.metric) if c.dataset in pub.IMAGENET_NAMES else None,
                            lambda p: (p.label,))
    return ReportTable("table2", TABLE_TITLES["table2"], TABLE_CAPTIONS["table2"], ("Method",), cols, rows, decimals)


def table3_metric(dataset: str) -> str:
    """The metric Table 3 reports for a dataset (spec §6.6; its record's ``metric``)."""
    from ..data.registry import metric_for_dataset

    try:
        return metric_for_dataset(dataset)
    except ValueError:
        return "top1"


def pick_table3_metric(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset keep the paper's metric, or the only metric recorded when that one is absent."""
    keep = []
    for dataset, group in df.groupby("dataset"):
        metric = table3_metric(dataset)
        if metric not in set(group["metric"]):
            metrics = sorted(set(group["metric"]))
            metric = "top1" if "top1" in metrics else metrics[0]
        keep.append(group[group["metric"] == metric])
    return pd.concat(keep) if keep else df


def table3(frame: pd.DataFrame, decimals: int = 1) -> ReportTable:
    """Table 3: transfer, rows = (linear | fine-tuned) × method, columns = datasets in Table 3 order, then
    other datasets; each column holds the dataset's metric."""
    df = final_records(prepare(frame))
    df = pick_table3_metric(df[df["protocol"].isin(["transfer_linear", "finetune"])])
    summary = summarise(df, ["protocol", "label", "dataset", "variant", "metric"])
    ds_rank = {d: i for i, d in enumerate(dataset_order(summary["dataset"]))}
    keys = sorted({(r["dataset"], r["variant"], r["metric"]) for r in summary.to_dict("records")},
                  key=lambda k: (ds_rank[k[0]], k[1]))

    def header(k: tuple) -> str:
        dataset, variant, metric = k
        return f"{dataset_label(dataset)}{_variant_part(variant)}" + ("" if metric == "top1"
                                                                       else f" ({METRIC_NAMES.get(metric, metric)})")

    columns = {k: Column(header(k), "", *k) for k in keys}
    cols = list(columns.values())
    order = sorted_labels(df)
    rows: list[Row] = []
    for protocol in ("transfer_linear", "finetune"):
        part = summary[summary["protocol"] == protocol]
        if part.empty:
            continue
        name = PROTOCOL_NAMES[protocol]
        rows += _order_rows(_our_rows(part, columns, lambda r: (r["dataset"], r["variant"], r["metric"]),
                                      lambda r: (name, r["label"]), lambda r: protocol), order)
        rows += _published_rows(pub.table3_rows(protocol), cols,
                                lambda c: c.dataset if c.metric == table3_metric(c.dataset) else None,
                                lambda p: (name, p.label), group=f"{protocol} published")
    return ReportTable("table3", TABLE_TITLES["table3"], TABLE_CAPTIONS["table3"], ("Protocol", "Method"), cols, rows, decimals)


def knn_table(frame: pd.DataFrame, decimals: int = 1) -> ReportTable:
    """kNN accuracy of the final encoders: rows = method, columns = dataset × k (× metric when not top-1)."""
    df = final_records(prepare(frame))
    df = df[df["protocol"] == "knn"]
    summary = summarise(df, ["label", "dataset", "variant", "metric"])
    ds_rank = {d: i for i, d in enumerate(dataset_order(summary["dataset"]))}
    keys = sorted({(r["dataset"], r["variant"], r["metric"]) for r in summary.to_dict("records")},
                  key=lambda k: (ds_rank[k[0]], k_of(k[1]), k[1], k[2]))
    columns = {k: Column(f"{dataset_label(k[0])}{_variant_part(k[1])}"
                         + ("" if k[2] == "top1" else f" {METRIC_NAMES.get(k[2], k[2])}"), "knn", *k) for k in keys}
    rows = _order_rows(_our_rows(summary, columns, lambda r: (r["dataset"], r["variant"], r["metric"]),
                                 lambda r: (r["label"],)), sorted_labels(df))
    return ReportTable("knn", TABLE_TITLES["knn"], TABLE_CAPTIONS["knn"], ("Method",), list(columns.values()), rows, decimals)


# ----------------------------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Comparison:
    """Method ``a`` against ``b`` on one cell: difference of the seed means and whether it exceeds the seed
    spread (``|diff| > std_a + std_b``; None when either side has fewer than two seeds)."""

    a: str
    b: str
    mean_a: float
    std_a: float
    n_a: int
    mean_b: float
    std_b: float
    n_b: int

    @property
    def diff(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def spread(self) -> float:
        return self.std_a + self.std_b

    @property
    def exceeds_spread(self) -> bool | None:
        if self.n_a < 2 or self.n_b < 2:
            return None
        return abs(self.diff) > self.spread


def _cell_stats(df: pd.DataFrame) -> tuple[float, float, int]:
    per_seed = df.groupby("seed")["value"].mean()
    return float(per_seed.mean()), float(per_seed.std()) if len(per_seed) > 1 else math.nan, int(len(per_seed))


def compare(frame: pd.DataFrame, a: str, b: str, protocol: str, dataset: str, metric: str,
            variant: str = "") -> Comparison | None:
    """Compare methods ``a`` and ``b`` (``method`` values or display labels) on one cell; None when either
    has no record there."""
    return _compare(final_records(prepare(frame)), a, b, protocol, dataset, metric, variant)


def _compare(df: pd.DataFrame, a: str, b: str, protocol: str, dataset: str, metric: str,
             variant: str) -> Comparison | None:
    if df.empty:
        return None
    df = df[(df["protocol"] == protocol) & (df["dataset"] == dataset) & (df["metric"] == metric)
            & (df["variant"] == variant)]
    sel_a = df[(df["method"] == a) | (df["label"] == a)]
    sel_b = df[(df["method"] == b) | (df["label"] == b)]
    if sel_a.empty or sel_b.empty:
        return None
    return Comparison(a, b, *_cell_stats(sel_a), *_cell_stats(sel_b))


def comparison_table(frame: pd.DataFrame, reference: str | None = None, decimals: int = 2) -> ReportTable:
    """The reference method (default: BYOL if present, else the first) against every other method on every
    cell both have: difference of means and whether it exceeds the seed spread."""
    df = final_records(prepare(frame))
    labels = sorted_labels(df) if not df.empty else []
    if reference is None and labels:
        reference = labels[0]
    elif reference is not None:
        reference = method_label(reference) if reference not in labels else reference
    protocols = {p: i for i, p in enumerate(("linear", "semisup", "transfer_linear", "finetune", "knn"))}
    datasets = {d: i for i, d in enumerate(dataset_order(df["dataset"]))} if not df.empty else {}
    cells = sorted(df[["protocol", "dataset", "variant", "metric"]].drop_duplicates().to_dict("records"),
                   key=lambda c: (protocols.get(c["protocol"], len(protocols)), c["protocol"], datasets[c["dataset"]],
                                  k_of(c["variant"]), c["variant"], c["metric"])) if not df.empty else []
    cols = [Column(c) for c in ("Mean A", "Mean B", "Δ (A − B)", "Spread (std A + std B)", "Exceeds spread")]
    rows = []
    for other in [lab for lab in labels if lab != reference]:
        for c in cells:
            res = _compare(df, reference, other, c["protocol"], c["dataset"], c["metric"], c["variant"])
            if res is None:
                continue
            verdict = {True: "yes", False: "no", None: "n/a (n<2)"}[res.exceeds_spread]
            rows.append(Row((reference, other, c["protocol"], dataset_label(c["dataset"]), c["variant"],
                             METRIC_NAMES.get(c["metric"], c["metric"])), "ours", {
                "Mean A": Cell(res.mean_a, res.std_a, res.n_a), "Mean B": Cell(res.mean_b, res.std_b, res.n_b),
                "Δ (A − B)": Cell(res.diff), "Spread (std A + std B)": Cell(res.spread),
                "Exceeds spread": Cell(math.nan, note=verdict)}, group=other))
    table = ReportTable("comparisons", TABLE_TITLES["comparisons"], TABLE_CAPTIONS["comparisons"],
                        ("Method A", "Method B", "Protocol", "Dataset", "Variant", "Metric"),
                        cols, rows, decimals)
    return table


def paper_tables(frame: pd.DataFrame, decimals: int = 1) -> list[ReportTable]:
    """All tables in report order (empty ones included)."""
    return [table1(frame, decimals), table2(frame, decimals), table3(frame, decimals), knn_table(frame, decimals),
            comparison_table(frame)]


# ----------------------------------------------------------------------------------------------- writers


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(table: ReportTable) -> str:
    """A GitHub pipe table: row labels left-aligned, values right-aligned."""
    frame = display_frame(table)
    n_labels = len(table.row_columns)
    header = "| " + " | ".join(_md_escape(c) for c in frame.columns) + " |"
    rule = "|" + "|".join(":---" if i < n_labels else "---:" for i in range(len(frame.columns))) + "|"
    body = ["| " + " | ".join(_md_escape(v) for v in rec) + " |" for rec in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "–": "--", "−": "--", "Δ": r"$\Delta$", "×": r"$\times$", "τ": r"$\tau$",
                  "β": r"$\beta$", "λ": r"$\lambda$", "ℓ": r"$\ell$", "✓": r"$\checkmark$", "—": "---",
                  "<": r"$<$", ">": r"$>$", "✗": r"$\times$", "α": r"$\alpha$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_text(text: str) -> str:
    """Escape a caption, turning Markdown code spans (`x`) into ``\\texttt{x}``."""
    parts = str(text).split("`")
    return "".join(rf"\texttt{{{latex_escape(p)}}}" if i % 2 else latex_escape(p) for i, p in enumerate(parts))


def to_latex(table: ReportTable) -> str:
    """A booktabs ``table`` with a ``tabular``; a rule between row groups (ours / published / protocols)."""
    frame = display_frame(table)
    n_labels = len(table.row_columns)
    spec = "l" * n_labels + "r" * len(table.columns)
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(table.title)}. {_latex_text(table.caption)}}}",
             rf"\label{{tab:{table.name}}}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    previous = None
    for row, rec in zip(table.rows, frame.itertuples(index=False)):
        if previous is not None and row.group != previous:
            lines.append(r"\midrule")
        previous = row.group
        lines.append(" & ".join(latex_escape(v) for v in rec) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: ReportTable) -> str:
    """One tidy row per filled cell: row labels, source, column and what it holds, mean, std, n and text."""
    records = []
    for row in table.rows:
        for col in table.columns:
            cell = row.cells.get(col.label)
            if cell is None:
                continue
            records.append({**dict(zip(table.row_columns, row.labels)), "source": row.source,
                            "column": col.label, "protocol": col.protocol, "dataset": col.dataset,
                            "variant": col.variant, "metric": col.metric, "mean": cell.mean,
                            "std": cell.std, "n": cell.n, "text": cell.text(table.decimals)})
    columns = [*table.row_columns, "source", "column", "protocol", "dataset", "variant", "metric", "mean", "std",
               "n", "text"]
    return pd.DataFrame(records, columns=columns).to_csv(index=False)


def write_table(table: ReportTable, out_dir: str | Path) -> list[Path]:
    """Write ``<name>.md``, ``.tex`` and ``.csv`` atomically under ``out_dir``."""
    out_dir = Path(out_dir)
    return [atomic_write_text(out_dir / f"{table.name}.md", to_markdown(table)),
            atomic_write_text(out_dir / f"{table.name}.tex", to_latex(table)),
            atomic_write_text(out_dir / f"{table.name}.csv", to_csv(table))]
