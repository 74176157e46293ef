"""Paper-form tables from result records: Table 1 (linear), Table 2 (semi-supervised), Table 3 (transfer),
a kNN table and method comparisons, with the paper's published rows beside ours (the records they read:
:mod:`.records`; the table model: :mod:`.table_model`; the writers: :mod:`.writers`).

Every cell of ours is the mean ± sample standard deviation (ddof = 1) over seeds with the seed count, e.g.
``74.3 ± 0.2 (n=3)``; a single seed reads ``74.3 (n=1)``, or ``74.3 [73.5, 75.1] (n=1)`` with its 95 % bootstrap
interval over the test images when the result's predictions are there (:mod:`.intervals`, :mod:`.bootstrap`;
the CSV keeps the interval of every cell). Records of one seed that repeat a cell are averaged first. The
comparisons add the paired bootstrap interval of each difference beside the seed spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from . import published as pub
from .captions import TABLE_BASE_CAPTIONS, TABLE_TITLES, bootstrap_note, paired_note
from .intervals import Bootstrapper, CellInterval
from .records import (METRIC_NAMES, PROTOCOL_NAMES, dataset_label, dataset_order, final_records, k_of, method_label,
                      pick_table3_metric, prepare, sorted_labels, summarise, table3_metric)
from .table_model import Cell, Column, ReportTable, Row

def _our_rows(summary: pd.DataFrame, columns: dict[tuple, Column], key_of, labels_of, group_of=None,
              intervals: dict[tuple, CellInterval] | None = None, keys: list[str] = ()) -> list[Row]:
    """Rows of our cells; ``intervals`` (by the values of ``keys``, the summary's group keys) adds each cell's
    bootstrap interval."""
    rows: dict[tuple, Row] = {}
    for rec in summary.to_dict("records"):
        labels = labels_of(rec)
        row = rows.setdefault(labels, Row(labels, "ours", group=group_of(rec) if group_of else "ours"))
        found = (intervals or {}).get(tuple(rec[k] for k in keys))
        row.cells[columns[key_of(rec)].label] = Cell(float(rec["mean"]), float(rec["std"]), int(rec["n"]),
                                                     ci=found.bounds if found is not None else None)
    return list(rows.values())


def _boot(bootstrap: Bootstrapper | None) -> Bootstrapper:
    return Bootstrapper() if bootstrap is None else bootstrap


def _caption(name: str, bootstrap: Bootstrapper, intervals, paired: bool = False) -> str:
    """The table's caption, the bootstrap sentence (``paired``: the comparisons') and why cells have no
    interval (if any): ``intervals`` are the table's :class:`CellInterval`."""
    note = (paired_note if paired else bootstrap_note)(bootstrap.resamples, bootstrap.level, bootstrap.seed)
    reasons = sorted({c.reason for c in intervals if c.interval is None and c.reason})
    why = f" No interval where {'; or '.join(reasons)}." if reasons else ""
    return f"{TABLE_BASE_CAPTIONS[name]} {note}{why}"


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


def _order_rows(rows: list[Row], order: list[str]) -> list[Row]:
    rank = {label: i for i, label in enumerate(order)}
    return sorted(rows, key=lambda r: rank.get(r.labels[-1], len(rank)))


def _variant_part(variant: str) -> str:
    return f" ({variant})" if variant else ""


def table1(frame: pd.DataFrame, decimals: int = 1, published_arch: str | None = "ResNet-50",
           bootstrap: Bootstrapper | None = None) -> ReportTable:
    """Table 1: linear evaluation, rows = method, columns = top-1 / top-5 per dataset and variant."""
    bootstrap = _boot(bootstrap)
    df = final_records(prepare(frame))
    df = df[(df["protocol"] == "linear") & df["metric"].isin(["top1", "top5"])]
    keys = ["label", "dataset", "variant", "metric"]
    summary, intervals = summarise(df, keys), bootstrap.intervals(df, keys)
    ds_rank = {d: i for i, d in enumerate(dataset_order(summary["dataset"]))}
    cells = sorted({(r["dataset"], r["variant"], r["metric"]) for r in summary.to_dict("records")},
                   key=lambda k: (ds_rank[k[0]], k[1], k[2]))
    columns = {k: Column(f"{dataset_label(k[0])}{_variant_part(k[1])} {METRIC_NAMES[k[2]]}", "linear", *k)
               for k in cells}
    rows = _order_rows(_our_rows(summary, columns, lambda r: (r["dataset"], r["variant"], r["metric"]),
                                 lambda r: (r["label"],), intervals=intervals, keys=keys), sorted_labels(df))
    cols = list(columns.values())
    rows += _published_rows(pub.table1_rows(published_arch), cols,
                            lambda c: c.metric if c.dataset in pub.IMAGENET_NAMES else None,
                            lambda p: (p.label,))
    return ReportTable("table1", TABLE_TITLES["table1"], _caption("table1", bootstrap, intervals.values()), ("Method",),
                       cols, rows, decimals)


