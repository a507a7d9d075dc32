"""Progress lines with rate and ETA for the long phases (demos, training, evaluation)."""

from __future__ import annotations

import sys
import time


class Progress:
  """Prints `name: done/total (pct) rate unit/s, elapsed, ETA` at most every `every_s` seconds."""

  def __init__(self, name: str, total: int, unit: str = "it", every_s: float = 2.0, stream=None,
               initial: int = 0):
    """`initial`: units already done before this process started (a resumed run)."""
    self.name, self.total, self.unit, self.every_s = name, total, unit, every_s
    self.initial = initial
    self.stream = stream or sys.stdout
    self.start = time.perf_counter()
    self._last_print = -float("inf")
    self.done = initial

  def update(self, done: int, extra: str = "", force: bool = False) -> None:
    self.done = done
    now = time.perf_counter()
    if not force and now - self._last_print < self.every_s and done < self.total:
      return
    self._last_print = now
    elapsed = now - self.start
    rate = (done - self.initial) / elapsed if elapsed > 0 else 0.0
    eta = (self.total - done) / rate if rate > 0 else float("nan")
    pct = 100.0 * done / max(self.total, 1)
    line = (
        f"{self.name}: {done}/{self.total} ({pct:5.1f}%) {rate:,.1f} {self.unit}/s, "
        f"elapsed {elapsed:.0f}s, ETA {eta:.0f}s"
    )
    print(line + (f"  {extra}" if extra else ""), file=self.stream, flush=True)
