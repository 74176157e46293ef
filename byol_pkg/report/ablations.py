"""Ablation tables and plots (paper Table 5a / 5b, Table 16, Table 17) from ablation result records.

An ablation result is an ordinary result record whose ``method`` is ``"{base}/{ablation}/{variant}"``, e.g.
``byol/tau/0.99``: ``base`` is the method varied (a column group), ``ablation`` the ablation (one table and one
plot, ``ablation_<ablation>``), ``variant`` the row. Its ``encoder`` is ``results/pretrain/<run>/seed<S>/
encoder.pt``; the run's ``metrics.csv`` beside it gives the final collapse std.

:data:`ABLATION_SPECS` maps the known ablations' variant keys onto the rows of the paper's tables
(:data:`byol_pkg.report.published.ABLATIONS`, whose printed strings are the only copy of the numbers); a key not
listed still gets a row, without a published value. Rows: the paper's order first, then others in the order
found. The published "BYOL" / "SimCLR (repro)" columns belong to our bases ``byol`` / ``simclr``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import seaborn as sns

from . import published as pub
from .captions import table_caption, table_title
from .plots import new_figure, save_figure
from .records import (dataset_label, dataset_order, final_records, is_ablation_method, is_ablation_run, k_of,
                      method_label, prepare)
from .table_model import Cell, Column, ReportTable, Row

log = logging.getLogger(__name__)

#: Label of the paper's columns and series (its setting differs from ours).
PUBLISHED_TAG = "published (ImageNet, R50, 300 ep)"
PLOT_PUBLISHED_TAG = "published (ImageNet)"
COLLAPSE_DECIMALS = 3
#: Our quantities per variant: (name, protocol, metric) in column order.
QUANTITIES = (("linear_top1", "linear", "top1"), ("linear_top5", "linear", "top5"), ("knn_top1", "knn", "top1"))


# ----------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class AblationSpec:
    """How the variant keys of one ablation map onto the rows of its published table."""

    name: str
    source: str  # the published table in published.ABLATIONS, e.g. "Table 5a"
    keys: tuple[str, ...]  # our canonical variant key of each published row, in the paper's order
    key_kind: str  # how variant keys compare: "float" (τ), "int" (batch size) or "str"
    header: str  # title of the row-label column
    label: str  # row label of a published row: a format over its column titles
    top1: dict[str, str]  # our base method -> published top-1 column
    top5: dict[str, str] = field(default_factory=dict)  # our base method -> published top-5 column
    flags: tuple[str, ...] = ()  # published columns shown as extra row-label columns (empty printed as ✗)
    baseline: str | None = None  # our Δ baseline: a variant key, "largest", or None (the base's own run)
    published_baseline: str = ""  # the paper's baseline row (for the published drops)
    other_label: str = ""  # row label of a variant the paper lacks, a format over {key} ("" = the key itself)

    @property
    def table(self) -> pub.PublishedTable:
        return pub.published_ablation_table(self.source)

    def norm(self, key: object) -> object:
        """Comparable form of a variant key (``"0.990"`` and ``"0.99"`` are one τ)."""
        text = str(key).strip()
        if self.key_kind in ("float", "int"):
            try:
                value = float(text)
            except ValueError:
                return text
            return int(value) if self.key_kind == "int" and value.is_integer() else value
        return text

    def canonical(self, key: object) -> str | None:
        """The registry key of a variant key, or None when the paper has no such row."""
        wanted = self.norm(key)
        return next((k for k in self.keys if self.norm(k) == wanted), None)

    def row_label(self, key: str) -> str:
        """Row label of a registry key: the published label (the key where the paper prints a dash)."""
        label = self.label.format(**self.table.row_dict(self.keys.index(key)))
        return key if label.strip() in ("", "−", "-") else label

    def flag_values(self, key: str) -> tuple[str, ...]:
        row = self.table.row_dict(self.keys.index(key))
        return tuple(row[c] or "✗" for c in self.flags)

    def published(self, key: str, base: str, metric: str = "top1") -> str | None:
        """The printed published cell of a registry key for one of our bases, or None."""
        column = (self.top1 if metric == "top1" else self.top5).get(base)
        if column is None:
            return None
        text = self.table.cell(self.keys.index(key), column)
        return text if pub.cell_value(text) is not None else None


_T16 = {"byol": "BYOL top-1", "simclr": "SimCLR (repro) top-1"}
_T16_TOP5 = {"byol": "BYOL top-5", "simclr": "SimCLR (repro) top-5"}

#: The known ablations: name -> spec (published table, canonical keys in the paper's row order).
ABLATION_SPECS: dict[str, AblationSpec] = {
    "tau": AblationSpec("tau", "Table 5a", ("1", "0.999", "0.99", "0.9", "0"), "float", "Target network, τ_base",
                        "{Target}, τ_base {τ_base}", {"byol": "Top-1"}, published_baseline="0.99",
                        other_label="Moving average of online, τ_base {key}"),
    "objective": AblationSpec(
        "objective", "Table 5b", ("byol", "pred_target_beta1", "target_beta1", "simclr", "pred_beta1", "pred_beta0",
                                  "target_beta0", "none_beta0"), "str", "Objective", "{Method}", {"byol": "Top-1"},
        flags=("Predictor", "Target network", "β"), baseline="byol", published_baseline="byol"),
    # Table 5b's rows again, pretrained longer: where the no-predictor, no-target variant collapses all the way
    "collapse": AblationSpec(
        "collapse", "Table 5b", ("byol", "pred_target_beta1", "target_beta1", "simclr", "pred_beta1", "pred_beta0",
                                 "target_beta0", "none_beta0"), "str", "Objective", "{Method}", {"byol": "Top-1"},
        flags=("Predictor", "Target network", "β"), baseline="byol", published_baseline="byol"),
    "batch_size": AblationSpec("batch_size", "Table 16", ("4096", "2048", "1024", "512", "256", "128", "64"), "int",
                               "Batch size", "{Batch}", _T16, _T16_TOP5, baseline="largest",
                               published_baseline="4096"),
    "augmentation": AblationSpec(
        "augmentation", "Table 17", ("baseline", "remove_flip", "remove_blur", "remove_color", "remove_color_jitter",
                                     "remove_grayscale", "remove_blur_t2", "remove_solarize_t2",
                                     "remove_blur_solarize_t2", "symmetric", "crop_only", "crop_flip_only",
                                     "crop_color_only", "crop_blur_only"), "str", "Augmentation set",
        "{Augmentation set}", _T16, _T16_TOP5, baseline="baseline", published_baseline="baseline"),
}


def split_method(method: str) -> tuple[str, str, str] | None:
    """``"byol/tau/0.99"`` -> ``("byol", "tau", "0.99")``; None when it is not of that form."""
    parts = str(method).split("/", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 and all(parts) else None


# ----------------------------------------------------------------------------------------------- collapse std


def _parts(path: str | Path) -> tuple[str, ...]:
    return Path(os.path.normpath(str(path))).parts


def _same_folder(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Equal folders, or (one relative) the shorter is the tail of the longer (at least two levels)."""
    if len(a) < 2 or len(b) < 2:
        return False
    if Path(*a).is_absolute() and Path(*b).is_absolute():
        return a == b
    short, long = sorted((a, b), key=len)
    return long[len(long) - len(short):] == short


