"""The policy: a shared encoder f (observations -> z) and a head pi (z -> action chunk)."""

from __future__ import annotations

import jax
from flax import nnx

from gdacot.models.encoders import ENCODERS
from gdacot.models.heads import HEADS


class Policy(nnx.Module):

  def __init__(self, encoder: nnx.Module, head: nnx.Module):
    self.encoder = encoder
    self.head = head

  def features(self, obs: jax.Array) -> jax.Array:
    return self.encoder(obs)

  def bc_loss(self, z: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    return self.head.loss(z, actions, key)

  def act(self, obs: jax.Array, key: jax.Array) -> jax.Array:
    return self.head.sample(self.encoder(obs), key)


def make_policy(model_cfg, *, obs_size: int, action_size: int, obs_horizon: int, chunk: int, seed: int) -> Policy:
  """Builds the policy named by `model_cfg.encoder` and `model_cfg.head`."""
  if model_cfg.encoder not in ENCODERS:
    raise ValueError(f"unknown encoder {model_cfg.encoder!r}; known: {sorted(ENCODERS)}")
  if model_cfg.head not in HEADS:
    raise ValueError(f"unknown head {model_cfg.head!r}; known: {sorted(HEADS)}")
  rngs = nnx.Rngs(seed)
  encoder = ENCODERS[model_cfg.encoder](
      obs_size, obs_horizon, model_cfg.latent_dim, model_cfg.hidden, model_cfg.depth, rngs=rngs
  )
  head = HEADS[model_cfg.head](
      model_cfg.latent_dim, chunk, action_size, model_cfg.hidden, model_cfg.depth, rngs=rngs
  )
  return Policy(encoder, head)
