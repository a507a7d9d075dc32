import jax
import jax.numpy as jnp
import numpy as np
import ot  # POT, the reference implementation
import pytest
from flax import nnx
import ml_collections

from gdacot.align import get_method, joint_cost, tau_from_rho, unbalanced_plan, uot_loss
from gdacot.models import make_policy


def _cost(n=32, m=24, dim=64, shift=0.5, seed=0):
  rng = np.random.default_rng(seed)
  x, y = rng.normal(size=(n, dim)), rng.normal(size=(m, dim)) + shift
  return ((x[:, None] - y[None]) ** 2).sum(-1)


def test_tau_mapping():
  assert tau_from_rho(1.0, 0.05) == pytest.approx(1.0 / 1.05)
  assert tau_from_rho(1e9, 0.05) == pytest.approx(1.0)


@pytest.mark.parametrize("solver", ["stabilized", "ott"])
@pytest.mark.parametrize("epsilon,rho", [(0.05, 0.5), (0.1, 1.0), (0.05, 10.0)])
def test_unbalanced_plan_matches_pot(epsilon, rho, solver):
  cost = _cost()
  cost = cost / cost.mean()
  plan = np.asarray(unbalanced_plan(jnp.asarray(cost), epsilon=epsilon, rho=rho, max_iterations=5000, threshold=1e-7,
                                    solver=solver))
  n, m = cost.shape
  ref = ot.unbalanced.sinkhorn_unbalanced(np.full(n, 1 / n), np.full(m, 1 / m), cost, reg=epsilon, reg_m=rho,
                                          reg_type="kl", numItermax=20000, stopThr=1e-12)
  assert np.all(np.isfinite(plan))
  np.testing.assert_allclose(plan, ref, atol=1e-5 * ref.max(), rtol=1e-3)


@pytest.mark.parametrize("rho", [1.0, None])
def test_stabilized_solver_runs_otts_iteration(rho):
  # The same updates as OTT-JAX's log-domain Sinkhorn (re-centring, momentum, checks every 5):
  # the same number of updates to the threshold and the same plan, also with an outlier on each
  # side, far enough (costs ~30x the mean) that whole rows of the exponentiated matrix underflow.
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(128, 16)), rng.normal(size=(128, 16)) + 0.3
  x[3] += 12.0
  y[7] -= 12.0
  cost = jnp.asarray(((x[:, None] - y[None]) ** 2).sum(-1), jnp.float32)
  # Row 3's exp(-C / eps) underflows in float32 (below exp(-87)) everywhere, after normalising.
  assert float(jnp.min(cost[3]) / jnp.mean(cost)) / 0.05 > 87
  kw = dict(epsilon=0.05, rho=rho, max_iterations=400, threshold=1e-4)
  loss_s, stab = uot_loss(cost, solver="stabilized", **kw)
  loss_o, ref = uot_loss(cost, solver="ott", **kw)
  assert stab["ot_converged"] and ref["ot_converged"]
  assert abs(int(stab["ot_sinkhorn_iters"]) - int(ref["ot_sinkhorn_iters"])) <= 10
  np.testing.assert_allclose(loss_s, loss_o, rtol=2e-3)
  np.testing.assert_allclose(stab["ot_mass"], ref["ot_mass"], rtol=1e-3)
  plan_s = unbalanced_plan(cost / cost.mean(), epsilon=0.05, rho=rho, threshold=1e-6)
  plan_o = unbalanced_plan(cost / cost.mean(), epsilon=0.05, rho=rho, threshold=1e-6, solver="ott")
  assert float(jnp.abs(plan_s - plan_o).sum()) < 1e-3 * float(plan_o.sum())


def test_plan_mass_not_collapsed_on_normalised_costs_but_collapses_raw():
  raw = jnp.asarray(_cost(64, 64))
  _, m_norm = uot_loss(raw, epsilon=0.05, rho=1.0, normalize=True)
  _, m_raw = uot_loss(raw, epsilon=0.05, rho=1.0, normalize=False)
  assert 0.3 < float(m_norm["ot_mass"]) <= 1.0 + 1e-3
  assert float(m_raw["ot_mass"]) < 1e-3  # the sharp edge normalisation avoids


def test_plan_approaches_balanced_as_rho_grows():
  cost = _cost(16, 16)
  cost = cost / cost.mean()
  a = np.full(16, 1 / 16)
  balanced = ot.sinkhorn(a, a, cost, reg=0.05, numItermax=20000, stopThr=1e-12)
  errors = []
  for rho in [0.1, 1.0, 10.0, 1000.0]:
    plan = np.asarray(unbalanced_plan(jnp.asarray(cost), epsilon=0.05, rho=rho, max_iterations=10000, threshold=1e-8))
    errors.append(np.abs(plan - balanced).sum())
  assert all(e1 > e2 for e1, e2 in zip(errors, errors[1:])), errors
  assert errors[-1] < 0.01


def test_custom_marginals_are_respected_in_the_balanced_limit():
  cost = jnp.asarray(_cost(8, 8) / _cost(8, 8).mean())
  a = jnp.linspace(1.0, 2.0, 8); a = a / a.sum()
  b = jnp.full(8, 1 / 8)
  plan = unbalanced_plan(cost, epsilon=0.05, rho=1e4, a=a, b=b, max_iterations=10000, threshold=1e-8)
  np.testing.assert_allclose(plan.sum(1), a, atol=1e-3)
  np.testing.assert_allclose(plan.sum(0), b, atol=1e-3)


def _align_cfg(**kw):
  cfg = ml_collections.ConfigDict(dict(alpha_feat=1.0, alpha_y=1.0, normalize_cost=True, epsilon=0.05, rho=1.0,
                                       differentiate_plan=False, sinkhorn_iters=200, sinkhorn_threshold=1e-3))
  cfg.update(kw)
  return cfg