class CollapseLookup:
    """Final ``collapse_std`` of the pretraining run of an encoder: its ``metrics.csv`` among the given files
    (same folder as the encoder), else the file beside the encoder path."""

    def __init__(self, metrics_csvs: list[str | Path] = ()):
        self.csvs = [Path(p) for p in metrics_csvs]
        self._cache: dict[str, float | None] = {}

    def csv_for(self, encoder: str) -> Path | None:
        folder = _parts(Path(str(encoder)).parent)
        if len(folder) < 2:
            return None
        for csv in self.csvs:
            if _same_folder(_parts(csv.parent), folder):
                return csv
        beside = Path(str(encoder)).parent / "metrics.csv"
        return beside if beside.is_file() else None

    def final(self, encoder: str) -> float | None:
        """The last logged (non-missing) ``collapse_std``, by step; None when there is none."""
        if encoder not in self._cache:
            self._cache[encoder] = None
            csv = self.csv_for(encoder)
            try:
                data = pd.read_csv(csv) if csv is not None else pd.DataFrame()
            except (pd.errors.EmptyDataError, FileNotFoundError):
                data = pd.DataFrame()
            if "collapse_std" in data:
                if "step" in data:
                    data = data.sort_values("step", kind="stable")
                values = pd.to_numeric(data["collapse_std"], errors="coerce").dropna()
                self._cache[encoder] = float(values.iloc[-1]) if len(values) else None
        return self._cache[encoder]


