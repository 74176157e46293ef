"""Experiment tracking (``docs/tracking.md``): one interface, :class:`Tracking` (params once, metrics at a step, a
final summary, close), over three optional backends, each imported only when enabled: DVCLive (``dvclive.Live``),
MLflow (``mlflow.MlflowClient``) and TensorBoard (``torch.utils.tensorboard.SummaryWriter``).

A tracked run keeps its state in ``<folder>/tracking.json`` (written atomically): what it tracks (an identity:
the config fingerprint of a pretraining run, the arguments of an evaluation), the MLflow run id, and whether it
finished. A command that runs again on the same folder and identity continues the same tracked run, from
``resume_step`` (the step of the checkpoint it resumes from), and every store ends with each step once, holding
what ``metrics.csv`` holds:

* DVCLive: ``Live(resume=True)``; the rows after ``resume_step`` (logged before a kill, then recomputed) are
  dropped from its ``plots/metrics/**.tsv`` files first, so the resumed run overwrites them.
* TensorBoard: the same log dir, ``SummaryWriter(purge_step=resume_step + 1)``: readers (TensorBoard,
  ``EventAccumulator``) drop the older events at or after that step.
* MLflow: the same run id. Its metric points cannot be deleted, so MLflow receives a row only once a checkpoint
  covers it (:meth:`Tracking.checkpoint`, at a stop and at the end): what it holds is never recomputed.

Non-finite values (tau of a method without a target network) are not logged. Only the main process tracks.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import TrackingConfig
from ..errors import ConfigError
from ..io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

STATE_FILE = "tracking.json"
BACKENDS = ("dvclive", "mlflow", "tensorboard")
#: The package each backend imports, as pip names it (all three are in the ``tracking`` extra).
PACKAGES = {"dvclive": "dvclive", "mlflow": "mlflow", "tensorboard": "tensorboard"}
#: The default local MLflow store, relative to the working directory.
MLFLOW_DIR = "mlruns"
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-./ ]")


def metric_key(name: str) -> str:
    """A key every backend accepts (MLflow: letters, digits, ``_-./`` and space): ``top1/k=20`` ->
    ``top1/k_20``."""
    return _KEY_CHARS.sub("_", str(name))


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten` (DVCLive's params.yaml is nested; DVC shows it flattened again)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def param_text(value: Any) -> str | int | float | bool:
    """A param value as MLflow and TensorBoard's hparams take it: numbers, strings and booleans as they are,
    anything else (None, lists) as JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def identity_hash(identity: Any) -> str:
    """SHA-256 of what a tracked run tracks (a JSON-able value)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _import(backend: str, option: str):
    """The backend's module, or a one-line :class:`ConfigError` naming ``option`` and the pip extra."""
    try:
        if backend == "dvclive":
            import dvclive as module
        elif backend == "mlflow":
            import mlflow as module
        else:
            from torch.utils import tensorboard as module
    except ImportError as err:
        raise ConfigError(f"{option}: {backend} is enabled but the package is not installed ({err}); "
                          f"pip install 'byol-bench[tracking]' (or pip install {PACKAGES[backend]})") from None
    return module


def check_packages(cfg: TrackingConfig, option: str = "config key 'tracking.{}'") -> list[str]:
    """The backends ``cfg`` enables, once each one's package imports (else the one-line :class:`ConfigError`):
    call it before any work."""
    enabled = [b for b in BACKENDS if getattr(cfg, b)]
    for backend in enabled:
        _import(backend, option.format(backend))
    return enabled


def truncate_tsv(folder: Path, last_step: int) -> int:
    """Drop the rows of every DVCLive metric file (``*.tsv`` under ``folder``) after ``last_step``, rewriting each
    file atomically; returns how many rows went."""
    dropped = 0
    for path in sorted(folder.rglob("*.tsv")):
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        col = rows[0].index("step")
        kept = [rows[0]] + [r for r in rows[1:] if len(r) > col and int(float(r[col])) <= last_step]
        if len(kept) < len(rows):
            dropped += len(rows) - len(kept)
            buf = io.StringIO()
            csv.writer(buf, delimiter="\t", lineterminator=os.linesep).writerows(kept)
            atomic_write_text(path, buf.getvalue())
    return dropped


