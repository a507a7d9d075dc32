"""What training and evaluation must build identically from a config: the policy's graph,
its optimiser and the train state that checkpoints restore into, plus the JSON record saved
with each checkpoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gdacot.align import DOMAIN_LABELS, get_method
from gdacot.models import make_policy
from gdacot.train.step import TrainState, init_train_state, make_optimizer

RECORD_VERSION = 1
TRAIN_RNG_OFFSET = 1_000_003  # the train-state RNG seed is cfg.seed + this (apart from the model's)


def run_seeds(cfg) -> list[int]:
  """The seeds one run trains: seed, seed + 1, ..., seed + num_seeds - 1."""
  return [cfg.seed + k for k in range(cfg.get("num_seeds", 1))]


def stack_states(states: list[TrainState]) -> TrainState:
  """K train states -> one with a leading seed axis (what the vmapped step takes)."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def seed_slice(tree, k: int, num_seeds: int):
  """Seed k's part of a (possibly seed-stacked) tree; the tree itself for a one-seed run."""
  return tree if num_seeds == 1 else jax.tree.map(lambda x: x[k], tree)


def build_policy_and_state(cfg, obs_size: int, action_size: int, image_shape=None):
  """Returns (graphdef, tx, state): the policy graph, optimiser and fresh train state; with
  num_seeds > 1 the state holds every seed's, stacked on a leading axis."""
  seeds = run_seeds(cfg)
  graphdef, tx, states = None, None, []
  for seed in seeds:
    graphdef, tx, state = _build_one(cfg, obs_size, action_size, image_shape, seed)
    states.append(state)
  return graphdef, tx, states[0] if len(seeds) == 1 else stack_states(states)


def _build_one(cfg, obs_size: int, action_size: int, image_shape, seed: int):
  method = get_method(cfg.method)
  policy = make_policy(cfg.model, obs_size=obs_size, action_size=action_size, image_shape=image_shape,
                       obs_horizon=cfg.obs_horizon, chunk=cfg.chunk, seed=seed,
                       num_domain_labels=len(DOMAIN_LABELS) if method.domain_label else 0,
                       discriminator=method.discriminator)
  graphdef, params = nnx.split(policy, nnx.Param)
  tx = make_optimizer(cfg.optim)
  state = init_train_state(nnx.to_pure_dict(params), tx, seed=seed + TRAIN_RNG_OFFSET)
  return graphdef, tx, state


def checkpoint_record(config: dict, *, state_rng, step: int, obs_size: int, action_size: int,
                      data: dict, image_shape=None) -> dict:
  """The JSON half of a checkpoint: the run's config, the policy's input/output spec and the
  data-sampler state. Batches are drawn with `fold_in(rng, step)` (see train/step.py), so the
  sampler state is the RNG (one per seed), the step and the identity of the datasets sampled
  from. `state_rng` and `step` are host values (read once by the caller)."""
  return {
      "version": RECORD_VERSION,
      "config": config,
      "spec": {"obs_size": int(obs_size), "action_size": int(action_size),
               **({"image_shape": [int(d) for d in image_shape]} if image_shape is not None else {})},
      "sampler": {
          "kind": "keyed_by_step",
          "rng": np.asarray(state_rng).tolist(),
          "step": int(step),
          "data": data,
      },
  }
