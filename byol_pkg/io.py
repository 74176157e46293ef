"""Atomic file writes: write a temporary file in the same folder, flush it to disk, then rename over the target.

A reader never sees a half-written artifact, and a kill mid-write leaves the previous version intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from .errors import InputFileError


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(fileobj)`` on a temporary file next to ``path`` and rename it to ``path`` once complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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
