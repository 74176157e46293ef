"""Exceptions raised by the dataset loaders (all messages are one line)."""

from __future__ import annotations

import os
from collections.abc import Iterable


def one_line(text: str) -> str:
    """Collapse any whitespace run containing a newline so a message stays on one line."""
    return " ".join(text.split())


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where we looked; the message says where and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    def __str__(self) -> str:  # FileNotFoundError would otherwise format errno/filename
        return self.args[0]

    @classmethod
    def build(
        cls,
        dataset: str,
        split: str,
        looked_in: Iterable[str | os.PathLike[str]],
        expected: str,
        hint: str,
    ) -> DatasetNotFoundError:
        """Standard message: what, where we looked, the expected layout and how to provide it."""
        places = ", ".join(str(p) for p in looked_in)
        return cls(
            f"dataset '{dataset}' (split '{split}') not found; looked in: {places}; "
            f"expected layout: {expected}; to fix: {hint}"
        )


class DatasetFormatError(ValueError):
    """A dataset file exists but is malformed (bad magic, truncated, wrong shape)."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        super().__init__(one_line(f"{self.path}: {problem}"))
