"""The report stage: paper-form tables (exact text), LaTeX structure, plots, ``report.md`` and ``byol report``.

Fixture: BYOL and SimCLR, seeds 0 and 1, linear / semi-supervised / transfer / fine-tune / kNN records (SimCLR's
semi-supervised run has one seed). Expected cells are computed by hand: mean ± sample std (ddof = 1), e.g.
70 and 72 -> 71.0 ± 1.4 (std = sqrt(2) = 1.414).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from byol_pkg.eval.results import ResultRecord, results_frame, write_results
from byol_pkg.report import published as pub
from byol_pkg.report import records as R
from byol_pkg.report import table_model as M
from byol_pkg.report import tables as T
from byol_pkg.report import writers as W
from byol_pkg.report.build import PLOT_CAPTIONS, TABLE_NAMES, build_report
from byol_pkg.report.plots import plot_knn_curve, plot_pretrain_curves, plot_semisup, plot_transfer, run_labels

REPO = Path(__file__).resolve().parents[1]

# (protocol, dataset, variant, metric) -> {method: [seed 0 value, seed 1 value]}
VALUES = {
    ("linear", "imagefolder", "augmented", "top1"): {"byol": [70.0, 72.0], "simclr": [65.0, 66.0]},
    ("linear", "imagefolder", "augmented", "top5"): {"byol": [90.0, 91.0], "simclr": [85.0, 85.0]},
    ("semisup", "imagefolder", "1%", "top1"): {"byol": [50.0, 52.0], "simclr": [45.0]},
    ("semisup", "imagefolder", "10%", "top1"): {"byol": [60.0, 61.0], "simclr": [55.0]},
    ("semisup", "imagefolder", "1%", "top5"): {"byol": [75.0, 75.0], "simclr": [70.0]},
    ("semisup", "imagefolder", "10%", "top5"): {"byol": [85.0, 87.0], "simclr": [80.0]},
    ("transfer_linear", "digits", "", "top1"): {"byol": [95.0, 95.0], "simclr": [94.0, 96.0]},
    ("transfer_linear", "cifar10", "", "top1"): {"byol": [90.0, 92.0], "simclr": [88.0, 89.0]},
    ("transfer_linear", "fgvc_aircraft", "", "mean_per_class"): {"byol": [60.0, 61.0], "simclr": [50.0, 52.0]},
    ("transfer_linear", "fgvc_aircraft", "", "top1"): {"byol": [99.0, 99.0]},  # not Table 3's metric: ignored
    ("finetune", "cifar10", "", "top1"): {"byol": [97.0, 98.0], "simclr": [96.0, 96.0]},
    ("knn", "fashion_mnist", "k=200", "top1"): {"byol": [78.0, 78.0], "simclr": [74.0, 74.0]},
    ("knn", "fashion_mnist", "k=20", "top1"): {"byol": [80.0, 82.0], "simclr": [75.0, 77.0]},
}


def _record(protocol, dataset, variant, metric, method, seed, value, **hp) -> ResultRecord:
    return ResultRecord(protocol=protocol, metric=metric, value=value, dataset=dataset, variant=variant,
                        encoder=f"results/pretrain/{method}/seed{seed}/encoder.pt", encoder_sha256="0" * 64,
                        method=method, backbone="resnet18", seed=seed, hyperparameters=hp)


def _write_fixture(root: Path) -> tuple[list[Path], list[Path]]:
    """One result file per method and seed (+ kNN curve files and an old file without ``variant``), and two
    pretraining metrics CSVs."""
    files: list[Path] = []
    per_run: dict[tuple[str, int], list[ResultRecord]] = {}
    for (protocol, dataset, variant, metric), by_method in VALUES.items():
        for method, values in by_method.items():
            for seed, value in enumerate(values):
                if (protocol, dataset, method, seed) == ("transfer_linear", "digits", "byol", 1):
                    continue  # written below as an old-style record without ``variant``
                hp = {"label_fraction": float(variant.rstrip("%")) / 100} if protocol == "semisup" else {}
                per_run.setdefault((method, seed), []).append(
                    _record(protocol, dataset, variant, metric, method, seed, value, **hp))
    for (method, seed), records in per_run.items():
        files.append(write_results(root / "eval" / method / f"seed{seed}" / "results.json", records))
    curve = [_record("knn", "fashion_mnist", f"k={k}", "top1", m, s, v + ep / 10 + s, k=k, pretrain_epoch=ep)
             for m, v in (("byol", 40.0), ("simclr", 35.0)) for s in (0, 1) for k in (20, 200) for ep in (10, 20, 50)]
    files.append(write_results(root / "eval" / "knn_curve.json", curve))
    old = _record("transfer_linear", "digits", "", "top1", "byol", 1, 95.0).__dict__.copy()
    del old["variant"]
    files.append(root / "eval" / "old.json")
    files[-1].write_text(json.dumps([old]))

    metrics = []
    for run, scale in (("byol_a", 1.0), ("byol_b", 0.5)):
        steps = list(range(10, 110, 10))
        frame = pd.DataFrame({"step": steps, "epoch": [s / 50 for s in steps],
                              "loss": [scale * 4 / (1 + s / 20) for s in steps], "lr": [0.1 * s / 100 for s in steps],
                              "tau": [0.99 + 0.0001 * s for s in steps], "collapse_std": [0.07] * len(steps),
                              "images_per_s": [500.0] * len(steps)})
        path = root / "pretrain" / run / "seed0" / "metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        metrics.append(path)
    return files, metrics


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    return _write_fixture(tmp_path_factory.mktemp("report_inputs"))


@pytest.fixture(scope="module")
def frame(fixture_files):
    return results_frame(fixture_files[0])


@pytest.fixture(scope="module")
def built(fixture_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("report_out")
    return out, build_report(*fixture_files, out)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# ----------------------------------------------------------------------------------------------- cells


def test_cell_text():
    assert M.Cell(74.31, 0.2, 3).text() == "74.3 ± 0.2 (n=3)"
    assert M.Cell(74.31, float("nan"), 1).text() == "74.3 (n=1)"
    assert M.Cell(74.3).text() == "74.3"  # published
    assert M.Cell(float("nan")).text() == "–"


def test_label_fraction():
    assert R.label_fraction("1%") == 1.0
    assert R.label_fraction("10percent") == 10.0
    assert R.label_fraction("whatever", {"label_fraction": 0.1}) == 10.0
    assert R.label_fraction("subset_a") is None


# ----------------------------------------------------------------------------------------------- tables


def test_table1_text(built):
    out, _ = built
    lines = _lines(out / "tables" / "table1.md")
    assert lines[:4] == [
        "| Method | ImageNet (augmented) top-1 | ImageNet (augmented) top-5 |",
        "|:---|---:|---:|",
        "| BYOL | 71.0 ± 1.4 (n=2) | 90.5 ± 0.7 (n=2) |",
        "| SimCLR | 65.5 ± 0.7 (n=2) | 85.0 ± 0.0 (n=2) |",
    ]
    published = lines[4:]
    assert len(published) == 8  # Table 1a, ResNet-50
    assert all("(published, R50)" in line for line in published)
    assert "| BYOL (published, R50) | 74.3 | 91.6 |" in published
    assert "| SimCLR (published, R50) | 69.3 | 89.0 |" in published
    assert "| Local Agg. (published, R50) | 60.2 | – |" in published


def test_table2_text(built):
    out, _ = built
    lines = _lines(out / "tables" / "table2.md")
    assert lines[0] == ("| Method | ImageNet top-1 1% | ImageNet top-1 10% | ImageNet top-5 1% | ImageNet top-5 10% |")
    assert lines[2] == "| BYOL | 51.0 ± 1.4 (n=2) | 60.5 ± 0.7 (n=2) | 75.0 ± 0.0 (n=2) | 86.0 ± 1.4 (n=2) |"
    assert lines[3] == "| SimCLR | 45.0 (n=1) | 55.0 (n=1) | 70.0 (n=1) | 80.0 (n=1) |"
    assert "| BYOL (published, R50) | 53.2 | 68.8 | 78.4 | 89.0 |" in lines
    assert "| InstDisc (published, R50) | – | – | 39.2 | 77.4 |" in lines


def test_table3_text(built):
    out, _ = built
    lines = _lines(out / "tables" / "table3.md")
    # Table 3 order (CIFAR10 before Aircraft), other datasets after; the paper's metric named in the header
    assert lines[0] == "| Protocol | Method | CIFAR10 | Aircraft (mean per-class) | Digits |"
    assert lines[2] == "| Linear evaluation | BYOL | 91.0 ± 1.4 (n=2) | 60.5 ± 0.7 (n=2) | 95.0 ± 0.0 (n=2) |"
    assert lines[3] == "| Linear evaluation | SimCLR | 88.5 ± 0.7 (n=2) | 51.0 ± 1.4 (n=2) | 95.0 ± 1.4 (n=2) |"
    assert "| Linear evaluation | BYOL (published, R50) | 91.3 | 60.6 | – |" in lines
    assert "| Fine-tuned | BYOL | 97.5 ± 0.7 (n=2) | – | – |" in lines
    assert "| Fine-tuned | SimCLR | 96.0 ± 0.0 (n=2) | – | – |" in lines
    assert "| Fine-tuned | Random init [8] (published, R50) | 95.9 | 85.9 | – |" in lines
    finetuned = [line for line in lines if line.startswith("| Fine-tuned")]
    assert finetuned[0].startswith("| Fine-tuned | BYOL |")  # ours first, then the 5 published rows
    assert len(finetuned) == 2 + 5


def test_table2_sets_the_papers_label_only_supervised_row_beside_random_init(tmp_path, monkeypatch):
    """Table 2's "Supervised [77]" (S4L) is a ResNet-50 trained from scratch on the 1 % / 10 % labels only: the
    paper's value for our random-init row (a random init fine-tuned on the same labels), not for `supervised`."""
    from matplotlib.colors import to_rgb

    from byol_pkg.report import plots as P

    assert pub.published_value(pub.TABLE2_SEMISUP, "random-init", (1.0, "top1")) == 25.4
    assert pub.published_value(pub.TABLE2_SEMISUP, "random-init", (10.0, "top5")) == 80.4
    assert pub.published_value(pub.TABLE2_SEMISUP, "supervised", (1.0, "top1")) is None
    values = {"byol": (50.0, 60.0), "supervised": (40.0, 55.0), "random-init": (20.0, 50.0)}
    records = [_record("semisup", "imagefolder", f"{frac:g}%", "top1", method, 0, value,
                       label_fraction=frac / 100)
               for method, pair in values.items() for frac, value in zip((1.0, 10.0), pair)]
    frame = results_frame([write_results(tmp_path / "r.json", records)])
    lines = W.to_markdown(T.table2(frame)).splitlines()
    assert "| Random init | 20.0 (n=1) | 50.0 (n=1) |" in lines
    assert "| Supervised [77] (published, R50) | 25.4 | 56.4 |" in lines
    # the plot draws the published values in the colour of the row they stand beside: Random init's
    figures = []
    monkeypatch.setattr(P, "save_figure", lambda fig, out_dir, stem: figures.append(fig) or [])
    P.plot_semisup(frame, tmp_path)
    (fig,) = figures
    (line,) = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label() == "Supervised [77] (published, R50)"]
    assert list(line.get_xdata()) == [1.0, 10.0] and list(line.get_ydata()) == [25.4, 56.4]
    palette = P._palette(R.sorted_labels(frame.assign(label=frame["method"].map(R.method_label))))
    assert to_rgb(line.get_color()) == to_rgb(palette["Random init"]) != to_rgb(palette["Supervised"])


