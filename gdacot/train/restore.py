"""A trained run read back: its saved config, a checkpoint chosen by step, and its policy's
parameters and normaliser restored onto this machine's devices. `gdacot.evaluate` and
`gdacot.policy` read runs through these functions.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax.numpy as jnp
import ml_collections

from gdacot.train.checkpoints import CheckpointError, Checkpoints


class RunError(ValueError):
  """A workdir that is not a run this version can read."""


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's config.json (or, where it does not read, the newest checkpoint's copy), completed
  with the fields added to gdacot since it was saved and checked as evaluation needs it."""
  from gdacot.train.config import ConfigError, validate_config  # pylint: disable=g-import-not-at-top
  from gdacot.train.workdir import WorkdirError, read_saved_config  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(workdir):
    raise RunError(f"--workdir={workdir} does not exist")
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise RunError(f"{path} is missing: {workdir} is not a gdacot run directory")
  try:
    saved = read_saved_config(workdir)
  except WorkdirError as e:
    raise RunError(str(e)) from e
  try:  # the same checks as training's, on the config completed with the fields added since
    cfg = ml_collections.ConfigDict(saved)
    validate_config(cfg, for_evaluation=True)
  except ConfigError as e:
    raise RunError(f"the run's config ({path}) does not fit this version of gdacot: {e}") from e
  return cfg


def resolve_step(ckpts: Checkpoints, step: str | int | None) -> int:
  """A checkpoint step: None or "latest" -> the newest complete one, "best" -> the best kept by
  the run's best_metric, or that number (which must exist)."""
  steps = ckpts.all_steps()
  if not steps:
    raise CheckpointError(f"no complete checkpoint in {ckpts.directory}")
  if step is None or step == "latest":
    return steps[-1]
  if step == "best":
    best = ckpts.best_step()
    if best is None:
      raise CheckpointError(f"--step=best: no kept checkpoint in {ckpts.directory} carries the run's "
                            f"best_metric {ckpts.best_metric!r}")
    return best
  try:
    number = int(step)
  except ValueError:
    raise RunError(f"--step={step!r} is neither a step number, 'latest' nor 'best'") from None
  if number not in steps:
    raise CheckpointError(f"--step={number}: no complete checkpoint at that step in {ckpts.directory}; "
                          f"available: {steps}")
  return number


def open_checkpoints(workdir: str, cfg) -> Checkpoints:
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise CheckpointError(f"{directory} does not exist: the run has not saved a checkpoint")
  return Checkpoints(directory, best_metric=cfg.get("best_metric", ""), best_mode=cfg.get("best_mode", "max"),
                     read_only=True)


@dataclasses.dataclass
class RestoredPolicy:
  """A checkpoint's policy, as a run's spec describes it (sizes from the checkpoint record, so a
  policy trained on datasets of other sizes than the MJX task's restores too)."""

  cfg: Any
  step: int
  graphdef: Any
  params: Any  # one seed's (EMA or raw) parameters
  normalizer: Any
  spec: dict  # obs_size, action_size, image_shape (None for state policies)


def restore_policy(workdir: str, step: str | int | None = "best", *, seed_index: int = 0,
                   params: str = "ema") -> RestoredPolicy:
  """The policy of checkpoint `step` of the run in `workdir` (seed `seed_index` of a run of
  several seeds), restored onto this machine's default device."""
  from gdacot.data import Normalizer  # pylint: disable=g-import-not-at-top
  from gdacot.train.build import build_policy_and_state, run_seeds, seed_slice  # pylint: disable=g-import-not-at-top
  if params not in ("ema", "raw"):
    raise RunError(f"params must be 'ema' or 'raw', got {params!r}")
  cfg = load_config(workdir)
  seeds = run_seeds(cfg)
  if not 0 <= seed_index < len(seeds):
    raise RunError(f"seed_index={seed_index}: the run trained {len(seeds)} seed(s) {seeds}")
  ckpts = open_checkpoints(workdir, cfg)
  try:
    number = resolve_step(ckpts, step)
    spec = dict(ckpts.read_record(number).get("spec", {}))
    spec.setdefault("image_shape", None)
    if "obs_size" not in spec or "action_size" not in spec:
      raise CheckpointError(f"checkpoint {number} of {workdir} records no policy spec (obs and action sizes)")
    graphdef, _, state = build_policy_and_state(cfg, spec["obs_size"], spec["action_size"], spec["image_shape"])
    normalizer_like = Normalizer(mean=jnp.zeros(spec["obs_size"]), std=jnp.ones(spec["obs_size"]))
    state, normalizer = ckpts.restore(number, state, normalizer_like)
  finally:
    ckpts.close()
  chosen = state.ema_params if params == "ema" else state.params
  return RestoredPolicy(cfg=cfg, step=number, graphdef=graphdef, params=seed_slice(chosen, seed_index, len(seeds)),
                        normalizer=normalizer, spec=spec)
