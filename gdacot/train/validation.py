"""Held-out episodes score checkpoints: the behaviour-cloning loss and the action error on
episodes the run never trained on (`sources.<domain>.val_episodes`, the domain's last N).

A robot's real domain has no MJX scene to roll out in; these scores still rank its checkpoints
by something real (`--config.best_metric=val/real/action_mse --config.best_mode=min`). They
are logged at every checkpoint as `val/<domain>/bc_loss`, `val/<domain>/action_mse` (mean over
the action's dimensions and chunk) and `val/<domain>/action_mse_<i>` per dimension.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gdacot.align import DOMAIN_LABELS
from gdacot.data import Batch, Dataset, Demos

# Frames scored per domain, evenly spaced over the held-out frames and the same at every
# checkpoint, so checkpoints compare on the same frames.
VAL_FRAMES = 1024


def held_out(demos: Demos, episodes: int) -> tuple[Demos, Demos | None]:
  """(training demos, the last `episodes` episodes), or (demos, None) for 0."""
  if not episodes:
    return demos, None
  cut = demos.num_episodes - episodes
  return jax.tree.map(lambda x: x[:cut], demos), jax.tree.map(lambda x: x[cut:], demos)


def fixed_batch(data: Dataset, frames: int = VAL_FRAMES) -> Batch:
  """The scored frames of a held-out dataset, with their histories and action chunks."""
  table = np.asarray(data.frames)
  pick = table[np.unique(np.linspace(0, len(table) - 1, min(frames, len(table))).round().astype(int))]
  return data.gather(jnp.asarray(pick[:, 0]), jnp.asarray(pick[:, 1]))


def make_scorer(graphdef, guidance: float):
  """Jitted `score(params, batch, key, label) -> (bc_loss, action_mse per dimension)`; label-
  conditioned policies act with their domain's label and the run's guidance, as in rollouts."""

  @jax.jit
  def score(params, batch: Batch, key, label):
    policy = nnx.merge(graphdef, params)
    k_loss, k_act = jax.random.split(key)
    z = policy.features(batch.obs)
    labels = jnp.full(z.shape[:1], label, jnp.int32)
    bc = policy.bc_loss(policy.condition(z, labels), batch.actions, k_loss).mean()
    predicted = policy.act(batch.obs, k_act, label, guidance)
    return bc, jnp.mean(jnp.square(predicted - batch.actions), axis=(0, 1))

  return score


def val_metrics(score, params_of_seeds, batches: dict[str, Batch], key) -> dict[str, float]:
  """The logged metrics of every held-out domain, averaged over the seeds' parameters."""
  out = {}
  for name, batch in batches.items():
    results = [score(params, batch, jax.random.fold_in(key, i), DOMAIN_LABELS[name])
               for i, params in enumerate(params_of_seeds)]
    bc = float(np.mean([float(b) for b, _ in results]))
    per_dim = np.mean([np.asarray(e) for _, e in results], axis=0)
    out[f"val/{name}/bc_loss"] = bc
    out[f"val/{name}/action_mse"] = float(per_dim.mean())
    out.update({f"val/{name}/action_mse_{i}": float(v) for i, v in enumerate(per_dim)})
  return out