def test_knn_table_uses_final_checkpoints(built):
    out, _ = built
    assert _lines(out / "tables" / "knn.md") == [
        "| Method | Fashion-MNIST (k=20) | Fashion-MNIST (k=200) |",
        "|:---|---:|---:|",
        "| BYOL | 81.0 ± 1.4 (n=2) | 78.0 ± 0.0 (n=2) |",
        "| SimCLR | 76.0 ± 1.4 (n=2) | 74.0 ± 0.0 (n=2) |",
    ]


def test_compare(frame):
    res = T.compare(frame, "byol", "simclr", "linear", "imagefolder", "top1", "augmented")
    assert res.diff == pytest.approx(5.5)
    assert res.spread == pytest.approx(2 ** 0.5 + 0.5 ** 0.5)
    assert res.exceeds_spread is True
    digits = T.compare(frame, "byol", "simclr", "transfer_linear", "digits", "top1")
    assert digits.diff == pytest.approx(0.0) and digits.exceeds_spread is False
    single = T.compare(frame, "byol", "simclr", "semisup", "imagefolder", "top1", "1%")
    assert single.n_b == 1 and single.exceeds_spread is None
    assert T.compare(frame, "byol", "nobody", "linear", "imagefolder", "top1", "augmented") is None


def test_comparison_table(built):
    out, _ = built
    lines = _lines(out / "tables" / "comparisons.md")
    assert lines[0] == ("| Method A | Method B | Protocol | Dataset | Variant | Metric | Mean A | Mean B "
                        "| Δ (A − B) | Spread (std A + std B) | Exceeds spread | Paired 95 % CI of Δ "
                        "| CI excludes 0 |")
    # these result files keep no predictions: the paired-bootstrap cells are empty (tests/test_bootstrap.py has
    # them filled)
    assert ("| BYOL | SimCLR | linear | ImageNet | augmented | top-1 | 71.00 ± 1.41 (n=2) | 65.50 ± 0.71 (n=2) "
            "| 5.50 | 2.12 | yes | – | n/a (no CI) |") in lines
    assert "| BYOL | SimCLR | transfer_linear | Digits |  | top-1 | 95.00 ± 0.00 (n=2) | 95.00 ± 1.41 (n=2) " \
           "| 0.00 | 1.41 | no | – | n/a (no CI) |" in lines
    assert any(line.endswith("| n/a (n<2) | – | n/a (no CI) |") and "| semisup |" in line for line in lines)


