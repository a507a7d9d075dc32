"""The domain discriminator of adversarial alignment (ADDA, CFG-ADDA)."""

from __future__ import annotations

import jax
from flax import nnx

from gdacot.models.encoders import MLP


class DomainDiscriminator(nnx.Module):
  """Encoder features -> logit of "this feature came from the real domain"."""

  def __init__(self, latent_dim: int, hidden: int, depth: int = 2, *, rngs: nnx.Rngs):
    self.net = MLP([latent_dim] + [hidden] * depth + [1], rngs=rngs)

  def __call__(self, z: jax.Array) -> jax.Array:
    return self.net(z)[:, 0]
