"""Training checkpoints: atomic, rotating (``last.pt`` -> ``previous.pt``), kept per epoch, safe to load.

Loading uses ``torch.load(weights_only=True)``: a checkpoint holds only tensors and plain Python values.
A truncated or corrupt file is reported in one line and the next newest valid checkpoint is used instead.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..io import atomic_torch_save

log = logging.getLogger(__name__)
REQUIRED_KEYS = ("step", "online", "target", "optimizer", "config")


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint with ``weights_only=True``; raise CheckpointError (one line) if unreadable."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, not a torch file...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({reason[:200]})") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        raise CheckpointError(f"checkpoint {path} is not a byol-bench pretraining checkpoint (keys missing)")
    return state


class CheckpointManager:
    """The ``checkpoints/`` folder of a run."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.last = self.folder / "last.pt"
        self.previous = self.folder / "previous.pt"

    def epoch_path(self, epoch: int) -> Path:
        return self.folder / f"epoch_{epoch:04d}.pt"

    def save(self, state: dict[str, Any], keep_epoch: int | None = None) -> Path:
        """Write ``last.pt`` atomically (the old one becomes ``previous.pt``); optionally keep an epoch copy."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "last.pt.partial"
        atomic_torch_save(tmp, state)
        if self.last.exists():  # rotate through a link so that last.pt exists at every moment
            staging = self.folder / "previous.pt.partial"
            staging.unlink(missing_ok=True)
            try:
                os.link(self.last, staging)
            except OSError:
                shutil.copyfile(self.last, staging)
            os.replace(staging, self.previous)
        os.replace(tmp, self.last)
        if keep_epoch is not None:
            target = self.epoch_path(keep_epoch)
            target.unlink(missing_ok=True)
            try:
                os.link(self.last, target)
            except OSError:
                shutil.copyfile(self.last, target)
        return self.last

    def candidates(self) -> list[Path]:
        """Existing checkpoints, newest first: last, previous, then epoch checkpoints by epoch."""
        epochs = sorted(
            (p for p in self.folder.glob("epoch_*.pt") if re.fullmatch(r"epoch_\d+\.pt", p.name)),
            key=lambda p: int(p.stem.split("_")[1]),
            reverse=True,
        )
        return [p for p in (self.last, self.previous, *epochs) if p.is_file()]

    def load_latest(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The newest readable checkpoint (None if there is none); corrupt ones are reported and skipped."""
        found = self.candidates()
        errors = []
        for path in found:
            try:
                state = read_checkpoint(path, map_location)
            except CheckpointError as err:
                log.error("%s; trying the previous checkpoint", err)
                errors.append(str(err))
                continue
            log.info("resuming from %s (step %d)", path, state["step"])
            state["_path"] = str(path)
            return state
        if errors:
            raise CheckpointError(f"no readable checkpoint in {self.folder}: " + "; ".join(errors))
        return None
