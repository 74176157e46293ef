"""Progress of long loops, the project's one progress helper: a tqdm bar on a terminal, a log line every few
steps otherwise (log files, Snakemake)."""

from __future__ import annotations

import logging
import math
import sys
import time

log = logging.getLogger("byol_pkg")

#: ``mode`` values: ``auto`` (a bar on a terminal, log lines otherwise), ``bar``, ``log``.
MODES = ("auto", "bar", "log")


def hms(seconds: float) -> str:
    """``h:mm:ss`` (``?`` when not finite)."""
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class StepProgress:
    """``update(step, note)`` after each step of ``total``; ``close()`` at the end. Without a bar, a log line
    every ``every`` steps (and at the last) gives the step, the note, the rate and the time left."""

    def __init__(self, desc: str, total: int, initial: int = 0, every: int = 50, unit: str = "step",
                 mode: str = "auto", enabled: bool = True) -> None:
        self.bar = None
        if enabled and (mode == "bar" or (mode == "auto" and sys.stderr.isatty())):
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, leave=False)
        self.desc, self.total, self.every, self.unit, self.enabled = desc, total, max(1, every), unit, enabled
        self.t0, self.start = time.perf_counter(), initial

    def update(self, step: int, note: str = "", postfix: dict[str, str] | None = None) -> None:
        """Step ``step`` is done; ``note`` goes into the log line, ``postfix`` (else ``note``) beside the bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if postfix:
                self.bar.set_postfix(postfix)
            elif note:
                self.bar.set_postfix_str(note)
        elif step % self.every == 0 or step == self.total:
            rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            log.info("%s: %s %d/%d %s(%.1f %ss/s, eta %s)", self.desc, self.unit, step, self.total,
                     f"{note} " if note else "", rate, self.unit, hms(eta))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
