"""SIGINT (Ctrl-C) and SIGTERM (how SLURM ends a job at its time limit or on preemption) as a request to stop:
the training loop finishes its optimiser step, saves a checkpoint and exits with ``128 + signal``, so that the
rerun (or SLURM's requeue) resumes where it stopped. A second signal acts as it normally would (stop now)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import torch

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT/SIGTERM (a terminal's Ctrl-C or SLURM signals the whole
    process group), so that the main process can finish its step; it shuts the workers down itself."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class StopRequest:
    """``with StopRequest() as stop: ... if stop.signum: ...``: remembers the first SIGINT/SIGTERM instead of
    dying on it. Outside the main thread (where handlers cannot be set) it never fires."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))  # a second one stops at once

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def agreed(self, distributed: bool, device: torch.device) -> int | None:
        """The signal to stop on, the same on every process: under torchrun the highest signal any process got
        (one tiny all-reduce), so that all of them stop after the same step."""
        if not distributed:
            return self.signum
        import torch.distributed as dist

        flag = torch.tensor([self.signum or 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