def _repair_json(path: Path) -> None:
    """DVCLive rewrites its summary in place: a kill in the middle leaves it empty, and ``Live(resume=True)`` would
    fail on it. It is replaced by ``{}`` (the next log writes it again)."""
    try:
        json.loads(path.read_text())
    except ValueError:
        log.warning("%s was cut short (a kill while DVCLive wrote it): rewritten", path)
        atomic_write_json(path, {})


class DvcLiveBackend:
    """DVCLive in ``folder``, with its own ``dvc.yaml`` there (``dvc exp show``, ``dvc plots show``)."""

    def __init__(self, folder: Path, continuing: bool, resume_step: int | None) -> None:
        from dvclive import Live

        self.folder = folder
        self.new = not (continuing and (folder / "metrics.json").is_file())
        if not self.new and resume_step is not None:
            self.rewind(resume_step)
        if not self.new:
            _repair_json(folder / "metrics.json")
        # dvcyaml=None: DVCLive 3.49 duplicates the entries of a dvc.yaml kept inside its own folder at every
        # sync, so this one is written once, below, with the entries DVCLive would write
        self.live = Live(str(folder), resume=not self.new, dvcyaml=None, save_dvc_exp=False)
        atomic_write_text(folder / "dvc.yaml", yaml.safe_dump(
            {"params": ["params.yaml"], "metrics": ["metrics.json"], "plots": [{"plots/metrics": {"x": "step"}}]},
            sort_keys=False))

    def log_params(self, params: dict[str, Any]) -> None:
        self.live.log_params(nest(params))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.live.step = step
        for key, value in metrics.items():
            self.live.log_metric(key, value)
        self.live.make_summary()

    def flush(self) -> None:
        pass

    def rewind(self, step: int) -> None:
        dropped = truncate_tsv(self.folder / "plots", step)
        if dropped:
            log.info("%s: %d rows after step %d dropped (the resumed run logs them again)", self.folder, dropped,
                     step)

    def log_summary(self, summary: dict[str, Any], step: int) -> None:
        self.live.step = step
        for key, value in summary.items():
            self.live.log_metric(key, value, plot=False)
        self.live.make_summary()

    def close(self, status: str) -> None:
        self.live.end()


