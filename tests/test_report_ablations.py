"""Ablation tables and plots of the report (paper Table 5a / 5b, Table 16, Table 17).

Fixture: result files as the eval commands write them (one JSON list per method and seed) for BYOL and SimCLR,
seeds 0 and 1: the main runs (linear top-1) and the ablations ``tau``, ``objective`` (BYOL), ``batch_size``,
``augmentation`` (BYOL and SimCLR), an unknown ablation ``depth`` (kNN only) and a malformed method; pretraining
``metrics.csv`` files at the encoder paths. Encoder paths are relative (``results/pretrain/...``) as the workflow
writes them, the metrics files absolute: the report matches them by folder. Expected cells are computed by hand
(mean ± sample std, ddof = 1: 70 and 72 -> 71.0 ± 1.4).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from byol_pkg.eval.results import ResultRecord, results_frame, write_results
from byol_pkg.report import ablations as A
from byol_pkg.report import captions as C
from byol_pkg.report import published as pub
from byol_pkg.report import records as R
from byol_pkg.report import table_model as M
from byol_pkg.report import tables as T
from byol_pkg.report import writers as W
from byol_pkg.report.build import build_report

RUN = {"byol": "abltest_byol", "simclr": "abltest_simclr"}  # pretraining run of each base method
PUB = "published (ImageNet, R50, 300 ep)"
FM = "(Fashion-MNIST)"

# main runs: method -> linear cached top-1 of seeds 0, 1
MAIN = {"byol": [80.0, 82.0], "simclr": [75.0, 77.0]}
# final collapse_std per (run, seed); runs without an entry have no metrics.csv
COLLAPSE = {
    ("abltest_byol", 0): 0.062, ("abltest_byol", 1): 0.058,  # 0.060 ± 0.003
    ("abltest_simclr", 0): 0.050, ("abltest_simclr", 1): 0.054,  # 0.052 ± 0.003
    ("abltest_byol/tau/0.0", 0): 0.001, ("abltest_byol/tau/0.0", 1): 0.003,  # 0.002 ± 0.001
    ("abltest_byol/tau/0.5", 0): 0.030,  # one seed: 0.030 (n=1)
    ("abltest_byol/objective/simclr", 0): 0.04, ("abltest_byol/objective/simclr", 1): 0.04,
    ("abltest_byol/objective/pred_beta0", 0): 0.001, ("abltest_byol/objective/pred_beta0", 1): 0.001,
    ("abltest_byol/batch_size/64", 0): 0.02, ("abltest_byol/batch_size/64", 1): 0.02,
}
# ablation method -> (own run?, {(protocol, variant, metric): [seed 0, seed 1]}); written in this order
ABLATION = {
    "byol/tau/0.5": (False, {("linear", "cached", "top1"): [66.0, 67.0]}),
    "byol/tau/0.99": (True, {("linear", "cached", "top1"): [70.0, 72.0], ("linear", "cached", "top5"): [90.0, 91.0],
                             ("linear", "augmented", "top1"): [10.0, 10.0],  # not the cached variant: not shown
                             ("knn", "k=20", "top1"): [60.0, 64.0], ("knn", "k=200", "top1"): [50.0, 50.0]}),
    "byol/tau/0.0": (False, {("linear", "cached", "top1"): [0.5, 0.3], ("linear", "cached", "top5"): [5.0, 5.0],
                             ("knn", "k=20", "top1"): [1.0, 1.0]}),
    "byol/objective/no_pred_beta05": (False, {("linear", "cached", "top1"): [70.0, 70.0]}),
    "byol/objective/pred_beta0": (False, {("linear", "cached", "top1"): [0.2, 0.2]}),
    "byol/objective/simclr": (False, {("linear", "cached", "top1"): [76.0, 78.0]}),
    "byol/objective/byol": (True, {("linear", "cached", "top1"): [80.0, 82.0]}),
    "byol/batch_size/64": (False, {("linear", "cached", "top1"): [70.0, 71.0]}),
    "byol/batch_size/256": (True, {("linear", "cached", "top1"): [80.0, 82.0]}),
    "byol/batch_size/128": (False, {("linear", "cached", "top1"): [79.0, 79.0]}),
    "simclr/batch_size/64": (False, {("linear", "cached", "top1"): [60.0]}),  # one seed
    "simclr/batch_size/256": (True, {("linear", "cached", "top1"): [75.0, 77.0]}),
    "simclr/batch_size/128": (False, {("linear", "cached", "top1"): [74.0, 74.0]}),
    "byol/augmentation/baseline": (True, {("linear", "cached", "top1"): [80.0, 82.0],
                                          ("linear", "cached", "top5"): [95.0, 95.0]}),
    "byol/augmentation/remove_flip": (False, {("linear", "cached", "top1"): [79.0, 81.0],
                                              ("linear", "cached", "top5"): [94.0, 94.0]}),
    "byol/augmentation/crop_only": (False, {("linear", "cached", "top1"): [60.0, 62.0],
                                            ("linear", "cached", "top5"): [85.0, 85.0]}),
    "byol/augmentation/my_aug": (False, {("linear", "cached", "top1"): [75.0, 77.0],
                                         ("linear", "cached", "top5"): [90.0, 90.0]}),
    "simclr/augmentation/baseline": (True, {("linear", "cached", "top1"): [75.0, 77.0],
                                            ("linear", "cached", "top5"): [93.0, 93.0]}),
    "simclr/augmentation/remove_flip": (False, {("linear", "cached", "top1"): [74.0, 74.0],
                                                ("linear", "cached", "top5"): [92.0, 92.0]}),
    "simclr/augmentation/crop_only": (False, {("linear", "cached", "top1"): [50.0, 52.0],
                                              ("linear", "cached", "top5"): [80.0, 80.0]}),
    "byol/depth/a": (False, {("knn", "k=5", "top1"): [50.0, 52.0], ("knn", "k=50", "top1"): [40.0, 40.0]}),
    "byol/depth/b": (False, {("knn", "k=5", "top1"): [45.0, 45.0]}),
    "byol/broken": (False, {("linear", "cached", "top1"): [1.0, 1.0]}),  # not base/ablation/variant: ignored
}


def _run(method: str, own: bool) -> str:
    base, _, rest = method.partition("/")
    return RUN[base] if own or not rest else f"{RUN[base]}/{rest}"


def _record(method: str, run: str, seed: int, protocol: str, variant: str, metric: str, value: float,
            **hp) -> ResultRecord:
    return ResultRecord(protocol=protocol, metric=metric, value=value, dataset="fashion_mnist", variant=variant,
                        encoder=f"results/pretrain/{run}/seed{seed}/encoder.pt", encoder_sha256="0" * 64,
                        method=method, backbone="resnet_small", seed=seed, hyperparameters=hp)


def _write_fixture(root: Path) -> tuple[list[Path], list[Path]]:
    files = []
    for method, values in MAIN.items():
        for seed, value in enumerate(values):
            rec = _record(method, RUN[method], seed, "linear", "cached", "top1", value)
            files.append(write_results(root / "eval" / method / f"seed{seed}" / "results.json", [rec]))
    for method, (own, cells) in ABLATION.items():
        run = _run(method, own)
        for seed in (0, 1):
            records = [_record(method, run, seed, p, v, m, vals[seed]) for (p, v, m), vals in cells.items()
                       if seed < len(vals)]
            if method == "byol/tau/0.99":  # an intermediate checkpoint: not the final encoder, left out
                records.append(_record(method, run, seed, "knn", "k=20", "top1", 5.0, pretrain_epoch=1))
            if records:
                files.append(write_results(root / "eval" / method / f"seed{seed}" / "results.json", records))
    metrics = []
    for (run, seed), final in COLLAPSE.items():
        path = root / "results" / "pretrain" / run / f"seed{seed}" / "metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        # the final value is the last logged one by step: rows out of order and a last row without collapse_std
        pd.DataFrame({"step": [20, 10, 30], "epoch": [1, 0, 2], "loss": [2.0, 3.0, 1.0], "lr": [0.1, 0.1, 0.1],
                      "tau": [0.99, 0.99, 1.0], "collapse_std": [final, 0.5, float("nan")]}).to_csv(path, index=False)
        metrics.append(path)
    return files, metrics


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    return _write_fixture(tmp_path_factory.mktemp("ablation_inputs"))


@pytest.fixture(scope="module")
def built(fixture_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("ablation_report")
    return out, build_report(*fixture_files, out)


def _md_cells(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A Markdown table as (header, {first column: {column: text}}) plus the row order under key ``""``."""
    lines = path.read_text().splitlines()
    split = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    header, rows = split[0], split[2:]
    assert all(len(r) == len(header) for r in rows), path
    table = {r[0]: dict(zip(header, r)) for r in rows}
    return header, {**table, "": [r[0] for r in rows]}


