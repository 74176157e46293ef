"""Progress of long loops: a tqdm bar on a terminal, a log line every few steps otherwise (logs, Snakemake)."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("byol_pkg")


class StepProgress:
    """``update(step, note)`` after each step of ``total``; ``close()`` at the end."""

    def __init__(self, desc: str, total: int, initial: int = 0, every: int = 50, unit: str = "step") -> None:
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, leave=False)
        self.desc, self.total, self.every, self.unit = desc, total, max(1, every), unit
        self.t0, self.start = time.perf_counter(), initial

    def update(self, step: int, note: str = "") -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if note:
                self.bar.set_postfix_str(note)
        elif step % self.every == 0 or step == self.total:
            rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            log.info("%s: %s %d/%d %s(%.1f %ss/s, eta %.0fs)", self.desc, self.unit, step, self.total,
                     f"{note} " if note else "", rate, self.unit, eta)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
