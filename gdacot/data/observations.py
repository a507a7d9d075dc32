"""Observations are a state vector, or a dict {"state": vector, "image": uint8 frames}.

Everything downstream of the environment (demos, datasets, samplers, rollouts) handles both
with `jax.tree` functions; these helpers are the only places that look inside.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def state_of(obs):
  """The state vector part: the whole observation, or its "state" entry."""
  return obs["state"] if isinstance(obs, dict) else obs


def with_state(obs, state):
  """The observation with its state part replaced (images untouched)."""
  return {**obs, "state": state} if isinstance(obs, dict) else state


def image_of(obs):
  return obs.get("image") if isinstance(obs, dict) else None


def stored(obs, xp=jnp):
  """Storage dtypes: float32 state, uint8 images (a quarter of float32's memory)."""
  obs = with_state(obs, xp.asarray(state_of(obs), xp.float32))
  if image_of(obs) is not None:
    obs = {**obs, "image": xp.asarray(obs["image"], xp.uint8)}
  return obs


def spec(obs, batch_dims: int) -> dict:
  """{"obs_size": S, "image_shape": [H, W, C] or None} of observations with `batch_dims` leading axes."""
  image = image_of(obs)
  return {"obs_size": int(np.shape(state_of(obs))[-1]),
          "image_shape": None if image is None else [int(d) for d in np.shape(image)[batch_dims:]]}


def nbytes(obs) -> int:
  return int(sum(np.asarray(x).nbytes if not isinstance(x, jax.Array) else x.nbytes for x in jax.tree.leaves(obs)))