# ----------------------------------------------------------------------------------------------- helpers


def test_method_and_run_helpers():
    assert A.split_method("byol/tau/0.99") == ("byol", "tau", "0.99")
    assert A.split_method("byol/augmentation/a/b") == ("byol", "augmentation", "a/b")
    assert A.split_method("byol/broken") is None and A.split_method("byol") is None
    assert R.is_ablation_method("simclr/batch_size/256") and not R.is_ablation_method("random-init")
    assert R.is_ablation_run("results/pretrain/byol/tau/0.9/seed0/metrics.csv")
    assert not R.is_ablation_run("results/pretrain/byol/seed0/metrics.csv")
    assert not R.is_ablation_run("/abs/results/pretrain/demo/metrics.csv")
    assert not R.is_ablation_run("elsewhere/a/b/c/seed0/metrics.csv")  # no pretrain folder: not known


def test_registry_matches_published_tables():
    assert list(A.ABLATION_SPECS) == ["tau", "objective", "collapse", "batch_size", "augmentation"]
    for name, spec in A.ABLATION_SPECS.items():
        table = pub.published_ablation_table(spec.source)
        assert len(spec.keys) == len(table.rows) == len(set(spec.keys)), name
        assert set(spec.top1.values()) | set(spec.top5.values()) | set(spec.flags) <= set(table.columns)
        assert spec.published_baseline in spec.keys
    tau, obj, batch, aug = (A.ABLATION_SPECS[n] for n in ("tau", "objective", "batch_size", "augmentation"))
    assert tau.canonical("0.990") == "0.99" and tau.canonical("0.0") == "0" and tau.canonical("0.5") is None
    assert tau.row_label("0.99") == "Moving average of online, τ_base 0.99"
    assert tau.row_label("1") == "Constant random network, τ_base 1" and tau.published("1", "byol") == "18.8±0.7"
    assert tau.published("0.99", "simclr") is None  # Table 5a is BYOL's
    expected_5b = {"byol": ("✓", "✓", "0", "72.5"), "pred_target_beta1": ("✓", "✓", "1", "70.9"),
                   "target_beta1": ("✗", "✓", "1", "70.7"), "simclr": ("✗", "✗", "1", "69.4"),
                   "pred_beta1": ("✓", "✗", "1", "69.1"), "pred_beta0": ("✓", "✗", "0", "0.3"),
                   "target_beta0": ("✗", "✓", "0", "0.2"), "none_beta0": ("✗", "✗", "0", "0.1")}
    for key, (p, t, beta, top1) in expected_5b.items():
        assert obj.flag_values(key) == (p, t, beta) and obj.published(key, "byol") == top1
    assert obj.row_label("simclr") == "SimCLR" and obj.row_label("pred_beta1") == "pred_beta1"  # printed "−"
    collapse = A.ABLATION_SPECS["collapse"]  # the same published rows, for the longer runs
    assert collapse.published("none_beta0", "byol") == "0.1" and collapse.flag_values("none_beta0") == ("✗", "✗", "0")
    assert batch.canonical("0512") == "512" and batch.published("64", "simclr", "top5") == "83.0±1.9"
    assert aug.row_label("remove_blur_t2") == "Remove blur in T'"
    assert aug.published("crop_only", "simclr") == "40.3±0.3"
    assert aug.published("baseline", "byol", "top5") == "90.8"


