"""Orbax checkpoints of a run: train state (params, EMA params, optimiser state, step, RNG),
observation normaliser, and a JSON record of the config and the data-sampler state.

- Saves are asynchronous. Orbax writes a step into `<step>.orbax-checkpoint-tmp*` and renames it
  only once every item is complete, so a save cut off mid-write (SIGKILL, power loss) is never
  listed as a step; leftover temporary directories are removed when the manager next opens.
- Kept: the newest `keep_last` steps, plus the `keep_best` best by `best_metric` (any number
  passed as `metrics` to `save`), so a late regression never deletes the best policy.
- Restores go onto abstract targets that carry shardings for the devices of *this* machine, so a
  checkpoint written on 8 GPUs restores on a laptop CPU and the other way round.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp


class CheckpointError(ValueError):
  """A checkpoint is missing, cut off, corrupt, or does not fit what asks for it."""


def abstract_like(tree, sharding: jax.sharding.Sharding | None = None):
  """Shape/dtype structs of `tree`'s leaves, placed with `sharding` (default: the first
  local device), so orbax never tries to place arrays on devices the saver had."""
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


class Checkpoints:

  def __init__(self, directory: str, *, keep_last: int = 3, keep_best: int = 0, best_metric: str = "",
               best_mode: str = "max", read_only: bool = False):
    if best_mode not in ("max", "min"):
      raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
    self.directory = os.path.abspath(directory)
    self.best_metric, self.best_mode = best_metric, best_mode
    policies: list[Any] = [pp.LatestN(keep_last)]
    metric_fn = None
    if keep_best > 0 and best_metric:
      # BestN keeps the n highest unless reversed; a step saved without the metric (a
      # preemption save) ranks last, and LatestN still keeps it while it is recent.
      worst = -float("inf") if best_mode == "max" else float("inf")
      metric_fn = lambda m: m.get(best_metric, worst)
      policies.append(pp.BestN(get_metric_fn=metric_fn, reverse=best_mode == "min",
                               n=keep_best, keep_checkpoints_without_metrics=False))
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            preservation_policy=pp.AnyPreservationPolicy(policies),
            # Orbax writes metrics to disk only when best_fn is set; the preservation policy
            # above is what decides, but a resumed run needs the saved metrics to rank by.
            best_fn=metric_fn,
            best_mode=best_mode,
            create=not read_only,
            read_only=read_only,
            cleanup_tmp_directories=not read_only,
            enable_async_checkpointing=True,
        ),
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def best_step(self) -> int | None:
    """The best kept step by `best_metric` (None when no kept step has it)."""
    scored = []
    for step in self.all_steps():
      metrics = self.metrics(step)
      if self.best_metric in metrics:
        scored.append((metrics[self.best_metric], step))
    if not scored:
      return None
    return (max if self.best_mode == "max" else min)(scored)[1]

  def metrics(self, step: int) -> dict:
    """The metrics saved with `step` ({} if none)."""
    try:
      return dict(self.manager.metrics(step) or {})
    except Exception:  # orbax raises various errors on a checkpoint without metrics
      return {}

  def save(self, step: int, state, normalizer, record: dict, metrics: dict | None = None) -> None:
    """Starts an asynchronous save; `record` is JSON (config, sampler state, data fingerprints)."""
    self.manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            normalizer=ocp.args.StandardSave(normalizer),
            record=ocp.args.JsonSave(record),
        ),
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        force=True,
    )

  def read_record(self, step: int) -> dict:
    self._check_step(step)
    try:
      return self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore())).record
    except Exception as e:
      raise CheckpointError(f"checkpoint {self._path(step)} is corrupt or truncated: "
                            f"its record does not load ({type(e).__name__}: {_first_line(e)})") from e

  def restore(self, step: int, state_like, normalizer_like, sharding=None):
    """Restores (state, normalizer) onto the shapes, dtypes and shardings of the given targets
    (concrete or abstract). Raises CheckpointError naming the step when it cannot."""
    self._check_step(step)
    try:
      out = self.manager.restore(
          step,
          args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract_like(state_like, sharding)),
              normalizer=ocp.args.StandardRestore(abstract_like(normalizer_like, sharding)),
          ),
      )
    except Exception as e:
      raise CheckpointError(
          f"checkpoint {self._path(step)} does not restore ({type(e).__name__}: {_first_line(e)}). "
          "It is corrupt or truncated, or it was written by a run whose model or optimiser "
          "config differs from the one given."
      ) from e
    # Orbax fills leaves it cannot match with the target's structure; shapes must agree exactly.
    for name, got, want in (("state", out.state, state_like), ("normalizer", out.normalizer, normalizer_like)):
      got_shapes = [tuple(x.shape) for x in jax.tree.leaves(got)]
      want_shapes = [tuple(x.shape) for x in jax.tree.leaves(want)]
      if got_shapes != want_shapes:
        raise CheckpointError(f"checkpoint {self._path(step)}: the saved {name} has shapes "
                              f"{got_shapes[:4]}..., the code expects {want_shapes[:4]}...")
    return out.state, out.normalizer

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()

  def _path(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def _check_step(self, step: int) -> None:
    steps = self.all_steps()
    if step not in steps:
      raise CheckpointError(f"no checkpoint at step {step} in {self.directory}; "
                            f"complete checkpoints: {steps or 'none'}")


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  return text[0][:300] if text else ""
