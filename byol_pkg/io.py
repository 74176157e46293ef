"""Atomic file writes: write a temporary file in the same folder, flush it to disk, then rename over the target.

A reader never sees a half-written artifact, and a kill mid-write leaves the previous version intact. The file gets
the permissions an ordinary ``open()`` would give it (``0666`` less the process umask: ``0644`` under the usual
``022``), so a shared results folder stays readable by the group and others as its umask intends.

:func:`check_output_path` checks an output path before any work: a later write must not be the first to find that
it cannot succeed.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
import yaml

from .errors import InputFileError, OutputError


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: ``1e-6`` is a number (YAML 1.1, PyYAML's default, needs a dot
    in the mantissa, ``1.0e-6``, and reads ``1e-6`` as a string)."""


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (no objects), numbers as YAML 1.2 reads them."""
    return yaml.load(text, Loader=Yaml12Loader)


def current_umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _WriteErrors(io.RawIOBase):
    """A file object that remembers the first ``OSError`` of a write (a full disk), so that a writer that turns it
    into another exception (``torch.save`` raises a ``RuntimeError``) still fails as the system's error."""

    def __init__(self, f: IO[bytes]) -> None:
        super().__init__()
        self.f, self.error = f, None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = self.error or err
            raise

    def flush(self) -> None:
        self.f.flush()


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(fileobj)`` on a temporary file next to ``path`` and rename it to ``path`` once complete. On
    any failure (a full disk: the ``OSError``) the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp creates 0600; the artifact gets open()'s mode
        with os.fdopen(fd, "wb") as f:
            recorder = _WriteErrors(f)
            try:
                write(recorder)
            except Exception as err:
                if recorder.error is not None and err is not recorder.error:
                    raise recorder.error from None
                raise
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


def read_json(path: str | os.PathLike, expected: str = "JSON") -> Any:
    """The parsed JSON of ``path``; a missing or malformed file is an :class:`InputFileError` naming the file and
    what was ``expected`` of it."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found (expected {expected})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"{path}: cannot be read ({err}; expected {expected})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}: not valid JSON ({err}; expected {expected})") from None


def check_output_path(path: str | os.PathLike | None, option: str = "--out", folder: bool = False) -> Path | None:
    """``path`` as a :class:`Path` once it is known to be writable: not empty, no file where a folder of it
    must be, and the nearest existing folder writable. ``folder``: ``path`` itself is a folder (a run folder),
    else a file. Raises :class:`OutputError` naming ``option``; ``None`` passes through (an optional output).

    Called before any work, so that an hour of computation never ends in a write that cannot happen."""
    if path is None:
        return None
    if not str(path).strip():
        raise OutputError(f"{option}: empty path; expected a {'folder' if folder else 'file'} to write")
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise OutputError(f"{option} {path}: is a file; expected a folder (or a path that does not exist)")
        if not folder and path.is_dir():
            raise OutputError(f"{option} {path}: is a folder; expected a file path")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{option} {path}: {existing} is a file, so no folder can be made under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: folder {existing} is not writable by this user")
    return path