def test_collapse_lookup_final_value_and_fallback(tmp_path, monkeypatch):
    run = tmp_path / "results" / "pretrain" / "r" / "x" / "y" / "seed3"
    run.mkdir(parents=True)
    pd.DataFrame({"step": [2, 1, 3], "collapse_std": [0.04, 0.09, None]}).to_csv(run / "metrics.csv", index=False)
    encoder = "results/pretrain/r/x/y/seed3/encoder.pt"
    assert A.CollapseLookup([run / "metrics.csv"]).final(encoder) == pytest.approx(0.04)  # by folder tail
    assert A.CollapseLookup([]).final(encoder) is None  # not given, not beside (cwd elsewhere)
    monkeypatch.chdir(tmp_path)
    assert A.CollapseLookup([]).final(encoder) == pytest.approx(0.04)  # beside the encoder
    other = tmp_path / "results" / "pretrain" / "r" / "seed3"  # the same seed of another run: not matched
    other.mkdir(parents=True)
    pd.DataFrame({"step": [1], "collapse_std": [0.5]}).to_csv(other / "metrics.csv", index=False)
    assert A.CollapseLookup([other / "metrics.csv"]).csv_for(str(run / "encoder.pt")) == run / "metrics.csv"
    assert A.CollapseLookup([]).final("random-init") is None