# ----------------------------------------------------------------------------------------------- data


@dataclass
class AblationData:
    """The per-seed numbers of one ablation.

    ``values``: base, row, dataset, quantity (linear_top1 | linear_top5 | knn_top1), seed, value;
    ``collapse``: base, row, seed, value; ``rows``: row keys (registry keys where known) in table order;
    ``variants``: (base, dataset, protocol) -> the record variant used (``cached``, ``k=20``);
    ``baselines``: base -> the row Δ is taken against (None: none identified)."""

    name: str
    spec: AblationSpec | None
    rows: list[str]
    bases: list[str]
    values: pd.DataFrame
    collapse: pd.DataFrame
    variants: dict[tuple[str, str, str], str]
    baselines: dict[str, str | None]

    def row_label(self, row: str) -> str:
        if self.known(row):
            return self.spec.row_label(row)
        if self.spec is not None and self.spec.other_label and not isinstance(self.spec.norm(row), str):
            return self.spec.other_label.format(key=row)  # a value of the ablated quantity the paper lacks
        return row

    def plot_label(self, row: str) -> str:
        """Row label for a plot axis; with the flag columns (predictor ✓, ...) spelled out."""
        if not self.known(row) or not self.spec.flags:
            return self.row_label(row)
        flags = ", ".join(f"{c.lower().removesuffix(' network')} {v}"
                          for c, v in zip(self.spec.flags, self.spec.flag_values(row)))
        return f"{self.row_label(row)} ({flags})"

    def known(self, row: str) -> bool:
        return self.spec is not None and row in self.spec.keys

    def datasets(self, base: str) -> list[str]:
        return dataset_order(self.values.loc[self.values["base"] == base, "dataset"])

    def primary(self, base: str, dataset: str) -> str | None:
        """The quantity Δ and the plots use: linear top-1, else kNN top-1."""
        have = set(self.values.loc[(self.values["base"] == base) & (self.values["dataset"] == dataset), "quantity"])
        return next((q for q in ("linear_top1", "knn_top1") if q in have), None)

    def per_seed(self, base: str, dataset: str, quantity: str) -> pd.DataFrame:
        v = self.values
        return v[(v["base"] == base) & (v["dataset"] == dataset) & (v["quantity"] == quantity)]

    def mean(self, base: str, row: str, dataset: str, quantity: str) -> float | None:
        part = self.per_seed(base, dataset, quantity)
        part = part[part["row"] == row]
        return float(part["value"].mean()) if len(part) else None


def _base_order(bases) -> list[str]:
    """BYOL first, then the others alphabetically."""
    return sorted(dict.fromkeys(bases), key=lambda b: (not str(b).lower().startswith("byol"), str(b).lower()))


def _pick_variant(variants, protocol: str) -> str:
    """The record variant of a protocol used for the table: linear ``cached`` (else the first), kNN ``k=20``
    (else the smallest k)."""
    variants = sorted(set(variants), key=lambda v: (k_of(v), v))
    preferred = {"linear": "cached", "knn": "k=20"}.get(protocol)
    return preferred if preferred in variants else variants[0]


def _own_run_rows(part: pd.DataFrame, main_folders: list[tuple[str, ...]]) -> list[str]:
    """Rows pretrained by the base method's own run: every encoder is a main record's, or sits in a run folder
    without the ablation levels."""
    rows = []
    for row, group in part.groupby("row", sort=False):
        encoders = [str(e) for e in group["encoder"] if str(e)]
        if encoders and all(any(_same_folder(_parts(Path(e).parent), f) for f in main_folders)
                            or ("pretrain" in _parts(e) and not is_ablation_run(e)) for e in encoders):
            rows.append(row)
    return rows


