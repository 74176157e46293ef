"""The error contract: every error a user can fix derives from :class:`ByolError`, and its message is one line
naming the file or config key and what was expected. ``byol``'s entry point catches :class:`ByolError` once and
prints ``byol <command>: error: <message>`` (exit code 2); anything else is a bug and keeps its traceback.

Each class also derives from the built-in type a caller would naturally catch (``ValueError``,
``FileNotFoundError``, ``RuntimeError``), so library users need not know this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def one_line(text: str) -> str:
    """Collapse every whitespace run (newlines included) to one space, so that a message stays on one line."""
    return " ".join(str(text).split())


class ByolError(Exception):
    """Base of every domain error: bad input the user can fix (the message is one line)."""

    def __str__(self) -> str:
        return one_line(self.args[0]) if self.args else ""


class ConfigError(ByolError, ValueError):
    """A config file or override that does not fit the schema (the message names the key)."""


class UnknownDatasetError(ByolError, ValueError):
    """A dataset name or split that is not registered (the message lists the allowed ones)."""


class DatasetNotFoundError(ByolError, FileNotFoundError):
    """A dataset's files are not where we looked; the message says where and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    @classmethod
    def build(cls, dataset: str, split: str, looked_in: Iterable[str | os.PathLike[str]], expected: str,
              hint: str) -> DatasetNotFoundError:
        """Standard message: what, where we looked, the expected layout and how to provide it."""
        places = ", ".join(str(p) for p in looked_in)
        return cls(f"dataset '{dataset}' (split '{split}') not found; looked in: {places}; "
                   f"expected layout: {expected}; to fix: {hint}")


class DatasetFormatError(ByolError, ValueError):
    """A dataset file exists but is malformed (bad magic, truncated, wrong shape)."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        super().__init__(one_line(f"{self.path}: {problem}"))


class UnknownMetricError(ByolError, ValueError):
    """A metric name that is not one of ``byol_pkg.metrics.METRICS``."""


class SplitError(ByolError, ValueError):
    """A validation hold-out or labelled subset that cannot be drawn from a split (too few images per class)."""


class InputFileError(ByolError, ValueError):
    """A file given on the command line (result records, subset list, ...) is missing or malformed."""


class CheckpointError(ByolError, RuntimeError):
    """A training checkpoint that cannot be used to resume or export."""


class EncoderLoadError(ByolError, ValueError):
    """An encoder file that cannot be used (names the file and what was expected)."""


class OfficialCheckpointError(EncoderLoadError):
    """An official checkpoint that cannot be converted (names the file and what was expected)."""


class SweepStateError(ByolError, ValueError):
    """A sweep's work folder holds the unfinished state of a different sweep."""
