"""Paper B's alignment analysis of sim and real features: Wasserstein distance and discernibility.

  wasserstein_distance(z_sim, z_real)      W2 between the two empirical feature distributions.
  discernibility(z_sim, z_real, key)       held-out balanced accuracy of a 2-layer MLP domain
                                           classifier: 0.5 indistinguishable, 1.0 separable.
  alignment_report(z_sim, z_real, key)     both, and each domain's feature_spread, as Python
                                           numbers, for logs and run summaries.
  feature_spread(z)                        mean per-dimension variance and mean norm: collapse.
  pca_2d(z_sim, z_real)                    2-d PCA of the union, for plots (gdacot.align.plots).

Paper B reads three regimes off these numbers: disjoint (large W2, discernibility 1), structured-
aligned (small W2, still discernible) and overlapping (W2 ~ 0, discernibility ~ 0.5).
Everything runs in float32 under `jit`; the Sinkhorn solve and the classifier's training loop
are each one compiled call (compiled once per feature shape).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gdacot.align.distances import squared_distances


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _w2_squared(z_sim, z_real, epsilon, threshold, max_iterations):
  """(<P, C>, converged, iterations) for the entropic plan P of the squared-Euclidean cost C."""
  # OTT-JAX imported here (see gdacot.align.uot): a process that trains no run never pays for it.
  from ott.geometry import epsilon_scheduler, geometry  # pylint: disable=g-import-not-at-top
  from ott.problems.linear import linear_problem  # pylint: disable=g-import-not-at-top
  from ott.solvers.linear import acceleration, sinkhorn  # pylint: disable=g-import-not-at-top
  cost = squared_distances(z_sim, z_real)
  # Solve on the cost divided by its mean, so epsilon is relative to the typical squared
  # distance whatever the features' scale and dimension; the transport cost is scaled back.
  scale = jnp.mean(cost) + 1e-30
  n, m = cost.shape
  # Epsilon annealing (from 50x the target, decaying 0.9 per iteration) and over-relaxation
  # (momentum 1.5) cut the iterations ~4x against a cold start at the target epsilon.
  eps = epsilon_scheduler.Epsilon(target=epsilon, init=50.0, decay=0.9)
  geom = geometry.Geometry(cost_matrix=cost / scale, epsilon=eps)
  problem = linear_problem.LinearProblem(
      geom, a=jnp.full(n, 1.0 / n, jnp.float32), b=jnp.full(m, 1.0 / m, jnp.float32))
  # No min_iterations: in ott-jax 0.6.0 any min_iterations > 0 stops the loop at exactly
  # min_iterations and reports it converged, whatever the marginal error.
  solver = sinkhorn.Sinkhorn(threshold=threshold, max_iterations=max_iterations, inner_iterations=10,
                             momentum=acceleration.Momentum(value=1.5), implicit_diff=None)
  out = solver(problem)
  plan = out.matrix
  # The transport cost <P, C>, not the regularised objective (which adds -eps * H(P)); divided
  # by the plan's mass, which misses 1 by up to `threshold`.
  return jnp.sum(plan * cost) / jnp.sum(plan), out.converged, out.n_iters


def wasserstein_distance(
    z_sim,
    z_real,
    *,
    epsilon: float = 2e-3,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> jax.Array:
  """2-Wasserstein distance between the empirical sim (n, d) and real (m, d) features.

  Uniform weights, squared-Euclidean ground cost, balanced entropic OT (OTT-JAX Sinkhorn) with
  `epsilon` relative to the mean squared distance; returns sqrt(<P, C>) for the plan P, in the
  features' units. The entropic bias is positive and small: against POT's exact `ot.emd2`,
  measured +0.02% for 64-d features, up to +0.2% for 2-d ones. `threshold` is the
  L1 error of the plan's marginals to stop at. About 120 Sinkhorn iterations for 1024 x 1024
  features of dim 64. Compiled once per shape; float32 whatever the input dtype.
  """
  z_sim = jnp.asarray(z_sim, jnp.float32)
  z_real = jnp.asarray(z_real, jnp.float32)
  _check_pair(z_sim, z_real)
  w2, _, _ = _w2_squared(z_sim, z_real, jnp.float32(epsilon), jnp.float32(threshold), max_iterations)
  return jnp.sqrt(jnp.maximum(w2, 0.0))


def _check_pair(z_sim, z_real, min_rows: int = 1):
  if z_sim.ndim != 2 or z_real.ndim != 2:
    raise ValueError(f"features must be (n, d) arrays, got {z_sim.shape} and {z_real.shape}")
  if z_sim.shape[1] != z_real.shape[1]:
    raise ValueError(f"feature dimensions differ: sim {z_sim.shape[1]}, real {z_real.shape[1]}")
  if min(z_sim.shape[0], z_real.shape[0]) < min_rows:
    raise ValueError(f"need at least {min_rows} samples per domain, got {z_sim.shape[0]} sim "
                     f"and {z_real.shape[0]} real")


def _mlp(params, x):
  h = jax.nn.relu(x @ params["w1"] + params["b1"])
  return (h @ params["w2"] + params["b2"])[:, 0]


@functools.partial(jax.jit, static_argnames=("n_train_sim", "n_train_real", "hidden", "steps"))
def _discernibility(z_sim, z_real, key, n_train_sim, n_train_real, hidden, steps, learning_rate,
                    weight_decay):
  k_sim, k_real, k_init = jax.random.split(key, 3)
  z_sim = z_sim[jax.random.permutation(k_sim, z_sim.shape[0])]
  z_real = z_real[jax.random.permutation(k_real, z_real.shape[0])]
  tr_sim, ho_sim = z_sim[:n_train_sim], z_sim[n_train_sim:]
  tr_real, ho_real = z_real[:n_train_real], z_real[n_train_real:]

  # Standardise with the statistics of the training halves only (union of both domains).
  train = jnp.concatenate([tr_sim, tr_real])
  mu, sd = train.mean(0), train.std(0) + 1e-6
  norm = lambda z: (z - mu) / sd
  x = norm(train)
  y = jnp.concatenate([jnp.zeros(n_train_sim), jnp.ones(n_train_real)])
  # Class-balanced loss: each domain weighs half, whatever the sizes.
  w = jnp.concatenate([jnp.full(n_train_sim, 0.5 / n_train_sim), jnp.full(n_train_real, 0.5 / n_train_real)])

  d = x.shape[1]
  k1, k2 = jax.random.split(k_init)
  params = {
      "w1": jax.random.normal(k1, (d, hidden)) * jnp.sqrt(2.0 / d),
      "b1": jnp.zeros(hidden),
      "w2": jax.random.normal(k2, (hidden, 1)) * jnp.sqrt(1.0 / hidden),
      "b2": jnp.zeros(1),
  }
  opt = optax.adamw(learning_rate, weight_decay=weight_decay)

  def loss_fn(p):
    return jnp.sum(w * optax.sigmoid_binary_cross_entropy(_mlp(p, x), y))

  def step(carry, _):
    p, s = carry
    g = jax.grad(loss_fn)(p)
    updates, s = opt.update(g, s, p)
    return (optax.apply_updates(p, updates), s), None

  (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
  acc_sim = jnp.mean(_mlp(params, norm(ho_sim)) < 0.0)
  acc_real = jnp.mean(_mlp(params, norm(ho_real)) > 0.0)
  return 0.5 * (acc_sim + acc_real)


def discernibility(
    z_sim,
    z_real,
    key: jax.Array,
    *,
    hidden: int = 64,
    steps: int = 300,
    holdout: float = 0.5,
    learning_rate: float = 1e-2,
    weight_decay: float = 1e-4,
) -> jax.Array:
  """Held-out balanced accuracy of a 2-layer MLP classifier telling sim from real features.

  Each domain is split at random (by `key`) into a training part and a held-out fraction
  `holdout`; features are standardised with the training statistics; the MLP
  (d -> hidden -> ReLU -> 1 logit) trains full-batch with AdamW for `steps` steps on a
  class-balanced logistic loss, in one compiled `lax.scan`. Returns the mean of the two
  per-domain held-out accuracies, in [0, 1]: 0.5 means indistinguishable, 1.0 perfectly
  separable. Deterministic given `key`. Needs at least 2 samples per domain.
  """
  z_sim = jnp.asarray(z_sim, jnp.float32)
  z_real = jnp.asarray(z_real, jnp.float32)
  _check_pair(z_sim, z_real, min_rows=2)
  if not 0.0 < holdout < 1.0:
    raise ValueError(f"holdout must be in (0, 1), got {holdout}")

  def n_train(n):
    return int(min(max(round(n * (1.0 - holdout)), 1), n - 1))

  return _discernibility(z_sim, z_real, key, n_train(z_sim.shape[0]), n_train(z_real.shape[0]),
                         hidden, steps, jnp.float32(learning_rate), jnp.float32(weight_decay))


def feature_spread(z) -> dict:
  """{"variance": mean over dimensions of the per-dimension variance, "norm": mean L2 norm of a
  row}: the collapse check of an alignment loss (features shrinking toward a point lower W2
  and discernibility with them, and leave the policy nothing to act on)."""
  z = np.asarray(z, np.float64)
  return {"variance": float(z.var(axis=0).mean()), "norm": float(np.linalg.norm(z, axis=1).mean())}


def alignment_report(z_sim, z_real, key: jax.Array) -> dict:
  """{"wasserstein", "discernibility", "n_sim", "n_real", "feature_variance_sim",
  "feature_variance_real", "feature_norm_sim", "feature_norm_real"} as Python numbers, with the
  defaults (the last four: `feature_spread` of each domain's features)."""
  spread = {name: feature_spread(z) for name, z in (("sim", z_sim), ("real", z_real))}
  z_sim = jnp.asarray(z_sim, jnp.float32)
  z_real = jnp.asarray(z_real, jnp.float32)
  return {
      "wasserstein": float(wasserstein_distance(z_sim, z_real)),
      "discernibility": float(discernibility(z_sim, z_real, key)),
      "n_sim": int(z_sim.shape[0]),
      "n_real": int(z_real.shape[0]),
      **{f"feature_{stat}_{name}": spread[name][stat] for stat in ("variance", "norm") for name in ("sim", "real")},
  }


def pca_2d(z_sim, z_real) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Both feature sets projected on the 2 principal components of their union.

  Returns (p_sim (n, 2), p_real (m, 2), explained_variance_ratio (2,)). Component signs are
  fixed (largest-magnitude loading positive) so plots do not flip between calls. With d = 1 the
  second component is zero.
  """
  z_sim = np.asarray(z_sim, np.float64)
  z_real = np.asarray(z_real, np.float64)
  _check_pair(z_sim, z_real)
  union = np.concatenate([z_sim, z_real])
  mean = union.mean(0)
  _, s, vt = np.linalg.svd(union - mean, full_matrices=False)
  k = min(2, vt.shape[0])
  comps = np.zeros((2, union.shape[1]))
  comps[:k] = vt[:k]
  signs = np.sign(comps[np.arange(2), np.argmax(np.abs(comps), axis=1)])
  comps *= np.where(signs == 0, 1.0, signs)[:, None]
  var = s**2
  total = var.sum()
  ratio = np.zeros(2)
  ratio[:k] = var[:k] / total if total > 0 else 0.0
  return (z_sim - mean) @ comps.T, (z_real - mean) @ comps.T, ratio
