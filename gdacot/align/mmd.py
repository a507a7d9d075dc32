"""Maximum mean discrepancy between sim and real features (the MMD baseline of paper A)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdacot.align.distances import squared_distances


def mmd2(x: jax.Array, y: jax.Array, bandwidth_scales=(0.25, 1.0, 4.0)) -> jax.Array:
  """Biased MMD^2 with a sum of Gaussian kernels.

  Bandwidths are multiples of the (detached) median pairwise squared distance, so the
  loss is scale-free like the normalised OT cost.
  """
  xy = jnp.concatenate([x, y]).astype(jnp.float32)
  d2 = squared_distances(xy, xy)
  median = jax.lax.stop_gradient(jnp.median(d2)) + 1e-8
  k = sum(jnp.exp(-d2 / (s * median)) for s in bandwidth_scales)
  n = x.shape[0]
  return k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean()