def test_latex_is_a_booktabs_tabular(built):
    out, result = built
    assert len(TABLE_NAMES) == 5
    for name in TABLE_NAMES:
        tex = (out / "tables" / f"{name}.tex").read_text()
        assert tex.count(r"\begin{tabular}") == 1 and tex.count(r"\end{tabular}") == 1
        body = tex.split(r"\begin{tabular}")[1].split(r"\end{tabular}")[0]
        spec = re.match(r"\{([lr]+)\}", body).group(1)
        assert r"\toprule" in body and r"\bottomrule" in body
        rows = [line for line in body.splitlines() if line.endswith(r"\\")]
        csv_rows = pd.read_csv(out / "tables" / f"{name}.csv")
        label_cols = [c for c in csv_rows.columns if c not in
                      ("source", "column", "protocol", "dataset", "variant", "metric", "mean", "std", "n", "ci_low",
                       "ci_high", "text")]
        n_rows = len(csv_rows.drop_duplicates(subset=label_cols))
        assert len(rows) == 1 + n_rows  # header + one line per table row
        for line in rows:
            assert len(re.findall(r"(?<!\\)&", line)) == len(spec) - 1
    tex = (out / "tables" / "table1.tex").read_text()
    assert r"71.0 $\pm$ 1.4 (n=2)" in tex and r"\midrule" in tex


