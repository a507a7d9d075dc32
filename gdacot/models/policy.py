"""The policy: a shared encoder f (observations -> z) and a head pi (z -> action chunk).

Two optional parts, switched on by the method (gdacot/align/registry.py):
  - a one-hot domain label appended to z before the head (paper B's CFG). Training drops
    it (all zeros, the "none" label) with some probability; acting guides with
    (1 + g) * f(z, c) - g * f(z, none), g = 0 being the plain conditional policy;
  - a domain discriminator on z (adversarial alignment). Only the train step uses it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from gdacot.models.discriminator import DomainDiscriminator
from gdacot.models.encoders import ENCODERS
from gdacot.models.heads import HEADS


class Policy(nnx.Module):

  def __init__(self, encoder: nnx.Module, head: nnx.Module, *, num_domain_labels: int = 0,
               discriminator: nnx.Module | None = None):
    self.encoder = encoder
    self.head = head
    self.num_domain_labels = num_domain_labels
    self.discriminator = discriminator

  def features(self, obs: jax.Array) -> jax.Array:
    return self.encoder(obs)

  def condition(self, z: jax.Array, label: jax.Array, keep: jax.Array | float = 1.0) -> jax.Array:
    """The head's input: z, with the one-hot domain label (times keep: 0 is "none")
    appended when the policy is label-conditioned."""
    if not self.num_domain_labels:
      return z
    onehot = jax.nn.one_hot(label, self.num_domain_labels, dtype=z.dtype)
    keep = jnp.broadcast_to(jnp.asarray(keep, z.dtype), label.shape)
    return jnp.concatenate([z, onehot * keep[:, None]], axis=-1)

  def bc_loss(self, z_cond: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    return self.head.loss(z_cond, actions, key)

  def act(self, obs: jax.Array, key: jax.Array, label: jax.Array | int = 0,
          guidance: jax.Array | float = 0.0) -> jax.Array:
    """Action chunks for a batch of observation histories seen in the domain `label`."""
    z = self.encoder(obs)
    if not self.num_domain_labels:
      return self.head.sample(z, key)
    labels = jnp.full(z.shape[:1], label, jnp.int32)
    return self.head.sample(self.condition(z, labels), key, z_uncond=self.condition(z, labels, 0.0),
                            guidance=guidance)


def make_policy(model_cfg, *, obs_size: int, action_size: int, obs_horizon: int, chunk: int, seed: int,
                image_shape: tuple[int, int, int] | None = None, views: int = 1, num_domain_labels: int = 0,
                discriminator: bool = False) -> Policy:
  """Builds the policy named by `model_cfg.encoder` and `model_cfg.head`; encoder- and
  head-specific settings come from `model_cfg.<encoder>` / `model_cfg.<head>` (e.g.
  model.cnn.channels, model.diffusion.sample_steps) when present. `obs_size` is the state
  vector's size, `image_shape` (H, W, C) that of the image, None without images; it holds
  `views` cameras side by side."""
  if model_cfg.encoder not in ENCODERS:
    raise ValueError(f"unknown encoder {model_cfg.encoder!r}; known: {sorted(ENCODERS)}")
  if model_cfg.head not in HEADS:
    raise ValueError(f"unknown head {model_cfg.head!r}; known: {sorted(HEADS)}")
  rngs = nnx.Rngs(seed)
  encoder_kwargs = dict(model_cfg.get(model_cfg.encoder, {}))
  encoder = ENCODERS[model_cfg.encoder](obs_size, None if image_shape is None else tuple(image_shape), obs_horizon,
                                        model_cfg.latent_dim, model_cfg.hidden, model_cfg.depth, views=views,
                                        rngs=rngs, **encoder_kwargs)
  head_kwargs = dict(model_cfg.get(model_cfg.head, {}))
  head = HEADS[model_cfg.head](model_cfg.latent_dim + num_domain_labels, chunk, action_size, model_cfg.hidden,
                               model_cfg.depth, rngs=rngs, **head_kwargs)
  disc = DomainDiscriminator(model_cfg.latent_dim, model_cfg.hidden, rngs=rngs) if discriminator else None
  return Policy(encoder, head, num_domain_labels=num_domain_labels, discriminator=disc)
