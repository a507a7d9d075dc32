"""Orbax checkpoints of the train state and the observation normaliser.

Saves are asynchronous; orbax writes each step to a temporary directory and renames it
when complete, so a save cut off mid-write is never listed as a step.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpoints:

  def __init__(self, directory: str, max_to_keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=True
        ),
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state, normalizer) -> None:
    self.manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), normalizer=ocp.args.StandardSave(normalizer)
        ),
        force=True,
    )

  def restore(self, step: int, state_like, normalizer_like):
    """Restores onto the shapes, dtypes and shardings of the given (abstract) targets."""
    abstract = lambda tree: jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
    out = self.manager.restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract(state_like)),
            normalizer=ocp.args.StandardRestore(abstract(normalizer_like)),
        ),
    )
    return out.state, out.normalizer

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