def test_prepare_drops_ablation_records(fixture_files):
    frame = results_frame(fixture_files[0])
    assert set(R.prepare(frame)["method"]) == {"byol", "simclr"}
    assert "byol/tau/0.99" in set(R.prepare(frame, ablations=True)["method"])


# ----------------------------------------------------------------------------------------------- tables


def test_tau_table(built):
    out, result = built
    header, t = _md_cells(out / "tables" / "ablation_tau.md")
    assert header == ["Target network, τ_base", f"BYOL linear top-1 {FM}", f"BYOL linear top-5 {FM}",
                      f"BYOL kNN top-1 k=20 {FM}", f"BYOL Δ linear top-1 vs baseline {FM}", "BYOL final collapse std",
                      f"BYOL top-1 {PUB}"]
    r99, r0 = "Moving average of online, τ_base 0.99", "Stop gradient of online (τ = 0 constant), τ_base 0"
    r05 = "Moving average of online, τ_base 0.5"  # a value the paper lacks, labelled like its rows
    assert t[""] == [r99, r0, r05]  # the paper's order, then the unknown variant
    # 0.99 is pretrained by BYOL's own run: the Δ baseline; collapse of that run: 0.062, 0.058
    assert list(t[r99].values())[1:] == ["71.0 ± 1.4 (n=2)", "90.5 ± 0.7 (n=2)", "62.0 ± 2.8 (n=2)",
                                         "0.0 (baseline)", "0.060 ± 0.003 (n=2)", "72.5"]
    # 0.4 - 71.0 = -70.6; collapse 0.001, 0.003 -> 0.002 ± 0.0014
    assert list(t[r0].values())[1:] == ["0.4 ± 0.1 (n=2)", "5.0 ± 0.0 (n=2)", "1.0 ± 0.0 (n=2)", "-70.6",
                                        "0.002 ± 0.001 (n=2)", "0.3"]
    assert list(t[r05].values())[1:] == ["66.5 ± 0.7 (n=2)", "–", "–", "-4.5", "0.030 (n=1)", "–"]