def test_csv_is_tidy(built):
    out, _ = built
    csv = pd.read_csv(out / "tables" / "table1.csv")
    ours = csv[(csv["source"] == "ours") & (csv["Method"] == "BYOL") & (csv["metric"] == "top1")].iloc[0]
    assert ours["mean"] == pytest.approx(71.0) and ours["std"] == pytest.approx(2 ** 0.5) and ours["n"] == 2
    assert set(csv["source"]) == {"ours", "published"}


# ----------------------------------------------------------------------------------------------- plots, report


def test_plots_written(built):
    out, result = built
    assert set(result["plots"]) == set(PLOT_CAPTIONS) and len(PLOT_CAPTIONS) == 4
    for paths in result["plots"].values():
        png, pdf = sorted(paths, key=lambda p: p.suffix, reverse=True)
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
        assert pdf.read_bytes()[:4] == b"%PDF" and pdf.stat().st_size > 1000


def test_report_markdown(built):
    out, result = built
    text = result["report"].read_text()
    assert len(PLOT_CAPTIONS) == 4
    for name in PLOT_CAPTIONS:
        assert f"](plots/{name}.png)" in text
        assert PLOT_CAPTIONS[name] in text
    assert "### Table 1 — linear evaluation" in text and "| BYOL | 71.0 ± 1.4 (n=2) | 90.5 ± 0.7 (n=2) |" in text
    assert "## Published reference numbers" in text and "Table 16" in text
    assert set(result["tables"]) == set(TABLE_NAMES)


