"""Options of the alignment term that every method shares (issue 32, item 1's remedies).

At paper A's dose as configured here, the OT term barely changes the features (discernibility
as co-training's), and at doses that do align them behaviour cloning collapses, in-domain
included (experiments/README.md). Three remedies, each a field of the config's `align` block
whose default is the behaviour before it (so saved runs resume unchanged):

  feature_norm  "none" | "l2": L2-normalise each feature vector before the alignment loss, so its
                cost depends on directions only; the loss cannot be lowered by shrinking
                features, and with `normalize_cost=False` the cost has a fixed scale ([0, 4]) on
                which paper A's absolute epsilon means what it meant there.
  grad_side     "both" | "real": "real" stops the alignment gradient into the sim features, so
                the term moves real features toward sim's and leaves sim's to BC. Paper A's
                reasoning: the sim features are trained by BC on ~90% of the batch from hundreds
                of demos and carry the structure that transfers to the region only sim covers;
                pulling them toward 20 real demos' features deforms that structure (as ADDA adapts
                the target encoder against a fixed source one).
  warmup_steps  N >= 0: the weight (lam, or adv_lam) grows linearly from 0 at step 0 to its
                value at step N, so the alignment acts on features BC has already shaped.

The train step applies them around `Method.align` (one signature for every alignment loss).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

FEATURE_NORMS = ("none", "l2")
GRAD_SIDES = ("both", "real")
# The config's defaults (gdacot/train/config.py reads them from here): today's behaviour.
OPTION_DEFAULTS = {"feature_norm": "none", "grad_side": "both", "warmup_steps": 0}


def option(align_cfg, name: str):
  """The option's value; its default for an `align` block built without it (by hand, in tests)."""
  return align_cfg[name] if name in align_cfg else OPTION_DEFAULTS[name]


def l2_normalize(z: jax.Array) -> jax.Array:
  """Each row divided by its norm (a zero row stays zero), computed in float32."""
  z = z.astype(jnp.float32)
  return z * jax.lax.rsqrt(jnp.maximum(jnp.sum(z * z, axis=-1, keepdims=True), 1e-12))


def alignment_features(z_sim: jax.Array, z_real: jax.Array, align_cfg) -> tuple[jax.Array, jax.Array]:
  """The sim and real features as the alignment loss sees them: stopped, normalised."""
  side = option(align_cfg, "grad_side")
  if side not in GRAD_SIDES:
    raise ValueError(f"align.grad_side {side!r}; use one of {GRAD_SIDES}")
  if side == "real":
    z_sim = jax.lax.stop_gradient(z_sim)
  norm = option(align_cfg, "feature_norm")
  if norm not in FEATURE_NORMS:
    raise ValueError(f"align.feature_norm {norm!r}; use one of {FEATURE_NORMS}")
  if norm == "l2":
    z_sim, z_real = l2_normalize(z_sim), l2_normalize(z_real)
  return z_sim, z_real


def alignment_weight(align_cfg, weight_field: str, step: jax.Array) -> jax.Array:
  """The alignment loss's weight at `step`: align_cfg[weight_field] * min(1, step / warmup_steps)."""
  weight = align_cfg[weight_field]
  warmup = option(align_cfg, "warmup_steps")
  if not warmup:
    return weight  # the config's number as before, so the step's arithmetic is unchanged
  return weight * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / warmup)