def test_objective_table(built):
    out, _ = built
    header, t = _md_cells(out / "tables" / "ablation_objective.md")
    assert header == ["Objective", "Predictor", "Target network", "β", f"BYOL linear top-1 {FM}",
                      f"BYOL Δ linear top-1 vs baseline {FM}", "BYOL final collapse std", f"BYOL top-1 {PUB}"]
    assert t[""] == ["BYOL", "SimCLR", "pred_beta0", "no_pred_beta05"]
    assert list(t["BYOL"].values())[1:] == ["✓", "✓", "0", "81.0 ± 1.4 (n=2)", "0.0 (baseline)",
                                            "0.060 ± 0.003 (n=2)", "72.5"]
    assert list(t["SimCLR"].values())[1:] == ["✗", "✗", "1", "77.0 ± 1.4 (n=2)", "-4.0", "0.040 ± 0.000 (n=2)",
                                              "69.4"]
    assert list(t["pred_beta0"].values())[1:] == ["✓", "✗", "0", "0.2 ± 0.0 (n=2)", "-80.8",
                                                  "0.001 ± 0.000 (n=2)", "0.3"]
    assert list(t["no_pred_beta05"].values())[1:] == ["", "", "", "70.0 ± 0.0 (n=2)", "-11.0", "–", "–"]
    tex = (out / "tables" / "ablation_objective.tex").read_text()
    assert r"BYOL & $\checkmark$ & $\checkmark$ & 0 & 81.0 $\pm$ 1.4 (n=2)" in tex
    assert r"SimCLR & $\times$ & $\times$ & 1 &" in tex and "✗" not in tex and "α" not in tex


def test_batch_size_table_two_bases(built):
    out, _ = built
    header, t = _md_cells(out / "tables" / "ablation_batch_size.md")
    assert header == ["Batch size", f"BYOL linear top-1 {FM}", f"BYOL Δ linear top-1 vs baseline {FM}",
                      "BYOL final collapse std", f"BYOL top-1 {PUB}", f"SimCLR linear top-1 {FM}",
                      f"SimCLR Δ linear top-1 vs baseline {FM}", "SimCLR final collapse std", f"SimCLR top-1 {PUB}"]
    assert t[""] == ["256", "128", "64"]  # the paper's order although written 64, 256, 128
    # baseline: the largest batch (256); published: Table 16 BYOL / SimCLR (repro) columns, ± as printed
    assert list(t["256"].values())[1:] == ["81.0 ± 1.4 (n=2)", "0.0 (baseline)", "0.060 ± 0.003 (n=2)", "71.8",
                                           "76.0 ± 1.4 (n=2)", "0.0 (baseline)", "0.052 ± 0.003 (n=2)", "64.3 ± 2.1"]
    assert list(t["128"].values())[1:] == ["79.0 ± 0.0 (n=2)", "-2.0", "–", "69.6 ± 0.5",
                                           "74.0 ± 0.0 (n=2)", "-2.0", "–", "63.6"]
    assert list(t["64"].values())[1:] == ["70.5 ± 0.7 (n=2)", "-10.5", "0.020 ± 0.000 (n=2)", "59.7 ± 1.5",
                                          "60.0 (n=1)", "-16.0", "–", "59.2 ± 2.9"]