def test_caption_templates_read_the_one_caption_source():
    """snakemake --report captions come from byol_pkg.report.captions through the report rule's params."""
    from byol_pkg.report import captions

    assert set(captions.TABLE_TITLES) == set(captions.TABLE_CAPTIONS) == set(TABLE_NAMES)
    assert set(captions.PLOT_TITLES) == set(captions.PLOT_CAPTIONS)
    assert TABLE_NAMES == ("table1", "table2", "table3", "knn", "comparisons")
    assert list(PLOT_CAPTIONS) == ["transfer", "semisup", "pretrain_curves", "knn_vs_epoch"]
    for name in ("table", "plot"):
        text = (REPO / "workflow" / "report" / f"{name}.rst").read_text()
        assert "snakemake.params.captions[snakemake.wildcards.name]" in text
    rule = (REPO / "workflow" / "rules" / "report.smk").read_text()
    assert "captions={**TABLE_CAPTIONS, **PLOT_CAPTIONS}" in rule


def test_metrics_json_holds_seed_means_of_final_records(built):
    out, result = built
    metrics = json.loads((out / "metrics.json").read_text())
    assert result["metrics"] == out / "metrics.json"
    assert metrics["byol"]["linear:augmented"]["imagefolder"] == {"top1": 71.0, "top5": 90.5}
    assert metrics["byol"]["knn:k=20"]["fashion_mnist"]["top1"] == 81.0  # not the epoch-curve records
    assert metrics["simclr"]["semisup:1%"]["imagefolder"]["top1"] == 45.0
    assert metrics["byol"]["transfer_linear"]["fgvc_aircraft"] == {"mean_per_class": 60.5, "top1": 99.0}
    assert metrics["byol"]["n_seeds"] == 2 and metrics["simclr"]["n_seeds"] == 2


def test_curves_one_folder_per_quantity_one_file_per_run(built, fixture_files):
    out, result = built
    assert sorted(p.relative_to(out / "curves").as_posix() for p in result["curves"]) == sorted(
        f"{q}/{run}_seed0.csv" for q in ("loss", "tau", "lr", "collapse_std") for run in ("byol_a", "byol_b"))
    source = pd.read_csv(fixture_files[1][1])
    curve = pd.read_csv(out / "curves/loss/byol_b_seed0.csv")
    assert list(curve.columns) == ["step", "loss"]
    assert curve["loss"].tolist() == pytest.approx(source["loss"].tolist())


def test_empty_inputs(tmp_path):
    empty = pd.DataFrame()
    assert plot_transfer(empty, tmp_path) == [] and plot_semisup(empty, tmp_path) == []
    assert plot_knn_curve(empty, tmp_path) == [] and plot_pretrain_curves([], tmp_path) == []
    tables = T.paper_tables(empty)
    assert len(tables) == 5 and all(t.empty for t in tables)  # every table, in report order
    empty_file = write_results(tmp_path / "none.json", [])
    result = build_report([empty_file], [], tmp_path / "out")
    assert result["tables"] == {} and result["plots"] == {} and result["records"] == 0
    assert "No table has data." in result["report"].read_text()
    assert not (tmp_path / "out" / "plots").exists()


def test_stale_outputs_removed(tmp_path):
    rec = _record("knn", "digits", "k=20", "top1", "byol", 0, 90.0)
    out = tmp_path / "out"
    build_report([write_results(tmp_path / "a.json", [rec])], [], out)
    assert (out / "tables" / "knn.md").is_file()
    rec.protocol = "linear"
    result = build_report([write_results(tmp_path / "a.json", [rec])], [], out)
    assert set(result["tables"]) == {"table1"} and not (out / "tables" / "knn.md").exists()


def test_run_labels():
    assert run_labels(["r/pretrain/a/seed0/metrics.csv", "r/pretrain/b/seed0/metrics.csv"]) == ["a/seed0", "b/seed0"]
    assert run_labels(["results/pretrain/demo/metrics.csv"]) == ["demo"]
    assert run_labels(["results/pretrain/demo/seed0/metrics.csv"]) == ["demo/seed0"]
    assert run_labels(["pretrain/d/seed0/metrics.csv", "pretrain/d/seed1/metrics.csv"]) == ["d/seed0", "d/seed1"]
    assert run_labels(["x/a/metrics.csv", "x/b/metrics.csv"]) == ["a", "b"]