def table2(frame: pd.DataFrame, decimals: int = 1, published_arch: str | None = "ResNet-50",
           bootstrap: Bootstrapper | None = None) -> ReportTable:
    """Table 2: semi-supervised, rows = method, columns = top-1 / top-5 per label fraction (paper order)."""
    bootstrap = _boot(bootstrap)
    df = final_records(prepare(frame))
    df = df[(df["protocol"] == "semisup") & df["metric"].isin(["top1", "top5"])]
    df = df.assign(fraction=df["fraction"].fillna(math.inf))
    group = ["label", "dataset", "variant", "fraction", "metric"]
    summary, intervals = summarise(df, group), bootstrap.intervals(df, group)
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
                                 lambda r: (r["label"],), intervals=intervals, keys=group), sorted_labels(df))
    cols = list(columns.values())
    rows += _published_rows(pub.table2_rows(published_arch), cols,
                            lambda c: (fractions[c.label], c.metric) if c.dataset in pub.IMAGENET_NAMES else None,
                            lambda p: (p.label,))
    return ReportTable("table2", TABLE_TITLES["table2"], _caption("table2", bootstrap, intervals.values()), ("Method",),
                       cols, rows, decimals)


def table3(frame: pd.DataFrame, decimals: int = 1, bootstrap: Bootstrapper | None = None) -> ReportTable:
    """Table 3: transfer, rows = (linear | fine-tuned) × method, columns = datasets in Table 3 order, then
    other datasets; each column holds the dataset's metric."""
    bootstrap = _boot(bootstrap)
    df = final_records(prepare(frame))
    df = pick_table3_metric(df[df["protocol"].isin(["transfer_linear", "finetune"])])
    group = ["protocol", "label", "dataset", "variant", "metric"]
    summary, intervals = summarise(df, group), bootstrap.intervals(df, group)
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
                                      lambda r: (name, r["label"]), lambda r: protocol, intervals, group), order)
        rows += _published_rows(pub.table3_rows(protocol), cols,
                                lambda c: c.dataset if c.metric == table3_metric(c.dataset) else None,
                                lambda p: (name, p.label), group=f"{protocol} published")
    return ReportTable("table3", TABLE_TITLES["table3"], _caption("table3", bootstrap, intervals.values()),
                       ("Protocol", "Method"), cols, rows, decimals)


def knn_table(frame: pd.DataFrame, decimals: int = 1, bootstrap: Bootstrapper | None = None) -> ReportTable:
    """kNN accuracy of the final encoders: rows = method, columns = dataset × k (× metric when not top-1)."""
    bootstrap = _boot(bootstrap)
    df = final_records(prepare(frame))
    df = df[df["protocol"] == "knn"]
    group = ["label", "dataset", "variant", "metric"]
    summary, intervals = summarise(df, group), bootstrap.intervals(df, group)
    ds_rank = {d: i for i, d in enumerate(dataset_order(summary["dataset"]))}
    keys = sorted({(r["dataset"], r["variant"], r["metric"]) for r in summary.to_dict("records")},
                  key=lambda k: (ds_rank[k[0]], k_of(k[1]), k[1], k[2]))
    columns = {k: Column(f"{dataset_label(k[0])}{_variant_part(k[1])}"
                         + ("" if k[2] == "top1" else f" {METRIC_NAMES.get(k[2], k[2])}"), "knn", *k) for k in keys}
    rows = _order_rows(_our_rows(summary, columns, lambda r: (r["dataset"], r["variant"], r["metric"]),
                                 lambda r: (r["label"],), intervals=intervals, keys=group), sorted_labels(df))
    return ReportTable("knn", TABLE_TITLES["knn"], _caption("knn", bootstrap, intervals.values()), ("Method",),
                       list(columns.values()), rows, decimals)


