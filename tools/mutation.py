"""Mutation testing of the modules that compute what the paper reports (issue 16), with cosmic-ray.

Each target module is mutated one small change at a time (an operator, a comparison, a constant, a boolean, a
loop that runs zero times, ...) in a scratch copy of the repository, and its focused tests run against each
mutant. A mutant the tests still pass ("survivor") is a change to what is computed that no test notices, or an
equivalent program; ``docs/mutation.md`` lists every survivor with the reason it is harmless or the test that
now kills it.

Not part of CI (it runs the focused tests about a thousand times). Run it from the repository root with a
Python that has cosmic-ray, pointing ``--test-python`` at the project's interpreter::

    python -m venv .mutation-venv && .mutation-venv/bin/pip install cosmic-ray==8.4.6
    .mutation-venv/bin/python tools/mutation.py --test-python .venv/bin/python --jobs 2

Sessions live under ``--work`` (default ``.mutation/``, git-ignored) and resume: a rerun executes only the
mutants not yet tested (``--fresh`` starts over; ``--recheck`` tests the survivors again against the tests
written since). The summary goes to ``<work>/summary.json`` and is printed as
a Markdown table; ``--survivors`` prints each survivor's diff.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    """One mutation session: the modules mutated and the tests that must notice."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]


#: What the paper reports is computed here; the tests named are those that check these modules' numbers.
TARGETS: dict[str, Target] = {
    "metrics": Target(("byol_pkg/metrics.py",), ("tests/test_metrics.py",)),
    "loss": Target(("byol_pkg/loss.py",), ("tests/test_loss.py",)),
    "schedules": Target(("byol_pkg/schedules.py",), ("tests/test_schedules.py",)),
    "optim": Target(("byol_pkg/optim.py",), ("tests/test_optim.py",)),
    "logreg": Target(("byol_pkg/eval/logreg.py",), ("tests/test_logreg.py", "tests/test_paper_defaults.py")),
    "linear": Target(("byol_pkg/eval/linear.py",), ("tests/test_linear_eval.py", "tests/test_paper_defaults.py")),
    "splits": Target(("byol_pkg/data/validation.py", "byol_pkg/data/subsets.py"),
                     ("tests/test_subsets.py",
                      "tests/test_eval_features.py::test_heldout_is_stratified_deterministic_and_saved")),
    "finetune_grid": Target(("byol_pkg/eval/grids.py", "byol_pkg/eval/sweep.py"),
                            ("tests/test_finetune.py", "tests/test_paper_defaults.py")),
}

#: Operators left out (cosmic-ray's names; matched from the start). Kept: arithmetic among + - * /, every
#: comparison among == != < <= > >= (and is <-> is not), numbers +-1, True/False, and/or, not, break/continue,
#: unary minus, zero-iteration loops. Left out: mutants that test bit-twiddling this code never does, or that
#: rewrite names and decorators at random rather than model a plausible one-line mistake.
EXCLUDED_OPERATORS: tuple[str, ...] = (
    r"core/ReplaceBinaryOperator_\w+_(FloorDiv|Mod|Pow|RShift|LShift|BitOr|BitAnd|BitXor)$",
    r"core/ReplaceBinaryOperator_(RShift|LShift|BitOr|BitAnd|BitXor)_",
    r"core/ReplaceComparisonOperator_(Eq|NotEq|Lt|LtE|Gt|GtE)_(Is|IsNot)$",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(Eq|NotEq|Lt|LtE|Gt|GtE)$",
    r"core/ReplaceUnaryOperator_\w+_Invert$",
    r"core/VariableInserter",
    r"core/VariableReplacer",
    r"core/RemoveDecorator",
    r"core/ExceptionReplacer",
)


def _tool(name: str) -> str:
    """A cosmic-ray command installed beside this interpreter."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise SystemExit(f"mutation: {path} not found; install cosmic-ray into this interpreter's environment "
                         f"({sys.executable} -m pip install cosmic-ray==8.4.6)")
    return str(path)


def _copy_tree(dest: Path) -> None:
    """The repository's files (tracked and untracked, not ignored) copied to ``dest``, without bytecode."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _write_config(name: str, target: Target, work: Path, test_python: str) -> Path:
    """The session's cosmic-ray config: the modules, the focused tests, the operators left out."""
    config = work / name / "config.toml"
    config.write_text(f"""[cosmic-ray]
module-path = {_toml_list(target.modules)}
timeout = 300.0
excluded-modules = []
test-command = "{test_python} -m pytest -x -q -p no:cacheprovider -p no:randomly {" ".join(target.tests)}"

[cosmic-ray.distributor]
name = "local"

[cosmic-ray.filters.operators-filter]
exclude-operators = {_toml_list(EXCLUDED_OPERATORS)}
""")
    return config


