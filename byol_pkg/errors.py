"""The error contract: every error a user can fix derives from :class:`ByolError`, and its message is one line
naming the file or config key and what was expected. ``byol``'s entry point catches :class:`ByolError` once and
prints ``byol <command>: error: <message>`` with the class's :attr:`~ByolError.exit_code`; anything else is a bug
and keeps its traceback.

Exit codes (one per kind of fault, so that a scheduler or script can tell them apart):

====  ========================================================================================================
0     success
1     a bug (an uncaught exception, with its traceback)
2     bad config or arguments (:class:`ConfigError`, unknown dataset / split / metric, a split too small);
      argparse's own usage errors use 2 as well
3     bad or missing input data (:class:`DatasetNotFoundError`, :class:`DatasetFormatError`,
      :class:`InputFileError`; a download whose checksum differs, :class:`ChecksumError`; a dataset with no
      public source, :class:`ManualDownloadError`)
4     an unusable checkpoint or encoder (:class:`CheckpointError`, :class:`EncoderLoadError`)
5     training diverged (:class:`DivergenceError`: a non-finite loss or encoder)
6     the output cannot be written as asked (:class:`OutputError`: a locked or finished run folder, an
      unwritable path, a sweep folder of another sweep)
7     the system refused a write or read (``OSError``: disk full, quota, permission, read-only file system; a
      URL that cannot be fetched, :class:`DownloadError`)
130   interrupted by SIGINT (Ctrl-C), after saving what can be resumed
143   stopped by SIGTERM (SLURM's time limit or preemption), after saving what can be resumed
====  ========================================================================================================

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

    exit_code = 2
    label = "error"  # the word after ``byol <command>:`` in the one line

    def __str__(self) -> str:
        return one_line(self.args[0]) if self.args else ""


class ConfigError(ByolError, ValueError):
    """A config file or override that does not fit the schema (the message names the key)."""


class UnknownDatasetError(ByolError, ValueError):
    """A dataset name or split that is not registered (the message lists the allowed ones)."""


class DatasetNotFoundError(ByolError, FileNotFoundError):
    """A dataset's files are not where we looked; the message says where and how to fix it."""

    exit_code = 3

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

    exit_code = 3

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        super().__init__(one_line(f"{self.path}: {problem}"))


class UnknownMetricError(ByolError, ValueError):
    """A metric name that is not one of ``byol_pkg.metrics.METRICS``."""


class SplitError(ByolError, ValueError):
    """A validation hold-out or labelled subset that cannot be drawn from a split (too few images per class)."""


class InputFileError(ByolError, ValueError):
    """A file given on the command line (result records, subset list, ...) is missing or malformed."""

    exit_code = 3


class CheckpointError(ByolError, RuntimeError):
    """A training checkpoint that cannot be used to resume or export."""

    exit_code = 4


class EncoderLoadError(ByolError, ValueError):
    """An encoder file that cannot be used (names the file and what was expected)."""

    exit_code = 4


class OfficialCheckpointError(EncoderLoadError):
    """An official checkpoint that cannot be converted (names the file and what was expected)."""


class SweepStateError(ByolError, ValueError):
    """A sweep's work folder holds the unfinished state of a different sweep."""

    exit_code = 6


class OutputError(ByolError, ValueError):
    """An output path that cannot be written as asked: empty, under a file, in a read-only folder, a run folder
    held by another writer, or a finished run that a different config would replace."""

    exit_code = 6


class RunLockedError(OutputError):
    """A run folder that another live process is writing (the message names its PID and host)."""


class DivergenceError(ByolError, RuntimeError):
    """Training produced a non-finite loss or weights; nothing non-finite was exported."""

    exit_code = 5


class Interrupted(ByolError):
    """SIGINT or SIGTERM stopped a run after it saved what can be resumed; exits with 128 + the signal number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
        self.label = "stopped"


class SignalStop(KeyboardInterrupt):
    """SIGTERM raised as an interrupt (like Ctrl-C's ``KeyboardInterrupt``, so that no ``except Exception``
    swallows it) in commands that have no step to finish first; ``byol`` exits with ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: The exit code of an ``OSError`` the system raised (disk full, permission, read-only file system).
OS_ERROR_EXIT = 7


def os_error_line(err: OSError) -> str:
    """One line for an ``OSError``: the file it names and the system's reason (``No space left on device``)."""
    where = err.filename if err.filename is not None else ""
    reason = err.strerror or type(err).__name__
    return one_line(f"{where}: {reason}" if where else reason)


# ------------------------------------------------------------------------------------------ dataset downloads


class DownloadError(ByolError, RuntimeError):
    """A URL that cannot be fetched (unreachable, an HTTP error, the transfer breaks off on every attempt)."""

    exit_code = 7  # the system refused the read (network), like an OSError


class ChecksumError(DatasetFormatError):
    """A downloaded file whose checksum differs from the published one, or an archive that cannot be unpacked."""


class ManualDownloadError(DatasetNotFoundError):
    """A dataset with no public source: the message lists the manual steps and the layout expected."""