@dataclass(frozen=True)
class Comparison:
    """Method ``a`` against ``b`` on one cell: difference of the seed means and whether it exceeds the seed
    spread (``|diff| > std_a + std_b``; None when either side has fewer than two seeds), and the paired bootstrap
    interval of the difference on the same test images (``ci``; None without predictions, ``ci_reason`` says
    why) and whether it excludes 0."""

    a: str
    b: str
    mean_a: float
    std_a: float
    n_a: int
    mean_b: float
    std_b: float
    n_b: int
    ci: tuple[float, float] | None = None
    ci_reason: str = ""

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

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the paired interval excludes 0 (None without an interval)."""
        if self.ci is None:
            return None
        return self.ci[0] > 0.0 or self.ci[1] < 0.0


def _cell_stats(df: pd.DataFrame) -> tuple[float, float, int]:
    per_seed = df.groupby("seed")["value"].mean()
    return float(per_seed.mean()), float(per_seed.std()) if len(per_seed) > 1 else math.nan, int(len(per_seed))


def compare(frame: pd.DataFrame, a: str, b: str, protocol: str, dataset: str, metric: str,
            variant: str = "", bootstrap: Bootstrapper | None = None) -> Comparison | None:
    """Compare methods ``a`` and ``b`` (``method`` values or display labels) on one cell; None when either
    has no record there."""
    return _compare(final_records(prepare(frame)), a, b, protocol, dataset, metric, variant, _boot(bootstrap))


def _compare(df: pd.DataFrame, a: str, b: str, protocol: str, dataset: str, metric: str,
             variant: str, bootstrap: Bootstrapper) -> Comparison | None:
    if df.empty:
        return None
    df = df[(df["protocol"] == protocol) & (df["dataset"] == dataset) & (df["metric"] == metric)
            & (df["variant"] == variant)]
    sel_a = df[(df["method"] == a) | (df["label"] == a)]
    sel_b = df[(df["method"] == b) | (df["label"] == b)]
    if sel_a.empty or sel_b.empty:
        return None
    paired = bootstrap.paired(sel_a, sel_b)
    return Comparison(a, b, *_cell_stats(sel_a), *_cell_stats(sel_b), ci=paired.bounds, ci_reason=paired.reason)


#: The comparison table's columns: the seed means, the seed spread, the paired bootstrap interval of Δ.
COMPARISON_COLUMNS = ("Mean A", "Mean B", "Δ (A − B)", "Spread (std A + std B)", "Exceeds spread",
                      "Paired 95 % CI of Δ", "CI excludes 0")


def comparison_table(frame: pd.DataFrame, reference: str | None = None, decimals: int = 2,
                     bootstrap: Bootstrapper | None = None) -> ReportTable:
    """The reference method (default: BYOL if present, else the first) against every other method on every
    cell both have: difference of means, whether it exceeds the seed spread, and the paired bootstrap interval
    of the difference on the same test images with whether it excludes 0."""
    bootstrap = _boot(bootstrap)
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
    level = f"{100 * bootstrap.level:g} %"
    names = [name.replace("95 %", level) for name in COMPARISON_COLUMNS]
    cols = [Column(c) for c in names]
    rows, found = [], []
    for other in [lab for lab in labels if lab != reference]:
        for c in cells:
            res = _compare(df, reference, other, c["protocol"], c["dataset"], c["metric"], c["variant"], bootstrap)
            if res is None:
                continue
            found.append(CellInterval(None, res.ci_reason) if res.ci is None else CellInterval(res.ci))
            verdict = {True: "yes", False: "no", None: "n/a (n<2)"}[res.exceeds_spread]
            excludes = {True: "yes", False: "no", None: "n/a (no CI)"}[res.excludes_zero]
            rows.append(Row((reference, other, c["protocol"], dataset_label(c["dataset"]), c["variant"],
                             METRIC_NAMES.get(c["metric"], c["metric"])), "ours", {
                names[0]: Cell(res.mean_a, res.std_a, res.n_a), names[1]: Cell(res.mean_b, res.std_b, res.n_b),
                names[2]: Cell(res.diff), names[3]: Cell(res.spread),
                names[4]: Cell(math.nan, note=verdict), names[5]: Cell(math.nan, ci=res.ci),
                names[6]: Cell(math.nan, note=excludes)}, group=other))
    table = ReportTable("comparisons", TABLE_TITLES["comparisons"], _caption("comparisons", bootstrap, found, True),
                        ("Method A", "Method B", "Protocol", "Dataset", "Variant", "Metric"),
                        cols, rows, decimals)
    return table


def paper_tables(frame: pd.DataFrame, decimals: int = 1, bootstrap: Bootstrapper | None = None) -> list[ReportTable]:
    """All tables in report order (empty ones included), sharing one :class:`Bootstrapper` (each predictions
    file read once, each record's bootstrap values computed once)."""
    bootstrap = _boot(bootstrap)
    return [table1(frame, decimals, bootstrap=bootstrap), table2(frame, decimals, bootstrap=bootstrap),
            table3(frame, decimals, bootstrap), knn_table(frame, decimals, bootstrap),
            comparison_table(frame, bootstrap=bootstrap)]
