"""Metrics to WORKDIR/metrics.jsonl (one JSON object per log step) and TensorBoard."""

from __future__ import annotations

import json
import math
import os

from tensorboardX import SummaryWriter

from gdacot.io import write_text


class MetricsWriter:
  """Appends rows. `resume_step`: the step the run (re)starts from (0 for a fresh one); rows
  past it were written by a killed process after its last checkpoint and are dropped (and
  purged from TensorBoard), so the log reads as one uninterrupted run."""

  def __init__(self, workdir: str, resume_step: int | None = None):
    self.path = os.path.join(workdir, "metrics.jsonl")
    if resume_step is not None and os.path.exists(self.path):
      _truncate_after(self.path, resume_step)
    self._file = open(self.path, "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                             purge_step=None if resume_step is None else resume_step + 1)

  def write(self, step: int, metrics: dict) -> None:
    row = {"step": int(step)}
    row.update({k: float(v) for k, v in metrics.items()})
    self._file.write(json.dumps(row, allow_nan=True) + "\n")
    self._file.flush()
    for k, v in row.items():
      if k != "step" and math.isfinite(v):
        self._tb.add_scalar(k, v, step)

  def close(self) -> None:
    self._file.close()
    self._tb.close()


def _truncate_after(path: str, step: int) -> None:
  keep = []
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:  # a line cut off by SIGKILL
        continue
      if row.get("step", 0) <= step:
        keep.append(line if line.endswith("\n") else line + "\n")
  write_text(path, "".join(keep))


def read_metrics(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]