def prepare(name: str, target: Target, work: Path, test_python: str, fresh: bool) -> Path:
    """Copy the tree, write the session's config and create the session (unless it exists)."""
    tree = work / name / "tree"
    session = work / name / "session.sqlite"
    if fresh and (work / name).exists():
        shutil.rmtree(work / name)
    if session.is_file():
        return session
    tree.mkdir(parents=True, exist_ok=True)
    _copy_tree(tree)
    config = _write_config(name, target, work, test_python)
    tmp = session.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    subprocess.run([_tool("cosmic-ray"), "init", str(config), str(tmp)], cwd=tree, check=True)
    subprocess.run([_tool("cr-filter-operators"), str(tmp), str(config)], cwd=tree, check=True)
    subprocess.run([_tool("cr-filter-pragma"), str(tmp)], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    tmp.rename(session)  # a session exists only once it is filtered: a kill before this starts over
    return session


def execute(name: str, work: Path) -> None:
    """Run the unmutated tests once (they must pass), then every pending mutant; resumable."""
    tree, config, session = work / name / "tree", work / name / "config.toml", work / name / "session.sqlite"
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "BYOL_JOB_CORES": "1"}
    base = subprocess.run([_tool("cosmic-ray"), "baseline", str(config)], cwd=tree, env=env)
    if base.returncode != 0:
        raise SystemExit(f"mutation: {name}: the unmutated tests fail; fix them first")
    subprocess.run([_tool("cosmic-ray"), "exec", str(config), str(session)], cwd=tree, env=env, check=True)


def recheck(name: str, work: Path, test_python: str) -> int:
    """Refresh the session's copy of ``tests/`` (and its test command) from the repository and mark its
    survivors untested again, so that ``execute`` runs them against the tests written since (the mutated modules must not have changed: the
    mutants' positions refer to the copy's source). Returns how many survivors go back to pending."""
    tree = work / name / "tree"
    before = work / name / "first_pass.json"  # the score before any recheck, for the closing note
    if not before.is_file():
        before.write_text(json.dumps(summarise(name, work), indent=1))
    for rel in TARGETS[name].modules:
        if (ROOT / rel).read_bytes() != (tree / rel).read_bytes():
            raise SystemExit(f"mutation: {name}: {rel} changed since the session began; rerun it with --fresh")
    _write_config(name, TARGETS[name], work, test_python)
    shutil.rmtree(tree / "tests")
    shutil.copytree(ROOT / "tests", tree / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    with sqlite3.connect(work / name / "session.sqlite") as db:
        return db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount


def summarise(name: str, work: Path) -> dict:
    """Counts of killed, surviving and pending mutants, and each survivor's diff."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    out = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "pending": 0, "survivors": []}
    with use_db(str(work / name / "session.sqlite"), WorkDB.Mode.open) as db:
        results = dict(db.results)
        for item in db.work_items:
            result = results.get(item.job_id)
            if result is None:
                out["pending"] += 1
            elif result.worker_outcome == WorkerOutcome.SKIPPED:
                out["skipped"] += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                out["survived"] += 1
                m = item.mutations[0]
                out["survivors"].append({"module": Path(m.module_path).as_posix(), "line": m.start_pos[0],
                                         "operator": m.operator_name, "diff": result.diff})
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                out["incompetent"] += 1
            else:
                out["killed"] += 1
    tested = out["killed"] + out["survived"]
    out["score"] = round(100.0 * out["killed"] / tested, 1) if tested else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="*", default=list(TARGETS), help=f"default: all of {', '.join(TARGETS)}")
    p.add_argument("--work", type=Path, default=ROOT / ".mutation")
    p.add_argument("--test-python", default=str(ROOT / ".venv/bin/python"),
                   help="the interpreter that runs the tests (has byol_pkg's dependencies)")
    p.add_argument("--jobs", type=int, default=1, help="sessions run side by side (one core each)")
    p.add_argument("--fresh", action="store_true", help="discard existing sessions")
    p.add_argument("--report-only", action="store_true", help="summarise the sessions without running")
    p.add_argument("--recheck", action="store_true",
                   help="run the survivors again against the repository's current tests")
    p.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    args = p.parse_args(argv)
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        p.error(f"unknown targets {unknown}; known: {sorted(TARGETS)}")
    args.work = args.work.resolve()
    if not args.report_only:
        sessions = {n: prepare(n, TARGETS[n], args.work, args.test_python, args.fresh) for n in args.targets}
        if args.recheck:
            for n in sessions:
                print(f"{n}: {recheck(n, args.work, args.test_python)} survivors to test again")
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for future in [pool.submit(execute, n, args.work) for n in sessions]:
                future.result()
    summary = {n: summarise(n, args.work) for n in args.targets if (args.work / n / "session.sqlite").is_file()}
    (args.work / "summary.json").write_text(json.dumps(summary, indent=1))
    print("| target | modules | mutants tested | killed | survived | score % | pending | first pass % |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for n, s in summary.items():
        first = args.work / n / "first_pass.json"
        was = json.loads(first.read_text())["score"] if first.is_file() else s["score"]
        print(f"| {n} | {', '.join(TARGETS[n].modules)} | {s['killed'] + s['survived']} | {s['killed']} | "
              f"{s['survived']} | {s['score']} | {s['pending']} | {was} |")
    if args.survivors:
        for n, s in summary.items():
            for v in s["survivors"]:
                print(f"\n## {n}: {v['module']}:{v['line']} {v['operator']}\n{v['diff']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
