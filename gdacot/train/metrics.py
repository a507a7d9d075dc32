"""Metrics to WORKDIR/metrics.jsonl (one JSON object per log step) and TensorBoard."""

from __future__ import annotations

import json
import math
import os

from tensorboardX import SummaryWriter


class MetricsWriter:

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._file = open(self.path, "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

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


def read_metrics(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]