def test_augmentation_table_top5_and_unknown_variant(built):
    out, _ = built
    header, t = _md_cells(out / "tables" / "ablation_augmentation.md")
    byol = [f"BYOL linear top-1 {FM}", f"BYOL linear top-5 {FM}", f"BYOL Δ linear top-1 vs baseline {FM}",
            "BYOL final collapse std", f"BYOL top-1 {PUB}", f"BYOL top-5 {PUB}"]
    assert header == ["Augmentation set", *byol, *(c.replace("BYOL", "SimCLR") for c in byol)]
    assert t[""] == ["Baseline", "Remove flip", "Crop only", "my_aug"]
    assert list(t["Baseline"].values())[1:] == [
        "81.0 ± 1.4 (n=2)", "95.0 ± 0.0 (n=2)", "0.0 (baseline)", "0.060 ± 0.003 (n=2)", "72.5", "90.8",
        "76.0 ± 1.4 (n=2)", "93.0 ± 0.0 (n=2)", "0.0 (baseline)", "0.052 ± 0.003 (n=2)", "67.9", "88.5"]
    assert list(t["Remove flip"].values())[1:] == [
        "80.0 ± 1.4 (n=2)", "94.0 ± 0.0 (n=2)", "-1.0", "–", "71.9", "90.6",
        "74.0 ± 0.0 (n=2)", "92.0 ± 0.0 (n=2)", "-2.0", "–", "67.3", "88.2"]
    assert list(t["Crop only"].values())[1:] == [
        "61.0 ± 1.4 (n=2)", "85.0 ± 0.0 (n=2)", "-20.0", "–", "59.4 ± 0.3", "82.4",
        "51.0 ± 1.4 (n=2)", "80.0 ± 0.0 (n=2)", "-25.0", "–", "40.3 ± 0.3", "64.8 ± 0.4"]
    assert list(t["my_aug"].values())[1:] == ["76.0 ± 1.4 (n=2)", "90.0 ± 0.0 (n=2)", "-5.0", "–", "–", "–",
                                              "–", "–", "–", "–", "–", "–"]
    csv = pd.read_csv(out / "tables" / "ablation_augmentation.csv")
    cell = csv[(csv["Augmentation set"] == "Crop only") & (csv["column"] == f"SimCLR top-1 {PUB}")].iloc[0]
    assert cell["mean"] == pytest.approx(40.3) and cell["dataset"] == "imagenet" and cell["variant"] == "Table 17"
    delta = csv[(csv["Augmentation set"] == "Crop only") & (csv["metric"] == "top1_delta")]
    assert sorted(delta["mean"]) == pytest.approx([-25.0, -20.0])


def test_unknown_ablation_knn_only(built):
    out, result = built
    header, t = _md_cells(out / "tables" / "ablation_depth.md")
    assert header == ["Variant", f"BYOL kNN top-1 k=5 {FM}"]  # no k=20: the smallest k; nothing else known
    assert t[""] == ["a", "b"] and t["a"][header[1]] == "51.0 ± 1.4 (n=2)" and t["b"][header[1]] == "45.0 ± 0.0 (n=2)"
    assert "ablation_broken" not in result["tables"]
    assert result["ablations"] == ["ablation_tau", "ablation_objective", "ablation_batch_size",
                                   "ablation_augmentation", "ablation_depth"]


def test_latex_of_ablation_tables_is_well_formed(built):
    out, result = built
    assert len(result["ablations"]) == 5  # as test_unknown_ablation_knn_only lists them
    for name in result["ablations"]:
        tex = (out / "tables" / f"{name}.tex").read_text()
        body = tex.split(r"\begin{tabular}")[1].split(r"\end{tabular}")[0]
        spec = re.match(r"\{([lr]+)\}", body).group(1)
        rows = [line for line in body.splitlines() if line.endswith(r"\\")]
        assert len(rows) == 1 + len(_md_cells(out / "tables" / f"{name}.md")[1][""])
        for line in rows:
            assert len(re.findall(r"(?<!\\)&", line)) == len(spec) - 1
        assert not re.search(r"[^\x00-\x7f]", tex), name  # every symbol mapped to LaTeX


# ----------------------------------------------------------------------------------------------- main outputs


