"""The report stage: result files (+ pretraining metrics CSVs) -> tables, plots and ``report.md``.

Layout under ``out_dir``::

    tables/{table1,table2,table3,knn,comparisons}.{md,tex,csv}   only the tables with data; single-seed cells
                                                                 with their bootstrap interval, the comparisons
                                                                 with the paired one (report/bootstrap.py)
    plots/{transfer,semisup,pretrain_curves,knn_vs_epoch}.{png,pdf}   only the plots with data
    tables/ablation_<name>.{md,tex,csv}, plots/ablation_<name>.{png,pdf}   one per ablation in the records
    metrics.json                                                 headline results (``dvc metrics show``)
    curves/<quantity>/<run>.csv                                  pretraining curves (``dvc plots show``)
    report.md                                                    every table, every plot with its caption,
                                                                 the ablations, the paper's reference
                                                                 numbers, the inputs

Files of a table or plot that has no data this time are removed, so the folder always matches the inputs.
Ablation records (``method`` ``<base>/<ablation>/<variant>``, :mod:`byol_pkg.report.ablations`) appear only in
the ablation tables and plots; ablation runs only in the curves, not in the pretraining-curves plot.
Titles and captions come from :mod:`byol_pkg.report.captions`, which ``snakemake --report`` shows too.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..eval.results import results_frame
from ..io import atomic_write_text
from . import published as pub
from .ablations import ablation_data, ablation_table, plot_ablation
from .captions import PLOT_CAPTIONS, TABLE_NAMES, plot_caption, plot_title
from .dvc_outputs import export_curves, write_metrics_json
from .bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED
from .intervals import Bootstrapper, result_sources
from .plots import all_plots
from .records import prepare
from .table_model import ReportTable
from .tables import paper_tables
from .writers import to_markdown, write_table

log = logging.getLogger(__name__)

def _published_markdown() -> str:
    """The paper's reference numbers (spec §7) as Markdown, for the end of the report."""
    def fmt(v) -> str:
        return "−" if v is None else f"{v:.1f}"

    lines = ["## Published reference numbers (paper, not ours)", "",
             "Transcribed from the BYOL paper (arXiv v3); `−` = printed as a dash.", "",
             "### Table 1 — ImageNet linear evaluation", "", "| Method | Encoder | Top-1 | Top-5 |",
             "|:---|:---|---:|---:|"]
    lines += [f"| {r.method} | {r.arch} | {fmt(r.cells['top1'])} | {fmt(r.cells['top5'])} |"
              for r in pub.TABLE1_LINEAR]
    lines += ["", "### Table 2 — semi-supervised (ImageNet labels)", "",
              "| Method | Encoder | Top-1 1% | Top-1 10% | Top-5 1% | Top-5 10% |", "|:---|:---|---:|---:|---:|---:|"]
    keys = ((1.0, "top1"), (10.0, "top1"), (1.0, "top5"), (10.0, "top5"))
    lines += [f"| {r.method} | {r.arch} | " + " | ".join(fmt(r.cells[k]) for k in keys) + " |"
              for r in pub.TABLE2_SEMISUP]
    from ..data.transfer import TRANSFER_DATASETS

    heads = [TRANSFER_DATASETS[d].display for d in pub.TABLE3_DATASETS]
    lines += ["", "### Table 3 — transfer (ResNet-50)", "", "| Protocol | Method | " + " | ".join(heads) + " |",
              "|:---|:---|" + "---:|" * len(heads)]
    for protocol, rows in (("Linear evaluation", pub.TABLE3_LINEAR), ("Fine-tuned", pub.TABLE3_FINETUNED)):
        lines += [f"| {protocol} | {r.method} | " + " | ".join(fmt(r.cells[d]) for d in pub.TABLE3_DATASETS) + " |"
                  for r in rows]
    for table in pub.ABLATIONS:
        lines += ["", f"### {table.source} — {table.caption}", "", "| " + " | ".join(table.columns) + " |",
                  "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(table.columns))) + "|"]
        lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _inputs_markdown(frame: pd.DataFrame, result_files: list[Path], metrics_csvs: list[Path]) -> str:
    lines = ["## Inputs", ""]
    if frame.empty:
        lines.append("No result records.")
    else:
        df = prepare(frame, ablations=True)
        lines.append(f"{len(df)} records from {len(result_files)} result files; methods: "
                     f"{', '.join(sorted(set(df['label'])))}; seeds: {', '.join(map(str, sorted(set(df['seed']))))}; "
                     f"protocols: {', '.join(sorted(set(df['protocol'])))}.")
    kept = [p for p in result_sources(frame) if p.is_file()]
    if not frame.empty:
        lines += ["", f"Test predictions (the bootstrap intervals' input): {len(kept)} of "
                      f"{len(result_sources(frame))} result files keep theirs (`<result>.predictions.npz`)."]
    lines += ["", *(f"- results: `{p}`" for p in result_files),
              *(f"- pretraining metrics: `{p}`" for p in metrics_csvs)]
    return "\n".join(lines) + "\n"


def _plot_markdown(name: str, paths: list[Path], out_dir: Path, level: str = "###") -> list[str]:
    png = next(p for p in paths if p.suffix == ".png")
    rel = png.relative_to(out_dir).as_posix()
    return [f"{level} {plot_title(name)}", "", f"![{plot_title(name)}]({rel})", "",
            f"*{plot_caption(name)}* (PDF: `{rel[:-4]}.pdf`)", ""]


def _ablations_markdown(tables: list[ReportTable], plots: dict[str, list[Path]], out_dir: Path) -> list[str]:
    """The "Ablations" section: per ablation its table, then its plot."""
    parts = ["## Ablations", "",
             "Ablation results (methods `<base>/<ablation>/<variant>`): one table and one plot per ablation; "
             "published columns are the paper's (ImageNet, ResNet-50, 300 epochs).", ""]
    for table in tables:
        parts += [f"### {table.title}", "", table.caption, "", to_markdown(table),
                  f"Files: `tables/{table.name}.md`, `.tex`, `.csv`.", ""]
        if table.name in plots:
            parts += _plot_markdown(table.name, plots[table.name], out_dir, "####")
    return parts


def _report_markdown(tables: list[ReportTable], plots: dict[str, list[Path]], out_dir: Path, frame: pd.DataFrame,
                     result_files: list[Path], metrics_csvs: list[Path],
                     ablations: list[ReportTable] = (), ablation_figures: dict[str, list[Path]] | None = None) -> str:
    parts = ["# BYOL reproduction report", "",
             "Ours: mean ± std over seeds (sample std), n = number of seeds; a single-seed number has its "
             "bootstrap interval over the test images in brackets (the captions say how). Rows marked *published* "
             "are the paper's numbers, shown only in columns the paper has.", ""]
    parts += ["## Tables", ""]
    if not tables:
        parts += ["No table has data.", ""]
    for table in tables:
        parts += [f"### {table.title}", "", table.caption, "", to_markdown(table),
                  f"Files: `tables/{table.name}.md`, `.tex`, `.csv`.", ""]
    parts += ["## Plots", ""]
    if not plots:
        parts += ["No plot has data.", ""]
    for name, paths in plots.items():
        parts += _plot_markdown(name, paths, out_dir)
    if ablations:
        parts += _ablations_markdown(list(ablations), ablation_figures or {}, out_dir)
    parts += [_published_markdown(), _inputs_markdown(frame, result_files, metrics_csvs)]
    return "\n".join(parts)


def build_report(result_files: list[str | Path], metrics_csvs: list[str | Path], out_dir: str | Path,
                 decimals: int = 1, resamples: int = DEFAULT_RESAMPLES, bootstrap_seed: int = DEFAULT_SEED) -> dict:
    """Write every table and plot with data and ``report.md`` under ``out_dir``.

    The tables' bootstrap intervals use ``resamples`` resamples of the test examples (0: none) drawn with
    ``bootstrap_seed`` (:mod:`.bootstrap`), from the predictions beside each result file; a result without them
    gets no interval (its caption says so).

    Returns ``{"tables": {name: [paths]}, "plots": {name: [paths]}, "report": path, "records": count,
    "metrics": metrics.json path, "curves": [curve CSV paths], "ablations": [ablation table names]}``; ``tables``
    and ``plots`` include the ablation ones (``ablation_<name>``).
    """
    out_dir = Path(out_dir)
    result_files = [Path(p) for p in result_files]
    metrics_csvs = [Path(p) for p in metrics_csvs]
    for path in metrics_csvs:
        if not path.is_file():
            log.warning("pretraining metrics %s not found: left out of the curves", path)
    metrics_csvs = [p for p in metrics_csvs if p.is_file()]
    frame = results_frame(result_files) if result_files else pd.DataFrame()

    tables = [t for t in paper_tables(frame, decimals, Bootstrapper(resamples, bootstrap_seed)) if not t.empty]
    found = ablation_data(frame, metrics_csvs)
    ablations = [t for t in (ablation_table(d, decimals) for d in found) if not t.empty]
    written = {t.name: write_table(t, out_dir / "tables") for t in [*tables, *ablations]}
    plots = all_plots(frame, metrics_csvs, out_dir / "plots")
    extra_plots = {f"ablation_{d.name}": plot_ablation(d, out_dir / "plots") for d in found}
    extra_plots = {name: paths for name, paths in extra_plots.items() if paths}
    _remove_stale(out_dir, set(written), {*plots, *extra_plots})
    metrics = write_metrics_json(frame, out_dir / "metrics.json")
    curves = export_curves(metrics_csvs, out_dir / "curves")
    report = atomic_write_text(out_dir / "report.md",
                               _report_markdown(tables, plots, out_dir, frame, result_files, metrics_csvs,
                                                ablations, extra_plots))
    return {"tables": written, "plots": {**plots, **extra_plots}, "report": report, "records": int(len(frame)),
            "metrics": metrics, "curves": curves, "ablations": [t.name for t in ablations]}


def _remove_stale(out_dir: Path, tables: set[str], plots: set[str]) -> None:
    """Remove outputs of tables / plots that have no data this time (left from an earlier build), ablation ones
    (``ablation_*``) included."""
    for folder, fixed, exts, keep in (("tables", TABLE_NAMES, ("md", "tex", "csv"), tables),
                                      ("plots", PLOT_CAPTIONS, ("png", "pdf"), plots)):
        names = set(fixed) | {p.stem for ext in exts for p in (out_dir / folder).glob(f"ablation_*.{ext}")}
        for name in names - keep:
            for ext in exts:
                (out_dir / folder / f"{name}.{ext}").unlink(missing_ok=True)
