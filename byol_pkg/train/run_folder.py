"""A pretraining run folder's ownership and identity: one writer at a time (:class:`RunLock`), and a config
fingerprint kept with the finished run (:func:`config_fingerprint`), so that a different config never silently
replaces a run (:func:`check_run_folder`).

The lock is a file, ``<run>/run.lock``, holding the writer's PID, host, process start time and command. It is
made by a hard link from a complete temporary file, which is atomic on local and network file systems alike, so
two writers starting together cannot both win. A lock whose process is gone (same host, no such PID, or the PID
now belongs to a process started at another time) is stale and taken over with a warning; a lock held by a live
process, or by a process on another host (which cannot be checked from here), is refused with one line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..config import Config, TrackingConfig, config_from_dict, read_yaml, to_flat_dict
from ..errors import ConfigError, OutputError, RunLockedError

log = logging.getLogger(__name__)

LOCK_NAME = "run.lock"
#: Config keys that may change between a run and its resume (they do not change what is learned).
RESUMABLE_CHANGES = (
    "train.max_steps", "train.progress", "train.log_every_steps", "train.checkpoint_every_steps",
    "train.checkpoint_every_epochs", "train.device", "train.compile", "train.deterministic", "train.cpu_threads",
    "data.num_workers", "data.root", "data.download", "augment.on_device", "augment.decode", "augment.backend",
    *(f"tracking.{f.name}" for f in dataclasses.fields(TrackingConfig)),  # tracking never changes what is learned
)
#: What a run folder holds once a run has written it (removed by ``--overwrite`` before a different run starts).
RUN_FILES = ("checkpoints", "metrics.csv", "summary.json", "encoder.pt", "encoder.json", "encoder.timm",
             "config.yaml", "tracking.json", "dvclive", "tensorboard")


def learned_settings(cfg: Config) -> dict[str, Any]:
    """The flat config without :data:`RESUMABLE_CHANGES`: the settings that decide what a run learns."""
    return {k: v for k, v in to_flat_dict(cfg).items() if k not in RESUMABLE_CHANGES}


def config_fingerprint(cfg: Config) -> str:
    """SHA-256 (hex) of :func:`learned_settings`: equal for a run and its resume, different for another run."""
    text = json.dumps(learned_settings(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def first_difference(old: Config, new: Config) -> tuple[str, Any, Any] | None:
    """``(key, old value, new value)`` of the first learned setting that differs, or None."""
    a, b = learned_settings(old), learned_settings(new)
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return key, a.get(key), b.get(key)
    return None


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` runs on this host and is the one that took the lock (same start time)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    now = _process_start(pid)
    return start is None or now is None or now == start


class RunLock:
    """``with RunLock(run_dir): ...``: hold ``run_dir/run.lock`` while writing the run folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        """The lock file's record (None if there is none; ``{}`` if it is unreadable)."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        """Take the lock, replacing a stale one; :class:`RunLockedError` if a live process holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "start": _process_start(os.getpid()),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
        tmp = self.folder / f".{LOCK_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record) + "\n")
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)
                    self.held = True
                    return
                except FileExistsError:
                    self._clear_if_stale()
            raise RunLockedError(f"{self.folder}: could not take {self.path} (another writer keeps taking it)")
        finally:
            tmp.unlink(missing_ok=True)

    def _clear_if_stale(self) -> None:
        holder = self.holder()
        if holder is None:
            return  # released meanwhile: try again
        here = socket.gethostname()
        pid, host = holder.get("pid"), holder.get("host")
        if holder and host == here and isinstance(pid, int) and not _alive(pid, holder.get("start")):
            log.warning("%s: removing the stale lock of PID %s on %s (that process is gone)", self.folder, pid, host)
        elif not holder and time.time() - self._mtime() > 60:
            log.warning("%s: removing an unreadable lock file older than a minute", self.path)
        else:
            who = f"PID {pid} on host {host}" if holder else "an unknown process (unreadable lock)"
            since = f" since {holder['since']}" if holder.get("since") else ""
            raise RunLockedError(
                f"{self.folder} is being written by {who}{since} ({self.path}); wait for it to finish or stop it "
                f"(if that process is gone, delete {self.path})")
        stale = self.path.with_name(f".{LOCK_NAME}.stale.{os.getpid()}")
        try:  # rename, then delete: of two processes clearing the same stale lock, only one succeeds
            os.replace(self.path, stale)
            stale.unlink(missing_ok=True)
        except FileNotFoundError:
            pass

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return time.time()

    def release(self) -> None:
        """Remove the lock if this process still holds it."""
        if self.held and (self.holder() or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _saved_config(folder: Path) -> Config | None:
    """The run folder's ``config.yaml`` as a :class:`Config` (None if absent)."""
    path = folder / "config.yaml"
    if not path.is_file():
        return None
    try:
        return config_from_dict(read_yaml(path), str(path))
    except ConfigError as err:
        raise OutputError(f"{path} cannot be read as a run config ({err}); write to a new --out folder, or pass "
                          "--overwrite to replace the run") from None


def _saved_fingerprint(folder: Path) -> str | None:
    try:
        return json.loads((folder / "summary.json").read_text()).get("config_sha256")
    except (OSError, ValueError, AttributeError):
        return None


def check_run_folder(folder: str | os.PathLike, cfg: Config, overwrite: bool = False) -> None:
    """Refuse to write a run of ``cfg`` into a folder that holds a run of a different config (its ``config.yaml``
    or the fingerprint in its ``summary.json``), unless ``overwrite``: then the old run's files are removed
    first. Call it while holding the folder's :class:`RunLock`."""
    folder = Path(folder)
    old = _saved_config(folder)
    diff = first_difference(old, cfg) if old is not None else None
    saved = _saved_fingerprint(folder)
    if diff is None and (saved is None or saved == config_fingerprint(cfg)):
        return
    what = (f"was run with {diff[0]}={diff[1]!r} and this config says {diff[2]!r}" if diff
            else "holds a finished run of a different config (summary.json's config_sha256)")
    if not overwrite:
        raise OutputError(f"{folder} {what}; write to a new --out folder, or pass --overwrite to replace that run")
    log.warning("%s %s: --overwrite, removing the old run's files", folder, what)
    for name in RUN_FILES:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
