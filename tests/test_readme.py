"""The README's figures kept true (issue 16, item 5): every number or name it states that the code decides is
checked against the code here, so that a change to either side without the other fails. (The job counts of the
config table are checked against Snakemake's dry runs in ``test_workflow.py``; the measured timings and
accuracies are measurements, dated and tied to a commit in the text, and are not recomputed here.)"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from byol_pkg.cli import build_parser
from byol_pkg.config import load_config
from byol_pkg.data.transfer import TRANSFER_DATASETS
from byol_pkg.eval import grids, linear, logreg

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
METRIC_WORDS = {"top1": "top-1", "mean_per_class": "mean per-class", "voc07_map": "11-point mAP"}


def _table_rows(first_cell_pattern: str) -> list[list[str]]:
    """The cells of every README table row whose first cell matches ``first_cell_pattern``."""
    rows = []
    for line in README.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if re.fullmatch(first_cell_pattern, cells[0]):
                rows.append(cells)
    return rows


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def test_transfer_dataset_table_is_the_registry():
    """One row per Table 3 dataset: its column title, registry name, metric and (train / val / test) sizes."""
    titles = "|".join(re.escape(s.display) for s in TRANSFER_DATASETS.values())
    rows = {cells[0]: cells for cells in _table_rows(titles)}
    assert len(rows) == len(TRANSFER_DATASETS) == 12
    for spec in TRANSFER_DATASETS.values():
        title, key, _layout, split, metric = rows[spec.display]
        assert key == f"`{spec.name}`" and metric == METRIC_WORDS[spec.metric], spec.name
        sizes = re.search(r"\(([\d,]+) / ([\d,]+) / ([\d,]+)\)", split)
        if spec.name == "birdsnap":  # sizes depend on what downloaded; the row says so instead
            assert sizes is None and "missing downloads skipped" in split
            continue
        assert sizes is not None, spec.name
        assert tuple(map(_int, sizes.groups())) == (spec.paper.train, spec.paper.val, spec.paper.test), spec.name


def _preset_phrases(name: str) -> list[str]:
    """What the README's preset table must say about a preset, rendered from the preset itself."""
    cfg = load_config(name, [])
    o, t = cfg.optim, cfg.target
    phrases = [f"{o.epochs:g} epochs", f"tau {t.base_tau:g}", f"{cfg.augment.image_size} px"]
    if name == "imagenet":
        wd = f"{o.weight_decay:g}".replace("e-0", "e-")
        phrases += [f"global batch {o.batch_size * 8}", f"base LR {o.base_lr:g}", f"wd {wd}"]
    else:
        phrases += [f"batch {o.batch_size}", f"base LR {o.base_lr:g}", f"`{cfg.model.backbone}`"
                    if name == "demo" else cfg.model.backbone.replace("resnet", "ResNet-")]
    if not cfg.augment.blur:
        phrases.append("no blur")
    return phrases


@pytest.mark.parametrize("name", ["demo", "cifar10", "imagenet"])
def test_preset_table_states_each_presets_values(name):
    (row,) = _table_rows(f"`{name}`")
    for phrase in _preset_phrases(name):
        assert phrase in row[1], f"README preset {name}: {phrase!r} not in {row[1]!r}"


def test_imagenet_preset_is_eight_gpus_of_512():
    """The imagenet row's global batch (checked above as 8 x the per-GPU batch) is the paper's 4096."""
    assert load_config("imagenet", []).optim.batch_size * 8 == 4096


