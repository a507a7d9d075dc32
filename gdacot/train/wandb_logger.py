"""Weights & Biases for one run: its scalars, its evaluation video and feature plot.

Optional (`pip install 'gdacot[wandb]'`, `--config.log.wandb=True`, with log.project,
log.entity and log.tags). The wandb run id is kept in WORKDIR/wandb_run_id, written before
wandb starts: a rerun of the same command (a resume after preemption, or an evaluation rerun)
continues the same wandb run instead of opening a new one. `WANDB_MODE=offline` keeps
everything under WORKDIR/wandb for a later `wandb sync` (how the tests run it).
"""

from __future__ import annotations

import os
import secrets
import string

from gdacot.io import write_text

RUN_ID_FILE = "wandb_run_id"


class WandbError(RuntimeError):
  pass


def new_run_id() -> str:
  """Eight characters of [a-z0-9], wandb's own form (its generator moves between versions)."""
  return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def run_id(workdir: str) -> str | None:
  """The wandb run id this workdir's run logs to, or None before its first start."""
  path = os.path.join(workdir, RUN_ID_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return f.read().strip() or None


class WandbLogger:
  """One wandb run per workdir; `log` is the run config's `log` group, `config` the whole config."""

  def __init__(self, workdir: str, log, config: dict):
    try:
      import wandb  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise WandbError("log.wandb=True needs the wandb package: pip install 'gdacot[wandb]'") from None
    self._wandb = wandb
    rid = run_id(workdir)
    if rid is None:
      rid = new_run_id()
      write_text(os.path.join(workdir, RUN_ID_FILE), rid + "\n")
    self.run = wandb.init(project=log.project, entity=log.entity or None, tags=list(log.tags or ()) or None,
                          name=os.path.basename(os.path.normpath(workdir)), id=rid, resume="allow",
                          dir=workdir, config=config,
                          # stdout stays the run's own: wandb would wrap it for its console log
                          settings=wandb.Settings(console="off"))

  def scalars(self, step: int, metrics: dict) -> None:
    self.run.log(dict(metrics), step=int(step))

  def video(self, tag: str, gif_path: str, step: int) -> None:
    """A GIF file as wandb's video (raw frames would need moviepy)."""
    self.run.log({tag: self._wandb.Video(gif_path, format="gif")}, step=int(step))

  def image(self, tag: str, png_path: str, step: int) -> None:
    self.run.log({tag: self._wandb.Image(png_path)}, step=int(step))

  def close(self) -> None:
    self.run.finish()