def ablation_data(frame: pd.DataFrame, metrics_csvs: list[str | Path] = ()) -> list[AblationData]:
    """The ablations found in the records (final checkpoints only): the known ones in :data:`ABLATION_SPECS`
    order, then the others in the order found."""
    df = prepare(frame, ablations=True)
    if df.empty:
        return []
    if "encoder" not in df:
        df["encoder"] = ""
    df["encoder"] = df["encoder"].fillna("").astype(str)
    main = df[~df["method"].map(is_ablation_method)]
    df = final_records(df[df["method"].map(is_ablation_method)])
    split = df["method"].map(split_method)
    for method in sorted(set(df.loc[split.isna(), "method"])):
        log.warning("result method %r is not <base>/<ablation>/<variant>: left out of the ablations", method)
    df = df[split.notna()]
    if df.empty:
        return []
    split = split[split.notna()]
    df = df.assign(base=[s[0] for s in split], ablation=[s[1] for s in split], key=[s[2] for s in split])
    lookup = CollapseLookup(metrics_csvs)
    out = []
    names = list(dict.fromkeys(df["ablation"]))
    for name in [n for n in ABLATION_SPECS if n in names] + [n for n in names if n not in ABLATION_SPECS]:
        part = df[df["ablation"] == name]
        spec = ABLATION_SPECS.get(name)
        canonical = {k: (spec.canonical(k) if spec else None) or k for k in dict.fromkeys(part["key"])}
        part = part.assign(row=part["key"].map(canonical))
        found = list(dict.fromkeys(part["row"]))
        rows = ([k for k in spec.keys if k in found] if spec else []) + [
            r for r in found if spec is None or r not in spec.keys]
        values, variants = [], {}
        for (base, dataset), group in part.groupby(["base", "dataset"], sort=False):
            for quantity, protocol, metric in QUANTITIES:
                sel = group[(group["protocol"] == protocol) & (group["metric"] == metric)]
                if sel.empty:
                    continue
                variant = variants.setdefault((base, dataset, protocol), _pick_variant(
                    group.loc[group["protocol"] == protocol, "variant"], protocol))
                sel = sel[sel["variant"] == variant]
                seeds = sel.groupby(["row", "seed"], sort=False)["value"].mean().reset_index()
                values.append(seeds.assign(base=base, dataset=dataset, quantity=quantity))
        values = pd.concat(values, ignore_index=True) if values else pd.DataFrame(
            columns=["row", "seed", "value", "base", "dataset", "quantity"])
        collapse = []
        for (base, row, seed), group in part.groupby(["base", "row", "seed"], sort=False):
            finals = [v for v in (lookup.final(e) for e in dict.fromkeys(group["encoder"]) if e) if v is not None]
            if finals:
                collapse.append({"base": base, "row": row, "seed": seed, "value": sum(finals) / len(finals)})
        collapse = pd.DataFrame(collapse, columns=["base", "row", "seed", "value"])
        bases = _base_order(part["base"])
        data = AblationData(name, spec, rows, bases, values, collapse, variants, {})
        for base in bases:
            own = [_parts(Path(e).parent) for e in dict.fromkeys(main.loc[main["method"] == base, "encoder"]) if e]
            data.baselines[base] = _baseline(data, base, part[part["base"] == base], own)
        out.append(data)
    return out


def _baseline(data: AblationData, base: str, records: pd.DataFrame, main_folders: list[tuple[str, ...]]) -> str | None:
    """The row Δ is taken against for ``base``: the spec's (a key, or the largest key for ``"largest"``) when
    that row has our results, else the one row pretrained by the base's own run, else None."""
    have = set(data.values.loc[(data.values["base"] == base)
                               & data.values["quantity"].isin(["linear_top1", "knn_top1"]), "row"])
    spec = data.spec
    if spec is not None and spec.baseline == "largest":
        numeric = [r for r in have if isinstance(spec.norm(r), (int, float))]
        if numeric:
            return max(numeric, key=spec.norm)
    elif spec is not None and spec.baseline in have:
        return spec.baseline
    own = [r for r in _own_run_rows(records, main_folders) if r in have]
    return own[0] if len(own) == 1 else None


# ----------------------------------------------------------------------------------------------- tables


def _stats(values: pd.Series) -> tuple[float, float, int]:
    return float(values.mean()), float(values.std()) if len(values) > 1 else math.nan, int(len(values))


def _quantity_label(quantity: str, variant: str) -> str:
    return {"linear_top1": "linear top-1", "linear_top5": "linear top-5"}.get(quantity, f"kNN top-1 {variant}")


def _published_cell(text: str) -> Cell:
    value = pub.cell_value(text)
    return Cell(value, note=text.replace("±", " ± ") if "±" in text else "")