class TensorBoardBackend:
    """A TensorBoard log dir: scalars by step, the params as hparams (and as YAML text)."""

    def __init__(self, folder: Path, continuing: bool, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = folder
        old = sorted(folder.glob("events.out.tfevents.*")) if folder.is_dir() else []
        self.new = not (continuing and old)
        if self.new:
            for path in old:  # the events of a run this one replaces
                path.unlink()
        purge = None if self.new or resume_step is None else resume_step + 1
        self.writer = SummaryWriter(str(folder), purge_step=purge)

    def rewind(self, step: int) -> None:
        """A new event file whose first event purges the older events at or after ``step + 1``."""
        from torch.utils.tensorboard import SummaryWriter

        self.writer.close()
        self.writer = SummaryWriter(str(self.folder), purge_step=step + 1)

    def log_params(self, params: dict[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        hp = {k: param_text(v) for k, v in params.items()}
        for summary in hparams(hp, {}):
            self.writer.file_writer.add_summary(summary, 0)
        self.writer.add_text("params", "```\n" + yaml.safe_dump(nest(params), sort_keys=False) + "```", 0)
        self.writer.flush()

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def flush(self) -> None:
        self.writer.flush()

    def log_summary(self, summary: dict[str, Any], step: int) -> None:
        self.log_metrics({f"summary/{k}": v for k, v in summary.items()}, step)

    def close(self, status: str) -> None:
        self.writer.close()


def mlflow_uri(uri: str | None) -> str:
    """The tracking URI: ``uri``, or the local store ``mlruns/`` (a SQLite database ``mlruns/mlflow.db``: MLflow
    3.18 refuses ``file:`` stores unless ``MLFLOW_ALLOW_FILE_STORE=true``). A ``file:`` URI or a plain folder is
    a file store: allowed here for this process, with a warning (MLflow keeps it in maintenance mode)."""
    if uri is None:
        folder = Path(MLFLOW_DIR).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mlflow.db'}"
    if uri.startswith("file:") or "://" not in uri and not uri.startswith(("sqlite:", "databricks")):
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE") is None:
            log.warning("MLflow file store %s: MLflow calls it maintenance mode; allowed for this run "
                        "(MLFLOW_ALLOW_FILE_STORE=true)", uri)
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    return uri


class MlflowBackend:
    """One MLflow run, continued by its id; rows are sent in batches once a checkpoint covers them."""

    def __init__(self, uri: str | None, experiment: str, name: str, saved: dict | None) -> None:
        from mlflow import MlflowClient

        self.uri = mlflow_uri(uri)
        self.client = MlflowClient(tracking_uri=self.uri)
        self.pending: list = []
        run = None
        if saved and saved.get("uri") == self.uri and saved.get("run_id"):
            try:
                run = self.client.get_run(saved["run_id"])
            except Exception:  # noqa: BLE001 - gone from the store (any MlflowException): start a new run
                log.warning("MLflow run %s is not in %s: starting a new run", saved["run_id"], self.uri)
        self.new = run is None
        if run is None:
            run = self.client.create_run(self._experiment_id(experiment), run_name=name)
        else:
            self.client.update_run(run.info.run_id, status="RUNNING")
        self.run_id = run.info.run_id

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except Exception:  # noqa: BLE001 - created meanwhile by a concurrent job
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def state(self) -> dict[str, str]:
        return {"uri": self.uri, "run_id": self.run_id}

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(param_text(v))) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow's batch limit for params
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]

    def rewind(self, step: int) -> None:
        self.pending = [m for m in self.pending if m.step <= step]

    def flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:1000], self.pending[1000:]  # MLflow's batch limit for metrics
            self.client.log_batch(self.run_id, metrics=batch)

    def log_summary(self, summary: dict[str, Any], step: int) -> None:
        self.log_metrics({f"summary/{k}": v for k, v in summary.items()}, step)
        self.flush()

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


@dataclass
class TrackedRun:
    """What a tracked run is: its state folder, a name (MLflow's run name) and its identity (equal for a run and
    its resume)."""

    folder: Path
    name: str
    identity: str