def test_main_tables_and_metrics_leave_ablations_out(built):
    out, result = built
    assert (out / "tables" / "table1.md").read_text().splitlines() == [
        "| Method | Fashion-MNIST (cached) top-1 |", "|:---|---:|",
        "| BYOL | 81.0 ± 1.4 (n=2) |", "| SimCLR | 76.0 ± 1.4 (n=2) |"]
    assert not (out / "tables" / "knn.md").exists()  # only ablation records have kNN results
    comparisons = (out / "tables" / "comparisons.md").read_text()
    assert "| BYOL | SimCLR | linear |" in comparisons
    methods = {cell.strip() for line in comparisons.splitlines()[2:] for cell in line.split("|")[1:3]}
    assert methods == {"BYOL", "SimCLR"}  # no ablation method (<base>/<ablation>/<variant>) is compared
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"byol", "simclr"} and metrics["byol"]["linear:cached"]["fashion_mnist"]["top1"] == 81.0
    assert set(result["tables"]) == {"table1", "comparisons", *result["ablations"]}


def test_pretrain_curves_plot_main_runs_but_curves_export_all(built, fixture_files, tmp_path, monkeypatch):
    from byol_pkg.report import plots

    seen = []
    monkeypatch.setattr(plots, "plot_pretrain_curves", lambda csvs, out_dir: seen.extend(csvs) or [])
    plots.all_plots(pd.DataFrame(), fixture_files[1], tmp_path)
    assert sorted(p.parent.parent.name + "/" + p.parent.name for p in seen) == [
        "abltest_byol/seed0", "abltest_byol/seed1", "abltest_simclr/seed0", "abltest_simclr/seed1"]
    out, result = built
    names = {p.name for p in (out / "curves" / "collapse_std").glob("*.csv")}
    assert {"abltest_byol_seed0.csv", "abltest_byol_tau_0.0_seed1.csv", "abltest_byol_tau_0.5_seed0.csv",
            "abltest_byol_batch_size_64_seed0.csv"} <= names and len(names) == len(COLLAPSE)
    assert (out / "plots" / "pretrain_curves.png").is_file()


def test_ablation_plots_written(built):
    out, result = built
    assert len(result["ablations"]) == 5  # as test_unknown_ablation_knn_only lists them
    for name in result["ablations"]:
        png, pdf = sorted(result["plots"][name], key=lambda p: p.suffix, reverse=True)
        assert png.name == f"{name}.png" and pdf.name == f"{name}.pdf"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
        assert pdf.read_bytes()[:4] == b"%PDF" and pdf.stat().st_size > 1000
    assert set(result["plots"]) == {"pretrain_curves", *result["ablations"]}  # no semisup / transfer / kNN plots


def test_figure3_drops(fixture_files):
    data = {d.name: d for d in A.ablation_data(results_frame(fixture_files[0]), fixture_files[1])}
    assert data["tau"].baselines == {"byol": "0.99"} and data["depth"].baselines == {"byol": None}
    ours, published = A._drops(data["batch_size"], with_baseline=True)
    mean = ours.groupby(["base", "row"])["drop"].mean()
    assert mean[("byol", "128")] == pytest.approx(2.0) and mean[("byol", "64")] == pytest.approx(10.5)
    assert mean[("simclr", "64")] == pytest.approx(16.0) and mean[("byol", "256")] == pytest.approx(0.0)
    # the paper's drops from the same baseline row as ours (batch 256: BYOL 71.8, SimCLR (repro) 64.3)
    pub_drop = published.set_index(["base", "row"])["drop"]
    assert pub_drop[("byol", "128")] == pytest.approx(71.8 - 69.6) and pub_drop[("byol", "64")] == pytest.approx(12.1)
    assert pub_drop[("simclr", "64")] == pytest.approx(64.3 - 59.2) and pub_drop[("simclr", "256")] == 0.0
    assert set(published["series"]) == {"BYOL published (ImageNet)", "SimCLR (repro) published (ImageNet)"}
    ours, published = A._drops(data["augmentation"])
    assert "baseline" not in set(ours["row"]) | set(published["row"])
    pub_drop = published.set_index(["base", "row"])["drop"]
    assert pub_drop[("byol", "crop_only")] == pytest.approx(72.5 - 59.4)
    assert pub_drop[("simclr", "remove_flip")] == pytest.approx(67.9 - 67.3)
    assert ("byol", "my_aug") not in pub_drop.index