@pytest.mark.parametrize("differentiate_plan", [False, True])
def test_uot_loss_gives_encoder_a_nonzero_gradient(differentiate_plan):
  model_cfg = ml_collections.ConfigDict(dict(encoder="mlp", head="mlp", latent_dim=16, hidden=32, depth=2))
  policy = make_policy(model_cfg, obs_size=10, action_size=3, obs_horizon=2, chunk=4, seed=0)
  graphdef, params = nnx.split(policy, nnx.Param)
  params = nnx.to_pure_dict(params)
  k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(0), 4)
  obs_sim, obs_real = jax.random.normal(k1, (32, 2, 10)), jax.random.normal(k2, (32, 2, 10)) + 1.0
  y_sim, y_real = jax.random.uniform(k3, (32, 3)), jax.random.uniform(k4, (32, 3))
  method = get_method("uot_joint")
  cfg = _align_cfg(differentiate_plan=differentiate_plan)

  def loss(params):
    p = nnx.merge(graphdef, params)
    return method.align(p.features(obs_sim), p.features(obs_real), y_sim, y_real, cfg, p)[0]

  grads = jax.jit(jax.grad(loss))(params)
  enc = jax.tree.leaves(grads["encoder"])
  head = jax.tree.leaves(grads["head"])
  assert all(np.all(np.isfinite(g)) for g in enc)
  assert sum(float(jnp.sum(g**2)) for g in enc) > 1e-8
  assert sum(float(jnp.sum(g**2)) for g in head) == 0.0  # the OT term regularises the encoder only


def test_joint_cost_uses_actions_and_blocks_their_gradient():
  z = jnp.zeros((4, 2))
  y_sim, y_real = jnp.eye(4)[:, :3], jnp.zeros((4, 3))
  c = joint_cost(z, z + 1.0, y_sim, y_real, 1.0, 1.0, normalize_terms=False)
  np.testing.assert_allclose(c, 2.0 + np.asarray(y_sim).sum(1)[:, None] * np.ones((4, 4)))
  g = jax.grad(lambda y: joint_cost(z, z, y, y_real, 1.0, 1.0).sum())(y_sim)
  assert float(jnp.abs(g).sum()) == 0.0


def test_mmd_is_zero_for_equal_sets_and_positive_for_shifted():
  method = get_method("mmd")
  x = jax.random.normal(jax.random.PRNGKey(0), (64, 8))
  assert float(method.align(x, x, None, None, None, None)[0]) == pytest.approx(0.0, abs=1e-6)
  assert float(method.align(x, x + 2.0, None, None, None, None)[0]) > 0.1


def test_differentiated_plan_is_the_converged_plan():
  # ott-jax 0.6.0 stops at min_iterations when it is set below max_iterations and reports
  # "converged"; the differentiable path must run the same iterations as the plain solve.
  # A slow case: the plain solve uses the whole budget without reaching the threshold.
  cost = jax.random.uniform(jax.random.PRNGKey(3), (48, 48)) * 3.0
  kw = dict(epsilon=0.01, rho=1.0, max_iterations=400, threshold=1e-8)  # below float32 reach
  _, m_plain = uot_loss(cost, **kw)
  _, m_diff = uot_loss(cost, differentiate_plan=True, **kw)
  assert int(m_plain["ot_sinkhorn_iters"]) == 400 and not m_plain["ot_converged"]
  assert int(m_diff["ot_sinkhorn_iters"]) == 400 and not m_diff["ot_converged"]
  # The marginal error reported is the solver's last check, above the threshold it missed.
  assert float(m_plain["ot_marginal_error"]) > 1e-8 and float(m_diff["ot_marginal_error"]) > 1e-8
  np.testing.assert_allclose(m_diff["ot_cost"], m_plain["ot_cost"], rtol=1e-4)
  np.testing.assert_allclose(m_diff["ot_mass"], m_plain["ot_mass"], rtol=1e-4)


def test_convergence_report_is_honest_about_the_budget():
  # A fixed budget too small for the threshold is reported as not converged, with its error;
  # the same problem given room converges below the threshold, in fewer updates than the budget.
  cost = jax.random.uniform(jax.random.PRNGKey(5), (64, 64)) * 2.0
  _, short = uot_loss(cost, epsilon=0.05, rho=1.0, max_iterations=5, threshold=1e-5)
  _, full = uot_loss(cost, epsilon=0.05, rho=1.0, max_iterations=500, threshold=1e-5)
  assert not short["ot_converged"] and float(short["ot_marginal_error"]) > 1e-5
  assert full["ot_converged"] and 0 <= float(full["ot_marginal_error"]) < 1e-5
  assert 5 < int(full["ot_sinkhorn_iters"]) < 500


def test_squared_distances_match_the_difference_form_and_its_gradient():
  from gdacot.align.distances import squared_distances
  k1, k2 = jax.random.split(jax.random.PRNGKey(7))
  x, y = jax.random.normal(k1, (20, 16)) * 3 + 5, jax.random.normal(k2, (30, 16)) * 3 + 5
  naive = lambda x, y: jnp.sum((x[:, None] - y[None]) ** 2, -1)
  np.testing.assert_allclose(squared_distances(x, y), naive(x, y), rtol=1e-4, atol=1e-3)
  g_fast = jax.grad(lambda x: jnp.sum(jnp.sin(squared_distances(x, y))))(x)
  g_naive = jax.grad(lambda x: jnp.sum(jnp.sin(naive(x, y))))(x)
  np.testing.assert_allclose(g_fast, g_naive, rtol=1e-3, atol=1e-2)