class Tracking:
    """The enabled backends of one tracked run, as one; with none enabled every call does nothing."""

    def __init__(self, backends: dict[str, Any] | None = None, run: TrackedRun | None = None,
                 state: dict | None = None) -> None:
        self.backends = backends if backends is not None else {}
        self.run = run
        self.state = state if state is not None else {}
        self.closed = False

    @property
    def enabled(self) -> bool:
        return bool(self.backends)

    def log_params(self, params: dict[str, Any]) -> None:
        """Log the (flat) params to every backend that started a new run (a continued run keeps its params)."""
        flat = flatten(params)
        for backend in self.backends.values():
            if backend.new:
                backend.log_params(flat)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """The finite values of ``metrics`` at ``step`` (MLflow: sent at the next :meth:`checkpoint`)."""
        clean = {metric_key(k): float(v) for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
        if clean:
            for backend in self.backends.values():
                backend.log_metrics(clean, step)

    def rewind(self, step: int) -> None:
        """Drop what was tracked after ``step`` before a kill (the resumed computation logs it again); MLflow
        never received it (see :meth:`checkpoint`)."""
        for backend in self.backends.values():
            backend.rewind(step)

    def checkpoint(self) -> None:
        """Everything logged so far is covered by a checkpoint: send what is held back (MLflow)."""
        for backend in self.backends.values():
            backend.flush()

    def log_summary(self, summary: dict[str, Any], step: int) -> None:
        """The final numbers (finite numbers only) at the last step."""
        clean = {metric_key(k): v for k, v in summary.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        for backend in self.backends.values():
            backend.flush()
            backend.log_summary(clean, step)

    def close(self, status: str = "FINISHED") -> None:
        """End the run: ``FINISHED``, ``KILLED`` (a signal: the run is resumable) or ``FAILED``; held-back rows are
        sent first when FINISHED or KILLED (a checkpoint holds them then)."""
        if self.closed or not self.backends:
            return
        self.closed = True
        for name, backend in self.backends.items():
            try:
                if status != "FAILED":
                    backend.flush()
                backend.close(status)
            except Exception as err:  # noqa: BLE001 - closing a tracker never hides the run's own outcome
                log.warning("tracking: closing %s failed: %s", name, err)
        if self.run is not None:
            atomic_write_json(self.run.folder / STATE_FILE, {**self.state, "finished": status == "FINISHED"})

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, _tb: object) -> None:
        if exc_type is None:
            self.close("FINISHED")
        else:
            interrupted = isinstance(exc, KeyboardInterrupt) or getattr(exc, "label", "") == "stopped"
            self.close("KILLED" if interrupted else "FAILED")


def read_state(folder: Path) -> dict | None:
    """The folder's ``tracking.json`` (None if absent or unreadable)."""
    try:
        state = json.loads((Path(folder) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def open_tracking(cfg: TrackingConfig, run: TrackedRun, resume_step: int | None = 0,
                  option: str = "config key 'tracking.{}'", skip_finished: bool = False,
                  dvclive_dir: Path | None = None, tensorboard_dir: Path | None = None) -> Tracking:
    """Start (or continue, see the module's docstring) the tracked run ``run`` on the backends ``cfg`` enables.
    ``option`` names the setting in errors (``{}``: the backend). ``skip_finished``: a finished tracked run of the
    same identity is left as it is (nothing is logged). ``resume_step`` None: nothing is dropped now (a sweep calls
    :meth:`Tracking.rewind` once it knows where it resumes). DVCLive and TensorBoard write to ``cfg``'s folders, else
    ``dvclive_dir`` / ``tensorboard_dir``, else ``<run.folder>/dvclive`` / ``tensorboard``."""
    if not check_packages(cfg, option):
        return Tracking()
    saved = read_state(run.folder)
    continuing = saved is not None and saved.get("identity") == run.identity
    if continuing and skip_finished and saved.get("finished"):
        log.info("%s: this run is already tracked, finished (%s): nothing logged", run.folder, STATE_FILE)
        return Tracking()
    run.folder.mkdir(parents=True, exist_ok=True)
    backends: dict[str, Any] = {}
    state: dict[str, Any] = {"identity": run.identity, "name": run.name, "finished": False}
    tracking = Tracking(backends, run, state)
    try:
        if cfg.dvclive:
            folder = Path(cfg.dvclive_dir) if cfg.dvclive_dir else (dvclive_dir or run.folder / "dvclive")
            backends["dvclive"] = DvcLiveBackend(folder, continuing, resume_step)
            state["dvclive_dir"] = str(folder.resolve())
        if cfg.mlflow:
            backends["mlflow"] = MlflowBackend(cfg.mlflow_uri, cfg.mlflow_experiment, run.name,
                                               (saved or {}).get("mlflow") if continuing else None)
            state["mlflow"] = backends["mlflow"].state()
        if cfg.tensorboard:
            folder = (Path(cfg.tensorboard_dir) if cfg.tensorboard_dir
                      else (tensorboard_dir or run.folder / "tensorboard"))
            backends["tensorboard"] = TensorBoardBackend(folder, continuing, resume_step)
            state["tensorboard_dir"] = str(folder.resolve())
    except BaseException:
        tracking.close("FAILED")
        raise
    atomic_write_json(run.folder / STATE_FILE, state)
    news = [name for name, b in backends.items() if not b.new]
    log.info("tracking %s with %s%s", run.name, ", ".join(backends),
             (f" (continuing {', '.join(news)}" + ("" if resume_step is None else f" from step {resume_step}") + ")")
             if news else "")
    return tracking