def ablation_table(data: AblationData, decimals: int = 1) -> ReportTable:
    """One ablation as a paper-form table: rows = variants, columns per base method (see the module doc)."""
    spec = data.spec
    name = f"ablation_{data.name}"
    row_columns = (spec.header if spec else "Variant", *(spec.flags if spec else ()))
    columns: list[Column] = []
    cells: dict[str, dict[str, Cell]] = {row: {} for row in data.rows}
    for base in data.bases:
        b = method_label(base)
        for dataset in data.datasets(base):
            d = dataset_label(dataset)
            for quantity, protocol, metric in QUANTITIES:
                part = data.per_seed(base, dataset, quantity)
                if part.empty:
                    continue
                variant = data.variants[(base, dataset, protocol)]
                col = Column(f"{b} {_quantity_label(quantity, variant)} ({d})", protocol, dataset, variant, metric)
                columns.append(col)
                for row, group in part.groupby("row", sort=False):
                    cells[row][col.label] = Cell(*_stats(group["value"]))
            primary, baseline = data.primary(base, dataset), data.baselines.get(base)
            reference = data.mean(base, baseline, dataset, primary) if baseline and primary else None
            if reference is not None:
                protocol = primary.split("_")[0]
                col = Column(f"{b} Δ {_quantity_label(primary, data.variants[(base, dataset, protocol)])} vs "
                             f"baseline ({d})", protocol, dataset, data.variants[(base, dataset, protocol)],
                             "top1_delta")
                columns.append(col)
                for row in data.rows:
                    mean = data.mean(base, row, dataset, primary)
                    if mean is not None:
                        delta = mean - reference
                        text = f"{0.0:.{decimals}f} (baseline)" if row == baseline else f"{delta:+.{decimals}f}"
                        cells[row][col.label] = Cell(delta, note=text)
        collapse = data.collapse[data.collapse["base"] == base]
        if not collapse.empty:
            col = Column(f"{b} final collapse std", "pretrain", "", "", "collapse_std")
            columns.append(col)
            for row, group in collapse.groupby("row", sort=False):
                cells[row][col.label] = Cell(*_stats(group["value"]), decimals=COLLAPSE_DECIMALS)
        if spec is None:
            continue
        has_top5 = not data.values[(data.values["base"] == base) & (data.values["quantity"] == "linear_top5")].empty
        for metric in ("top1", "top5"):
            if base not in (spec.top1 if metric == "top1" else spec.top5) or (metric == "top5" and not has_top5):
                continue
            col = Column(f"{b} {'top-1' if metric == 'top1' else 'top-5'} {PUBLISHED_TAG}", "linear", "imagenet",
                         spec.source, metric)
            columns.append(col)
            for row in data.rows:
                text = spec.published(row, base, metric) if data.known(row) else None
                if text is not None:
                    cells[row][col.label] = _published_cell(text)
    rows = []
    for row in data.rows:
        flags = spec.flag_values(row) if data.known(row) else ("",) * len(spec.flags if spec else ())
        rows.append(Row((data.row_label(row), *flags), "ours", cells[row],
                        group="paper" if data.known(row) else "other"))
    return ReportTable(name, table_title(name), table_caption(name), row_columns, columns, rows, decimals)


def ablation_tables(frame: pd.DataFrame, metrics_csvs: list[str | Path] = (), decimals: int = 1) -> list[ReportTable]:
    """One table ``ablation_<name>`` per ablation found in the records (order of :func:`ablation_data`)."""
    return [ablation_table(d, decimals) for d in ablation_data(frame, metrics_csvs)]


# ----------------------------------------------------------------------------------------------- plots


def _published_series(spec: AblationSpec, base: str) -> str:
    """Legend name of the paper's column for a base: ``BYOL published (ImageNet)``."""
    column = spec.top1[base]
    name = column.removesuffix(" top-1") if column != "Top-1" else method_label(base)
    return f"{name} {PLOT_PUBLISHED_TAG}"


def _colours(bases: list[str]) -> dict[str, tuple]:
    return dict(zip(bases, sns.color_palette("deep", max(len(bases), 1))))


