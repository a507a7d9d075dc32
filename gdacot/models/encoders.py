"""Observation encoders: map an observation history to the latent z that alignment acts on."""

from __future__ import annotations

import jax
from flax import nnx


class MLP(nnx.Module):
  """Linear layers with GELU between them (none after the last)."""

  def __init__(self, sizes: list[int], *, rngs: nnx.Rngs):
    # Named attributes (not a list) so checkpoints have readable string keys.
    self.num_layers = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
      setattr(self, f"dense_{i}", nnx.Linear(a, b, rngs=rngs))

  def __call__(self, x: jax.Array) -> jax.Array:
    for i in range(self.num_layers):
      x = getattr(self, f"dense_{i}")(x)
      if i < self.num_layers - 1:
        x = jax.nn.gelu(x)
    return x


class MLPEncoder(nnx.Module):
  """Flattens (obs_horizon, obs_size) and maps it to a `latent_dim` feature vector."""

  def __init__(self, obs_size: int, obs_horizon: int, latent_dim: int, hidden: int, depth: int, *, rngs):
    self.net = MLP([obs_size * obs_horizon] + [hidden] * depth + [latent_dim], rngs=rngs)

  def __call__(self, obs: jax.Array) -> jax.Array:
    return self.net(obs.reshape(obs.shape[0], -1))


ENCODERS = {"mlp": MLPEncoder}
