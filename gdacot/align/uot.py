"""Entropic unbalanced optimal transport (paper A's joint UOT loss), solved with OTT-JAX.

Problem (a, b uniform unless given):

    min_P  <P, C> + epsilon * KL(P | a b^T) + rho * KL(P 1 | a) + rho * KL(P^T 1 | b)

`rho` is the KL marginal penalty, the parametrisation of POT's `reg_m`: rho -> infinity is
balanced OT, small rho lets mass be created or destroyed. OTT-JAX instead takes
`tau = rho / (rho + epsilon)` in (0, 1], tau = 1 being balanced. `tau_from_rho` converts.
The plan equals POT's `ot.unbalanced.sinkhorn_unbalanced(a, b, C, reg=epsilon, reg_m=rho,
reg_type="kl")` (tests/test_uot.py checks it). Two solvers give it: OTT-JAX's Sinkhorn, and
gdacot's log-stabilised scaling form of the same iteration (sinkhorn.py), the default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdacot.align import sinkhorn
from gdacot.align.distances import squared_distances
from gdacot.align.sinkhorn import SinkhornResult


def tau_from_rho(rho: float | None, epsilon: float) -> float:
  """OTT-JAX's marginal relaxation tau for a KL marginal penalty rho: rho / (rho + epsilon).
  rho=None is balanced OT (tau = 1: the plan's marginals are exactly a and b)."""
  return 1.0 if rho is None else rho / (rho + epsilon)


SOLVERS = ("stabilized", "ott")
# The solver's settings when not given; the config's align.sinkhorn_<name> fields default to
# these. Speed (issue 18; tools.bench, BUILD_NOTES): OTT's re-centring and over-relaxation take
# the solve on a 256 x 256 OT batch from 70 updates to 10-30, the same plan within the
# threshold; the stabilised form makes each update 3-7x cheaper on a CPU.
SOLVER_DEFAULTS = {"recenter": True, "momentum": 1.2, "check_every": 5, "solver": "stabilized"}


def final_error(out) -> jax.Array:
  """OTT's marginal error at its last check (what it compared with `threshold`)."""
  errors = out.errors.reshape(out.errors.shape[0], -1)[:, 0]  # (checks,) or (checks, 1)
  return errors[jnp.maximum(jnp.sum(errors != -1) - 1, 0)]


def _solve(cost, epsilon, rho, a, b, max_iterations, threshold, differentiable, *, recenter, momentum,
           check_every, solver) -> SinkhornResult:
  """The plan of `cost` by `solver`: "stabilized", gdacot's log-stabilised scaling form of
  OTT-JAX's iteration (gdacot/align/sinkhorn.py; 3-7x faster on a CPU, the same plan), or
  "ott", OTT-JAX's own log-domain Sinkhorn (what runs saved before it used)."""
  n, m = cost.shape
  a = jnp.full(n, 1.0 / n, cost.dtype) if a is None else a
  b = jnp.full(m, 1.0 / m, cost.dtype) if b is None else b
  tau = tau_from_rho(rho, epsilon)
  # OTT regularises with the entropy of P alone (POT's reg_type="entropy"). The KL to the
  # product a b^T of the papers (POT's reg_type="kl") equals it after adding
  # -epsilon * (log a_i + log b_j) to the cost, which is what the solvers get.
  log_ab = jnp.log(a)[:, None] + jnp.log(b)[None, :]
  cost = cost - epsilon * jax.lax.stop_gradient(log_ab)
  if solver == "stabilized":
    return sinkhorn.solve(cost, a, b, epsilon=epsilon, tau=tau, threshold=threshold, max_iterations=max_iterations,
                          check_every=check_every, momentum=momentum, recenter=recenter,
                          differentiable=differentiable)
  if solver != "ott":
    raise ValueError(f"unknown Sinkhorn solver {solver!r}; use one of {SOLVERS}")
  # Imported here, not at the top: OTT-JAX (with jaxopt, scipy.optimize and matplotlib under it)
  # costs 1.6-2.8 s of every process's start, and only this solver and the W2 analysis use it.
  from ott.geometry import geometry  # pylint: disable=g-import-not-at-top
  from ott.problems.linear import linear_problem  # pylint: disable=g-import-not-at-top
  from ott.solvers.linear import acceleration  # pylint: disable=g-import-not-at-top
  from ott.solvers.linear import sinkhorn as ott_sinkhorn  # pylint: disable=g-import-not-at-top
  geom = geometry.Geometry(cost_matrix=cost, epsilon=epsilon)
  problem = linear_problem.LinearProblem(geom, a=a, b=b, tau_a=tau, tau_b=tau)
  ott_solver = ott_sinkhorn.Sinkhorn(
      threshold=threshold,
      max_iterations=max_iterations,
      # Unrolled (not implicit) differentiation when asked: robust for unbalanced problems.
      implicit_diff=None,
      # Differentiated: a fixed budget of max_iterations (OTT then unrolls a scan). Not a
      # smaller min_iterations: ott-jax 0.6.0 then stops at exactly min_iterations and reports
      # converged whatever the marginal error (docs/design.md, "ott-jax 0.6.0 `min_iterations`").
      min_iterations=max_iterations if differentiable else 0,
      # Convergence checked every `check_every` updates (each check costs about an update).
      inner_iterations=check_every,
      # Re-centring the potentials (for unbalanced problems) removes the drift of f + g that
      # slows them: 70 -> 20 updates, and over-relaxation by 1.2 -> 10 (SOLVER_DEFAULTS).
      recenter_potentials=recenter,
      momentum=acceleration.Momentum(value=momentum),
  )
  out = ott_solver(problem)
  return SinkhornResult(out.matrix, out.f, out.g, out.n_iters, out.converged, final_error(out))


def unbalanced_plan(
    cost: jax.Array,
    *,
    epsilon: float,
    rho: float | None,
    a: jax.Array | None = None,
    b: jax.Array | None = None,
    max_iterations: int = 1000,
    threshold: float = 1e-4,
    **solver_settings,
) -> jax.Array:
  """The entropic unbalanced transport plan P (n, m) for a cost matrix (n, m).

  epsilon: entropic regularisation (absolute, in the cost's units).
  rho:     KL marginal penalty (POT's `reg_m`); OTT's tau = rho / (rho + epsilon); None: balanced.
  a, b:    marginals; uniform (summing to 1) when None.
  solver_settings: of SOLVER_DEFAULTS, e.g. solver="ott" (OTT-JAX's own Sinkhorn, the same plan).
  Runs under `jit`; computed in float32 whatever the input dtype.
  """
  cost = jnp.asarray(cost, jnp.float32)
  return _solve(cost, epsilon, rho, a, b, max_iterations, threshold, differentiable=False,
                **_settings(solver_settings)).plan


def _settings(given: dict) -> dict:
  unknown = sorted(set(given) - set(SOLVER_DEFAULTS))
  if unknown:
    raise TypeError(f"unknown Sinkhorn setting(s) {unknown}; known: {sorted(SOLVER_DEFAULTS)}")
  return {**SOLVER_DEFAULTS, **given}


def joint_cost(
    z_sim, z_real, y_sim, y_real, alpha_feat: float, alpha_y: float, normalize_terms: bool = True
) -> jax.Array:
  """Paper A's ground cost C_ij = a1 ||z_i - z_j||^2 + a2 ||y_i - y_j||^2; y carries no gradient.

  normalize_terms divides each squared-distance matrix by its detached mean first, so a1
  and a2 weigh features against actions whatever their dimensions and units.
  """
  y_sim, y_real = jax.lax.stop_gradient(y_sim), jax.lax.stop_gradient(y_real)

  def sq(x, y):
    d = squared_distances(x, y)
    return d / (jax.lax.stop_gradient(d.mean()) + 1e-8) if normalize_terms else d

  cost = alpha_feat * sq(z_sim, z_real)
  if alpha_y:
    cost = cost + alpha_y * sq(y_sim, y_real)
  return cost


def uot_loss(
    cost: jax.Array,
    *,
    epsilon: float,
    rho: float | None,
    normalize: bool = True,
    differentiate_plan: bool = False,
    max_iterations: int = 200,
    threshold: float = 1e-3,
    **solver_settings,
) -> tuple[jax.Array, dict]:
  """sum(P * C) for the unbalanced plan P of C (balanced when rho is None), with the metrics
  worth watching.

  normalize: divide C by its (detached) mean first, so epsilon and rho are relative to the
    typical cost. Without it, squared distances of 64-d features make the plan's mass
    collapse to ~0 and the gradient vanish silently (DESIGN.md, sharp edges).
  differentiate_plan: False (default, as in paper A's code and DeepJDOT) solves P on the
    detached cost, so gradients reach the encoder through C only; True differentiates
    through the Sinkhorn iterations as well.
  solver_settings: of SOLVER_DEFAULTS (recenter, momentum, check_every, solver).
  """
  cost = cost.astype(jnp.float32)
  scale = jax.lax.stop_gradient(jnp.mean(cost)) + 1e-8 if normalize else 1.0
  cost = cost / scale
  plan_cost = cost if differentiate_plan else jax.lax.stop_gradient(cost)
  out = _solve(plan_cost, epsilon, rho, None, None, max_iterations, threshold, differentiate_plan,
               **_settings(solver_settings))
  plan = out.plan
  loss = jnp.sum(plan * cost)
  metrics = {
      "ot_cost": loss,
      "ot_mass": jnp.sum(plan),
      "ot_cost_scale": scale * jnp.ones(()),
      "ot_sinkhorn_iters": out.n_iters,
      "ot_converged": out.converged.astype(jnp.float32),
      # How far from converged the plan is: a fixed budget that is too small shows here.
      "ot_marginal_error": out.marginal_error,
  }
  return loss, metrics