def _drops(data: AblationData, with_baseline: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ours (per seed) and published drops of top-1 from the baseline (baseline minus variant, points). The
    paper's drops are taken from our baseline row where the paper has it, else from the paper's baseline; the
    baseline rows themselves (drop 0) only ``with_baseline``."""
    ours, published = [], []
    for base in data.bases:
        baseline = data.baselines.get(base)
        for dataset in data.datasets(base):
            primary = data.primary(base, dataset)
            reference = data.mean(base, baseline, dataset, primary) if baseline and primary else None
            if reference is None:
                continue
            part = data.per_seed(base, dataset, primary)
            part = part if with_baseline else part[part["row"] != baseline]
            where = f", {dataset_label(dataset)}" + ("" if primary == "linear_top1" else ", kNN")
            for rec in part.to_dict("records"):
                ours.append({"base": base, "row": rec["row"], "series": f"{method_label(base)} (ours{where})",
                             "drop": reference - rec["value"], "published": False})
        spec = data.spec
        if spec is None or base not in spec.top1:
            continue
        ref_row = baseline if baseline and data.known(baseline) and spec.published(baseline, base) else \
            spec.published_baseline
        reference = pub.cell_value(spec.published(ref_row, base))
        for row in data.rows:
            value = pub.cell_value(spec.published(row, base)) if data.known(row) else None
            if value is not None and reference is not None and (with_baseline or row != ref_row):
                published.append({"base": base, "row": row, "series": _published_series(spec, base),
                                  "drop": reference - value, "published": True})
    columns = ["base", "row", "series", "drop", "published"]
    return pd.DataFrame(ours, columns=columns), pd.DataFrame(published, columns=columns)


def _hatch(ax, names: list[str], published: set[str]) -> None:
    for container, series in zip(ax.containers, names):
        if series in published:
            for patch in container:
                patch.set_hatch("//")
                patch.set_edgecolor("0.3")


def _series_palette(frames: list[pd.DataFrame], colours: dict[str, tuple]) -> dict[str, tuple]:
    """Ours in the base's colour, published in a lighter shade of it."""
    palette = {}
    for frame in frames:
        for base, series, is_pub in frame[["base", "series", "published"]].drop_duplicates().itertuples(index=False):
            palette[series] = sns.light_palette(colours[base], 4)[2] if is_pub else colours[base]
    return palette


def _plot_batch(data: AblationData, ours: pd.DataFrame, published: pd.DataFrame):
    """Figure 3a: drop against batch size (log axis, largest left); ours solid, published dashed."""
    spec = data.spec
    colours = _colours(data.bases)
    fig, axes = new_figure(7.5, 4.2)
    ax = axes[0, 0]
    frames = [f.assign(batch=[spec.norm(r) for r in f["row"]]) for f in (ours, published)]
    frames = [f[[isinstance(b, (int, float)) for b in f["batch"]]] for f in frames]
    ours, published = frames
    if not ours.empty:
        sns.lineplot(data=ours.assign(batch=ours["batch"].astype(float)), x="batch", y="drop", hue="series",
                     palette=_series_palette([ours], colours), marker="o", errorbar="sd", err_style="bars", ax=ax)
    for series, group in published.groupby("series", sort=False):
        group = group.sort_values("batch")
        ax.plot(group["batch"].astype(float), group["drop"], linestyle="--", marker="x",
                color=_series_palette([group], colours)[series], label=series)
    batches = sorted({float(b) for f in frames for b in f["batch"]} | {
        float(spec.norm(data.baselines[b])) for b in data.bases
        if data.baselines.get(b) and isinstance(spec.norm(data.baselines[b]), (int, float))})
    ax.set_xscale("log", base=2)
    if batches:
        ax.set_xticks(batches)
        ax.set_xticklabels([f"{b:g}" for b in batches])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("batch size")
    ax.set_ylabel("drop of top-1 from the baseline (points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    return fig


def _plot_augmentation(data: AblationData, ours: pd.DataFrame, published: pd.DataFrame):
    """Figure 3b: drop per augmentation set as horizontal bars; ours solid, published hatched."""
    both = pd.concat([ours, published], ignore_index=True)
    order = [data.plot_label(r) for r in data.rows if r in set(both["row"])]
    names = list(dict.fromkeys([*ours["series"], *published["series"]]))
    fig, axes = new_figure(9.0, 0.5 * len(order) * max(1.0, len(names) / 2) + 1.8)
    ax = axes[0, 0]
    sns.barplot(data=both.assign(label=both["row"].map(data.plot_label)), y="label", x="drop", hue="series",
                order=order, hue_order=names, palette=_series_palette([ours, published], _colours(data.bases)),
                orient="h", errorbar="sd", capsize=0.15, err_kws={"linewidth": 1.0}, ax=ax)
    _hatch(ax, names, set(published["series"]))
    ax.axvline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("drop of top-1 from the baseline (points)")
    ax.set_ylabel("")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(title=None, fontsize="small", frameon=False, loc="lower right")
    return fig


def _plot_bars(data: AblationData):
    """Three panels sharing the variant axis: our top-1, the paper's top-1, the final collapse std."""
    labels = [data.plot_label(r) for r in data.rows]
    colours = _colours(data.bases)
    ours = []
    for base in data.bases:
        datasets = data.datasets(base)
        for dataset in datasets:
            primary = data.primary(base, dataset)
            if primary is None:
                continue
            part = data.per_seed(base, dataset, primary)
            where = f"{dataset_label(dataset)}" + ("" if primary == "linear_top1" else ", kNN")
            ours += [{"base": base, "row": r, "series": f"{method_label(base)} (ours, {where})", "value": v,
                      "published": False} for r, v in zip(part["row"], part["value"])]
    published = []
    spec = data.spec
    for base in data.bases:
        if spec is None or base not in spec.top1:
            continue
        for row in data.rows:
            value = pub.cell_value(spec.published(row, base)) if data.known(row) else None
            if value is not None:
                published.append({"base": base, "row": row, "series": _published_series(spec, base),
                                  "value": value, "published": True})
    collapse = [{"base": b, "row": r, "series": method_label(b), "value": v, "published": False}
                for b, r, v in zip(data.collapse["base"], data.collapse["row"], data.collapse["value"])]
    panels = (("ours: top-1 accuracy (%)", ours), (f"paper: top-1 (%), {PLOT_PUBLISHED_TAG}", published),
              ("final collapse std (0 = collapsed)", collapse))
    fig, axes = new_figure(14.0, 0.42 * len(labels) * max(1, len(data.bases)) ** 0.5 + 2.4, 1, 3)
    for i, (ax, (title, rows)) in enumerate(zip(axes[0], panels)):
        frame = pd.DataFrame(rows, columns=["base", "row", "series", "value", "published"])
        if frame.empty:
            ax.text(0.5, 0.5, "no published value" if i == 1 else "not logged", ha="center", va="center",
                    transform=ax.transAxes, color="0.5")
            ax.set_yticks(range(len(labels)))
            ax.set_ylim(len(labels) - 0.5, -0.5)
        else:
            names = list(dict.fromkeys(frame["series"]))
            sns.barplot(data=frame.assign(label=frame["row"].map(data.plot_label)), y="label", x="value",
                        hue="series", order=labels, hue_order=names, palette=_series_palette([frame], colours),
                        orient="h", errorbar="sd", capsize=0.15, err_kws={"linewidth": 1.0}, ax=ax)
            _hatch(ax, names, set(frame.loc[frame["published"], "series"]))
            ax.legend(title=None, fontsize="small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.06))
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.grid(axis="x", alpha=0.3)
        if i == 0:
            ax.set_yticks(range(len(labels)))
            ax.set_yticklabels(labels)
        else:
            ax.tick_params(labelleft=False)
    return fig


def plot_ablation(data: AblationData, out_dir: str | Path) -> list[Path]:
    """``ablation_<name>.{png,pdf}``: batch size and augmentations as drops from the baseline (paper Figure 3),
    others (and those without a baseline) as bars of top-1 and collapse std per variant."""
    if data.values.empty and data.collapse.empty:
        return []
    fig = None
    if data.name in ("batch_size", "augmentation") and data.spec is not None:
        ours, published = _drops(data, with_baseline=data.name == "batch_size")
        if not ours.empty:
            fig = (_plot_batch if data.name == "batch_size" else _plot_augmentation)(data, ours, published)
    if fig is None:
        fig = _plot_bars(data)
    return save_figure(fig, out_dir, f"ablation_{data.name}")


def ablation_plots(frame: pd.DataFrame, metrics_csvs: list[str | Path], out_dir: str | Path) -> dict[str, list[Path]]:
    """Every ablation plot with data: name -> paths."""
    out = {f"ablation_{d.name}": plot_ablation(d, out_dir) for d in ablation_data(frame, metrics_csvs)}
    return {name: paths for name, paths in out.items() if paths}


__all__ = ["ABLATION_SPECS", "AblationData", "AblationSpec", "CollapseLookup", "ablation_data", "ablation_plots",
           "ablation_table", "ablation_tables", "is_ablation_method", "is_ablation_run", "plot_ablation",
           "split_method"]