def _fmt(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def test_protocol_paragraphs_state_the_codes_grids():
    """The evaluation section's grids and budgets, rendered from the constants the commands use."""
    lam = logreg.LAMBDAS
    lo, hi = np.log10(lam[0]), np.log10(lam[-1])
    phrases = [
        f"{len(lam)} values of lambda in `logspace({lo:g}, {hi:g}, {len(lam)})`",
        f"base LR grid {{{_fmt(linear.LINEAR_BASE_LRS)}}}",
        f"batch {grids.LINEAR_AUG_BATCH}, {grids.LINEAR_AUG_EPOCHS} epochs",
        f"batch {grids.FINETUNE_BATCH}, {grids.FINETUNE_STEPS:,} steps",
        f"LR in `logspace({np.log10(grids.FINETUNE_LRS[0]):g}, {np.log10(grids.FINETUNE_LRS[-1]):g}, "
        f"{len(grids.FINETUNE_LRS)})`",
        f"{{0}} and `logspace({np.log10(grids.FINETUNE_WDS[1]):g}, {np.log10(grids.FINETUNE_WDS[-1]):g}, "
        f"{len(grids.FINETUNE_WDS) - 1})`",
        f"the best of the {len(grids.FINETUNE_LRS) * len(grids.FINETUNE_WDS)}",
        f"({len(grids.FINETUNE_LRS) * len(grids.FINETUNE_WDS)}-point grid)",
        f"batch {grids.SEMISUP_BATCH}, no weight decay, LR in {{{_fmt(grids.SEMISUP_LRS)}}} x epochs in "
        f"{{{_fmt(grids.SEMISUP_EPOCHS)}}}",
    ]
    text = " ".join(README.split())  # paragraphs wrap anywhere
    for phrase in phrases:
        assert phrase in text, f"README does not say {phrase!r}"


def test_default_run_random_init_column_matches_the_learning_checks_reference():
    """The README's default-run table and the learning check quote the same random-init figures."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from learning_check import CPU_RANDOM_INIT
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    (knn,) = _table_rows(r"kNN k=20 / k=200")
    lin = _table_rows(r"linear, cached features")[0]  # the default run's table, before the three seeds'
    assert len(lin) == 4
    def points(cell: str) -> list[float]:  # the numbers of a cell, its bootstrap intervals ([low, high]) left out
        return [float(v) for v in re.sub(r"\s*\[[^\]]*\]", "", cell).replace("+", "").split(" / ")]

    assert points(knn[2]) == [round(CPU_RANDOM_INIT["knn_k20"], 1), round(CPU_RANDOM_INIT["knn_k200"], 1)]
    assert points(lin[2]) == [round(CPU_RANDOM_INIT["linear"], 1)]
    for row in (knn, lin):  # the gain column is BYOL minus random init, as printed
        ours, rand, gain = points(row[1]), points(row[2]), points(row[3])
        assert gain == pytest.approx([a - b for a, b in zip(ours, rand, strict=True)], abs=0.051)
        for cell in row[1:]:  # every number with its interval, and the number inside it
            for value, low, high in re.findall(r"([\d.]+) \[([−\d.-]+), ([\d.]+)\]", cell):
                assert float(low.replace("−", "-")) <= float(value) <= float(high), cell


def _readme_commands() -> list[list[str]]:
    """Every ``byol ...`` command line of the README's code blocks, continuation lines joined, comments cut."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        line = line.split("   #")[0].split("  #")[0].strip()
        for part in re.split(r"&&|;", line):
            words = shlex.split(part.strip(), comments=True)
            for i, w in enumerate(words):
                if w in ("byol", "byol_pkg") and (i == 0 or words[i - 1] in ("-m",)):
                    commands.append(words[i + 1:])
                    break
    return commands


def test_every_byol_command_in_the_readme_parses():
    """Each README command names a real subcommand with options it accepts (catches a renamed flag)."""
    commands = _readme_commands()
    assert len(commands) >= 15
    subparsers = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for words in commands:
        assert words and words[0] in subparsers.choices, f"README: unknown command byol {' '.join(words)}"
        known = subparsers.choices[words[0]]._option_string_actions
        for w in words[1:]:
            if w.startswith("--"):
                assert w.split("=")[0] in known, f"README: byol {words[0]} has no option {w}"


def test_readme_configs_and_presets_exist():
    for path in set(re.findall(r"config/[\w.]+\.yaml", README)):
        assert (ROOT / path).is_file(), f"README names {path}, which does not exist"
    for name in set(re.findall(r"byol pretrain --config (\w+) ", README)):
        assert (ROOT / "byol_pkg/pretrain_presets" / f"{name}.yaml").is_file(), name
