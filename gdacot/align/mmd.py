"""Maximum mean discrepancy between sim and real features (the MMD baseline of paper A)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdacot.align.distances import squared_distances


def mmd2(x: jax.Array, y: jax.Array, bandwidth_scales=(0.25, 1.0, 4.0)) -> jax.Array:
  """Biased MMD^2 with a sum of Gaussian kernels.

  Bandwidths are multiples of the (detached) mean pairwise squared distance over x and y
  together, so the loss is scale-free like the normalised OT cost. The mean, not the median
  heuristic: the median sorts all (n + m)^2 distances every step, which made an mmd step cost
  twice a uot_joint one on a CPU (issue 18, BUILD_NOTES); the mean is a reduction, and the three
  scales (a factor 16 apart) keep a kernel of the right width where the distances' distribution
  is skewed.
  Cost (issue 18): three blocks (x-x, y-y, x-y), not the (n + m)^2 matrix of both sets, which
  computed the x-y block twice: the loss and its gradient at 256 + 256 x 64 in 2.1 ms instead of
  2.7 on this CPU. (Narrower kernels as powers of the widest, exp(-d / s) = exp(-d / (r s))^r,
  cost more: 3.4 ms, the products' gradients outweighing the exponentials saved.)
  """
  x, y = x.astype(jnp.float32), y.astype(jnp.float32)
  blocks = {"xx": squared_distances(x, x), "yy": squared_distances(y, y), "xy": squared_distances(x, y)}
  n, m = x.shape[0], y.shape[0]
  total = blocks["xx"].sum() + blocks["yy"].sum() + 2.0 * blocks["xy"].sum()
  mean = jax.lax.stop_gradient(total / (n + m) ** 2) + 1e-8
  kernel_mean = lambda d2: jnp.mean(sum(jnp.exp(-d2 / (s * mean)) for s in bandwidth_scales))

  return kernel_mean(blocks["xx"]) + kernel_mean(blocks["yy"]) - 2.0 * kernel_mean(blocks["xy"])