def test_published_data_matches_spec():
    from byol_pkg.data.transfer import TABLE3_ORDER

    assert pub.TABLE3_DATASETS == TABLE3_ORDER
    assert pub.published_value(pub.TABLE1_LINEAR, "byol", "top1") == 74.3
    assert pub.published_value(pub.TABLE2_SEMISUP, "byol", (1.0, "top1")) == 53.2
    assert pub.published_value(pub.TABLE3_FINETUNED, "byol", "flowers102") == 97.0
    assert pub.cell_value("63.4±0.7") == 63.4 and pub.cell_value("−") is None
    assert len(pub.ABLATIONS) == 10 and all(t.rows for t in pub.ABLATIONS)
    assert all(len(row) == len(t.columns) for t in pub.ABLATIONS for row in t.rows)
    assert {t.source for t in pub.ABLATIONS} >= {"Table 5a", "Table 5b", "Table 16", "Table 17"}


# ----------------------------------------------------------------------------------------------- CLI


def test_cli_end_to_end(fixture_files, built, tmp_path, capsys):
    from byol_pkg.cli import main

    results, metrics = fixture_files
    out = tmp_path / "report"
    argv = ["report", "--results", *map(str, results), "--metrics", *map(str, metrics), "--out", str(out)]
    assert main(argv) == 0
    assert "tables: table1, table2, table3, knn, comparisons" in capsys.readouterr().out
    assert (out / "report.md").is_file() and (out / "plots" / "pretrain_curves.pdf").is_file()
    assert len(TABLE_NAMES) == 5
    for name in TABLE_NAMES:  # same tables as build_report's
        assert (out / "tables" / f"{name}.md").read_text() == (built[0] / "tables" / f"{name}.md").read_text()
    assert main(["report", "--results", str(tmp_path / "missing.json"), "--out", str(out)]) == 3  # InputFileError
    assert "byol report: error" in capsys.readouterr().err


def test_flat_results_table_keeps_intermediate_checkpoints_apart(tmp_path):
    """byol results: kNN of epoch checkpoints must not be averaged into the final encoder's kNN cell."""
    from byol_pkg.eval.results import results_frame, summary_table

    def rec(value, epoch=None):
        hps = {"k": 20, **({"pretrain_epoch": epoch} if epoch is not None else {})}
        return {"method": "byol", "protocol": "knn", "variant": "k=20", "dataset": "fashion_mnist",
                "metric": "top1", "value": value, "seed": 0, "hyperparameters": hps}

    files = []
    for name, records in (("final", [rec(77.82)]), ("e1", [rec(77.0, 1)]), ("e2", [rec(77.82, 2)])):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(records))
    table = summary_table(results_frame(files), "method").reset_index()
    assert dict(zip(table["variant"], table["byol"])) == {"k=20": 77.82, "k=20, epoch 1": 77.0,
                                                          "k=20, epoch 2": 77.82}


def test_knn_curve_starts_at_epoch_zero_with_the_random_init_level(tmp_path):
    """The kNN-against-epoch plot: byol's epoch records from 0 (the initialisation) and a reference line at the
    random-init encoder's own kNN level per k (its mean over seeds)."""
    from byol_pkg.report.plots import random_init_levels
    from byol_pkg.report.records import prepare

    def rec(method, encoder, value, variant="k=20", seed=0, epoch=None):
        hps = {"pretrain_epoch": epoch} if epoch is not None else {}
        return {"method": method, "encoder": encoder, "protocol": "knn", "variant": variant, "seed": seed,
                "dataset": "fashion_mnist", "metric": "top1", "value": value, "hyperparameters": hps}

    records = [rec("byol", "runs/e.pt", v, epoch=e) for e, v in ((0, 77.3), (1, 80.0), (2, 82.5))]
    records += [rec("random-init", "random-init", v, seed=s) for s, v in ((0, 77.0), (1, 78.0))]
    records += [rec("random-init", "random-init", 70.0, variant="k=200"), rec("byol", "runs/e.pt", 83.0)]
    frame = pd.DataFrame(records)
    df = prepare(frame)
    baseline = df[(df["protocol"] == "knn") & df["pretrain_epoch"].isna() & (df["encoder"] == "random-init")]
    assert random_init_levels(baseline, "fashion_mnist") == {"k=20": pytest.approx(77.5), "k=200": 70.0}
    paths = plot_knn_curve(frame, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths and all(p.stat().st_size > 0 for p in paths)
