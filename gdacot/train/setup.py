"""What training and evaluation must build identically from a config: the policy's graph,
its optimiser and the train state that checkpoints restore into, plus the JSON record saved
with each checkpoint."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from gdacot.align import DOMAIN_LABELS, get_method
from gdacot.models import make_policy
from gdacot.train.step import TrainState, init_train_state, make_optimizer

RECORD_VERSION = 1
TRAIN_RNG_OFFSET = 1_000_003  # the train-state RNG seed is cfg.seed + this (apart from the model's)


def build_policy_and_state(cfg, obs_size: int, action_size: int):
  """Returns (graphdef, tx, state): the policy graph, optimiser, fresh train state."""
  method = get_method(cfg.method)
  policy = make_policy(cfg.model, obs_size=obs_size, action_size=action_size,
                       obs_horizon=cfg.obs_horizon, chunk=cfg.chunk, seed=cfg.seed,
                       num_domain_labels=len(DOMAIN_LABELS) if method.domain_label else 0,
                       discriminator=method.discriminator)
  graphdef, params = nnx.split(policy, nnx.Param)
  tx = make_optimizer(cfg.optim)
  state = init_train_state(nnx.to_pure_dict(params), tx, seed=cfg.seed + TRAIN_RNG_OFFSET)
  return graphdef, tx, state


def checkpoint_record(config: dict, state: TrainState, *, obs_size: int, action_size: int,
                      data: dict) -> dict:
  """The JSON half of a checkpoint: the run's config, the policy's input/output spec and the
  data-sampler state. Batches are drawn with `fold_in(rng, step)` (see train/step.py), so the
  sampler state is the RNG, the step and the identity of the datasets sampled from."""
  return {
      "version": RECORD_VERSION,
      "config": config,
      "spec": {"obs_size": int(obs_size), "action_size": int(action_size)},
      "sampler": {
          "kind": "keyed_by_step",
          "rng": np.asarray(jax.device_get(state.rng)).tolist(),
          "step": int(state.step),
          "data": data,
      },
  }
