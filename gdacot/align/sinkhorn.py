"""Unbalanced Sinkhorn in the log-stabilised scaling form (Schmitzer 2019, "absorption").

It runs OTT-JAX's log-domain iteration (`ott.solvers.linear.sinkhorn.Sinkhorn.lse_step`: the same
updates, re-centring of the potentials and over-relaxation, so the same iterates up to rounding
and the same plan), but pays for the matrix's exponentials once per `check_every` updates
instead of twice per update.

Why (issue 18, BUILD_NOTES): one log-domain update of a 256 x 256 problem exponentiates the
whole matrix twice, about 100 us on this CPU, the solve's whole cost; a matrix-vector product
costs ~5 us. Each round therefore
  1. exponentiates S_ij = (f_i + g_j - C_ij) / eps once, every column shifted by its maximum
     (E = exp(S - colmax): no column underflows, nothing overflows);
  2. runs `check_every` updates on it, each potential change folded in as a scaling vector, so
     an update is a vector-matrix and a matrix-vector product;
  3. measures the marginal error (OTT's, the norm of the dual gradient) from the same E.
A row whose sum underflows in step 2 (an outlier far from every column's best match) gets a
clamped update, smaller than the exact one; the next round's fresh exponentials carry on from
there, and the reported error stays above the threshold until it has. The fixed point, and so
the plan, is the exact one's.

Differentiable (`differentiable=True`): a fixed budget of rounds run as a `lax.scan` (no early
exit), gradients through every round, as OTT's unrolled mode with min_iterations=max_iterations.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# A row sum below this is taken as underflowed (float32's smallest normal is ~1.2e-38).
_TINY = 1e-30


class SinkhornResult(NamedTuple):
  plan: jax.Array  # (n, m)
  f: jax.Array  # (n,) dual potentials, re-centred as OTT outputs them
  g: jax.Array  # (m,)
  n_iters: jax.Array  # updates run (a multiple of check_every)
  converged: jax.Array  # bool: the last error is below the threshold and nothing is NaN
  marginal_error: jax.Array  # the last round's error (what was compared with the threshold)


def _kl_rho(epsilon, tau):
  return epsilon * tau / (1.0 - tau)


def solve(cost, a, b, *, epsilon: float, tau: float, threshold: float, max_iterations: int,
          check_every: int, momentum: float, recenter: bool, differentiable: bool = False) -> SinkhornResult:
  """The entropic OT plan of `cost` (n, m) with marginals a (n,), b (m,), both relaxed by
  OTT's tau (1: balanced). The regulariser is the entropy of P (OTT's, POT's "entropy"); the
  caller folds a KL to a b^T into the cost. `recenter` (unbalanced only), `momentum` and
  `check_every` are OTT's `recenter_potentials`, `Momentum(value)` and `inner_iterations`."""
  eps = epsilon
  log_a, log_b = jnp.log(a), jnp.log(b)
  unbalanced = tau < 1.0
  recenter = recenter and unbalanced
  rho = _kl_rho(eps, tau) if unbalanced else None

  def smin(potential, log_marginal):  # OTT's soft-min of a potential, -rho LSE(-h / rho + log c)
    return -rho * jax.nn.logsumexp(-potential / rho + log_marginal)

  # OTT's re-centring constants (lse_step's k and xi, Sejourne et al. 2022, Prop. 2), which for
  # tau_a = tau_b = tau reduce to k = (1 - tau) / 2.
  k_tau = (1.0 - tau) / 2.0
  xi_tau = k_tau / (1.0 - k_tau)

  def centred(f, g):
    """OTT's SinkhornState.recenter for unbalanced problems (the plan does not change)."""
    if not recenter:
      return f, g
    shift = 0.5 * rho * (jax.nn.logsumexp(-f / rho + log_a) - jax.nn.logsumexp(-g / rho + log_b))
    return f + shift, g - shift

  def error(f, g, row_mass, col_mass):
    """OTT's solution_error (norm 1): marginals against the dual gradient's targets."""
    f, g = centred(f, g)
    target_a = a * jnp.exp(-f / rho) if unbalanced else a
    target_b = b * jnp.exp(-g / rho) if unbalanced else b
    row_error = jnp.sum(jnp.abs(row_mass - target_a)) if unbalanced else 0.0
    return row_error + jnp.sum(jnp.abs(col_mass - target_b))

  def one_round(f, g):
    """`check_every` updates on one exponentiation; returns the new potentials and the error."""
    s = (f[:, None] + g[None, :] - cost) / eps
    col_max = jax.lax.stop_gradient(jnp.max(s, axis=0))
    kernel = jnp.exp(s - col_max[None, :])  # every column's largest entry is 1
    f0, g0 = f, g

    def lse_over_rows(f):  # LSE_i (f_i + g0_j - C_ij) / eps, for the g update (exact: no underflow)
      x = (f - f0) / eps
      x_max = jax.lax.stop_gradient(jnp.max(x))
      return jnp.log(jnp.exp(x - x_max) @ kernel) + x_max + col_max

    def lse_over_cols(g):  # LSE_j (f0_i + g_j - C_ij) / eps, for the f update (clamped: may underflow)
      y = (g - g0) / eps + col_max
      y_max = jax.lax.stop_gradient(jnp.max(y))
      return jnp.log(jnp.maximum(kernel @ jnp.exp(y - y_max), _TINY)) + y_max

    def update(carry, _):
      f, g = carry
      # OTT's lse_step, g first; update_potential(f, g, log b, axis=0) = eps log b - eps LSE_i((f - C)/eps).
      new_g = tau * (eps * log_b - eps * lse_over_rows(f) + g0)
      if recenter:
        new_g = new_g - k_tau * smin(f, log_a)
        new_g = new_g + xi_tau * smin(new_g, log_b)
      g = (1.0 - momentum) * g + momentum * new_g
      new_f = tau * (eps * log_a - eps * lse_over_cols(g) + f0)
      if recenter:
        new_f = new_f - k_tau * smin(g, log_b)
        new_f = new_f + xi_tau * smin(new_f, log_a)
      f = (1.0 - momentum) * f + momentum * new_f
      return (f, g), None

    (f, g), _ = jax.lax.scan(update, (f, g), None, length=check_every)
    # The plan's marginals at the new potentials, on the same kernel.
    row_mass = jnp.exp(lse_over_cols(g) + (f - f0) / eps)
    col_mass = jnp.exp(lse_over_rows(f) + (g - g0) / eps)
    return f, g, error(f, g, row_mass, col_mass)

  n, m = cost.shape
  f = jnp.zeros(n, cost.dtype)
  g = jnp.zeros(m, cost.dtype)
  rounds = max(max_iterations // check_every, 1)

  if differentiable:
    def scan_round(carry, _):
      f, g, _ = carry
      return one_round(f, g), None

    (f, g, err), _ = jax.lax.scan(scan_round, (f, g, jnp.asarray(jnp.inf, cost.dtype)), None, length=rounds)
    done = jnp.asarray(rounds)
  else:
    def keep_going(carry):
      _, _, err, done = carry
      return (done < rounds) & (err >= threshold) & ~jnp.isnan(err)  # OTT stops on NaN too

    def next_round(carry):
      f, g, _, done = carry
      return (*one_round(f, g), done + 1)

    f, g, err, done = jax.lax.while_loop(keep_going, next_round, (f, g, jnp.asarray(jnp.inf, cost.dtype), 0))
  f, g = centred(f, g)
  plan = jnp.exp((f[:, None] + g[None, :] - cost) / eps)
  converged = (err < threshold) & jnp.all(jnp.isfinite(f)) & jnp.all(jnp.isfinite(g))
  return SinkhornResult(plan, f, g, done * check_every, converged, err)