# ----------------------------------------------------------------------------------------------- report, CLI


def test_report_has_ablations_section(built):
    out, result = built
    text = result["report"].read_text()
    assert text.index("## Plots") < text.index("## Ablations") < text.index("## Published reference numbers")
    section = text[text.index("## Ablations"):text.index("## Published reference numbers")]
    assert len(result["ablations"]) == 5  # as test_unknown_ablation_knn_only lists them
    for name in result["ablations"]:
        assert f"### {C.table_title(name)}" in section and f"](plots/{name}.png)" in section
        assert C.plot_caption(name) in section and f"`tables/{name}.md`" in section
    assert "| Stop gradient of online (τ = 0 constant), τ_base 0 | 0.4 ± 0.1 (n=2) |" in section
    assert C.table_title("ablation_depth") == "Ablation — depth"  # generic fallback


def test_captions_cover_known_ablations():
    assert set(C.ABLATION_NAMES) == set(A.ABLATION_SPECS)
    assert C.ABLATION_NAMES == ("tau", "objective", "collapse", "batch_size", "augmentation")
    for name in C.ABLATION_NAMES:
        key = f"ablation_{name}"
        for d in (C.ABLATION_TABLE_TITLES, C.ABLATION_TABLE_CAPTIONS, C.ABLATION_PLOT_TITLES,
                  C.ABLATION_PLOT_CAPTIONS):
            assert key in d
    titles, captions = C.ablation_report_texts(["tau", "xyz"])
    assert titles == {"ablation_tau": C.ABLATION_TABLE_TITLES["ablation_tau"], "ablation_xyz": "Ablation — xyz"}
    assert C.ABLATION_PLOT_CAPTIONS["ablation_tau"] in captions["ablation_tau"]
    assert C.table_title("table1") == C.TABLE_TITLES["table1"] and C.plot_title("semisup") == C.PLOT_TITLES["semisup"]


def test_stale_ablation_outputs_removed(fixture_files, tmp_path):
    results, metrics = fixture_files
    out = tmp_path / "report"
    build_report(results, metrics, out)
    assert (out / "tables" / "ablation_depth.tex").is_file() and (out / "plots" / "ablation_depth.pdf").is_file()
    kept = [p for p in results if "depth" not in p.parts]
    result = build_report(kept, metrics, out)
    assert "ablation_depth" not in result["tables"]
    assert not list(out.glob("*/ablation_depth.*")) and (out / "plots" / "ablation_tau.png").is_file()


def test_cli_renders_the_same_tables(fixture_files, built, tmp_path, capsys):
    from byol_pkg.cli import main

    results, metrics = fixture_files
    out = tmp_path / "cli"
    assert main(["report", "--results", *map(str, results), "--metrics", *map(str, metrics), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ablation_tau" in printed and "ablation_augmentation" in printed
    assert len(built[1]["ablations"]) == 5
    for name in built[1]["ablations"]:
        assert (out / "tables" / f"{name}.md").read_text() == (built[0] / "tables" / f"{name}.md").read_text()
    assert (out / "plots" / "ablation_batch_size.png").is_file()


def test_a_tau_the_paper_lacks_is_labelled_as_a_moving_average(tmp_path):
    files = []
    for variant in ("0.98", "custom"):
        path = tmp_path / f"{variant}.json"
        write_results(path, [_record(f"byol/tau/{variant}", _run(f"byol/tau/{variant}", False), 0, "linear",
                                     "cached", "top1", 70.0)])
        files.append(path)
    (table,) = A.ablation_tables(results_frame(files))
    labels = [row.labels[0] for row in table.rows]
    assert "Moving average of online, τ_base 0.98" in labels and "custom" in labels
