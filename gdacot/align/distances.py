"""Pairwise squared Euclidean distances, the ground cost of every OT and MMD term and of the W2 analysis."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def squared_distances(x: jax.Array, y: jax.Array) -> jax.Array:
  """||x_i - y_j||^2 (n, m) in float32 as ||x||^2 + ||y||^2 - 2 x y^T: a matmul, not the
  (n, m, d) difference tensor (35x faster with its gradient at 256 x 256 x 64 on a CPU,
  tools.bench). Both sets are centred on a common point first, which keeps the expansion's
  cancellation error small; the centre carries no gradient (it cancels in the distances)."""
  x, y = x.astype(jnp.float32), y.astype(jnp.float32)
  centre = jax.lax.stop_gradient(0.5 * (x.mean(0) + y.mean(0)))
  x, y = x - centre, y - centre
  d = jnp.sum(x * x, -1)[:, None] + jnp.sum(y * y, -1)[None, :] - 2.0 * x @ y.T
  return jnp.maximum(d, 0.0)
