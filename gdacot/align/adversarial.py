"""Adversarial domain alignment (ADDA / DANN style) through a gradient-reversal layer.

A small MLP discriminator D tries to tell sim features from real ones; the features reach
it through `gradient_reversal`, the identity forward and minus the gradient backward. One
loss, one optimiser step: D descends the domain-classification loss while the encoder
ascends it, i.e. learns features D cannot tell apart (paper B's ADDA and CFG-ADDA).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


@jax.custom_vjp
def gradient_reversal(x: jax.Array) -> jax.Array:
  """Identity in the forward pass; the backward pass negates the incoming gradient."""
  return x


def _reversal_fwd(x):
  return x, None


def _reversal_bwd(_, g):
  return (jax.tree.map(jnp.negative, g),)


gradient_reversal.defvjp(_reversal_fwd, _reversal_bwd)


def adversarial_loss(discriminator, z_sim: jax.Array, z_real: jax.Array):
  """Balanced binary cross-entropy of the discriminator D (features -> logit of "real",
  gdacot.models.DomainDiscriminator) on reversed features (sim 0, real 1).

  Minimising it trains D and, through the reversal, pushes the encoder to confuse D.
  """
  logits_sim = discriminator(gradient_reversal(z_sim)).astype(jnp.float32)
  logits_real = discriminator(gradient_reversal(z_real)).astype(jnp.float32)
  loss = 0.5 * (optax.sigmoid_binary_cross_entropy(logits_sim, 0.0).mean()
                + optax.sigmoid_binary_cross_entropy(logits_real, 1.0).mean())
  accuracy = 0.5 * ((logits_sim < 0).mean() + (logits_real > 0).mean())
  return loss, {"adv_loss": loss, "adv_disc_accuracy": accuracy}
