"""Policy heads: map the latent z to an action chunk.

Every head has the same two methods, so the trainer and the rollouts never ask which head
they hold:
  loss(z, actions, key) -> per-sample loss (n,)
  sample(z, key)        -> actions (n, chunk, action_size)
Generative heads (diffusion, flow matching) fit this interface: their `loss` draws noise
from `key` and their `sample` integrates from noise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from gdacot.models.encoders import MLP


class MLPHead(nnx.Module):
  """Deterministic regression of the whole chunk (mean squared error). The fast option."""

  def __init__(self, latent_dim: int, chunk: int, action_size: int, hidden: int, depth: int, *, rngs):
    self.chunk, self.action_size = chunk, action_size
    self.net = MLP([latent_dim] + [hidden] * depth + [chunk * action_size], rngs=rngs)

  def predict(self, z: jax.Array) -> jax.Array:
    return self.net(z).reshape(z.shape[0], self.chunk, self.action_size)

  def loss(self, z: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    del key
    return jnp.mean((self.predict(z) - actions) ** 2, axis=(1, 2))

  def sample(self, z: jax.Array, key: jax.Array) -> jax.Array:
    del key
    return jnp.clip(self.predict(z), -1.0, 1.0)


HEADS = {"mlp": MLPHead}
