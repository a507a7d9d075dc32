"""Metrics to WORKDIR/metrics.jsonl (one JSON object per log step), TensorBoard and, when the
config asks (log.wandb), Weights & Biases; plus the evaluation's video and features, for people
to look at (gdacot/train/media.py makes them)."""

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

  def __init__(self, workdir: str, resume_step: int | None = None, log=None, config: dict | None = None):
    self.path = os.path.join(workdir, "metrics.jsonl")
    if resume_step is not None and os.path.exists(self.path):
      _truncate_after(self.path, resume_step)
    self._file = open(self.path, "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                             purge_step=None if resume_step is None else resume_step + 1)
    self._wandb = None
    if log is not None and log.get("wandb"):
      from gdacot.train.wandb_logger import WandbLogger  # pylint: disable=g-import-not-at-top
      self._wandb = WandbLogger(workdir, log, config or {})

  def write(self, step: int, metrics: dict) -> None:
    row = {"step": int(step)}
    row.update({k: float(v) for k, v in metrics.items()})
    self._file.write(json.dumps(row, allow_nan=True) + "\n")
    self._file.flush()
    finite = {k: v for k, v in row.items() if k != "step" and math.isfinite(v)}
    for k, v in finite.items():
      self._tb.add_scalar(k, v, step)
    if self._wandb:
      self._wandb.scalars(step, finite)

  def video(self, tag: str, gif_path: str, step: int) -> None:
    """An animated GIF: TensorBoard's image dashboard plays it, wandb shows it as a video."""
    from PIL import Image  # pylint: disable=g-import-not-at-top
    from tensorboardX.proto.summary_pb2 import Summary  # pylint: disable=g-import-not-at-top
    with open(gif_path, "rb") as f:
      encoded = f.read()
    with Image.open(gif_path) as im:
      width, height = im.size
    # The summary tensorboardX's add_video writes, from our GIF: add_video encodes with moviepy,
    # which is not a dependency.
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=encoded)
    self._tb._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)  # pylint: disable=protected-access
    if self._wandb:
      self._wandb.video(tag, gif_path, step)

  def image(self, tag: str, png_path: str, step: int) -> None:
    import numpy as np  # pylint: disable=g-import-not-at-top
    from PIL import Image  # pylint: disable=g-import-not-at-top
    with Image.open(png_path) as im:
      self._tb.add_image(tag, np.asarray(im.convert("RGB")), step, dataformats="HWC")
    if self._wandb:
      self._wandb.image(tag, png_path, step)

  def embedding(self, tag: str, features: dict, step: int) -> None:
    """Features by domain ({"sim": (n, d), "real": (m, d)}) for TensorBoard's projector
    (PCA, t-SNE, UMAP of the points, coloured by domain)."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    names = list(features)
    mat = np.concatenate([np.asarray(features[n], np.float32) for n in names])
    labels = [n for n in names for _ in range(len(features[n]))]
    self._tb.add_embedding(mat, metadata=labels, global_step=step, tag=tag)

  def close(self) -> None:
    self._file.close()
    self._tb.close()
    if self._wandb:
      self._wandb.close()


def _truncate_after(path: str, step: int) -> None:
  """Keeps the rows up to `step`, one per step: the last one written (a log from before the
  preemption fix could hold a step's unscored row and its scored one)."""
  keep = {}
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:  # a line cut off by SIGKILL
        continue
      if row.get("step", 0) <= step:
        keep.pop(row.get("step", 0), None)  # (re-inserted last: rows stay in the order written)
        keep[row.get("step", 0)] = line if line.endswith("\n") else line + "\n"
  write_text(path, "".join(keep.values()))


def read_metrics(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]
