"""The alignment options of issue 32 (gdacot/align/options.py): each does what it says, its
default leaves the step as it was, the config validates it, and the train step applies it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdacot.align import get_method
from gdacot.align.options import OPTION_DEFAULTS, alignment_features, alignment_weight
from gdacot.align.uot import joint_cost
from gdacot.train.config import ConfigError, get_config, validate_config


def _align(**options):
  cfg = get_config().align
  for k, v in options.items():
    cfg[k] = v
  return cfg


def _features(seed=0, n=16, d=8):
  k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(seed), 4)
  return (jax.random.normal(k1, (n, d)), jax.random.normal(k2, (n, d)) + 0.5,
          jax.random.normal(k3, (n, 2)), jax.random.normal(k4, (n, 2)))


def test_defaults_are_todays_behaviour():
  cfg = get_config().align
  assert {k: cfg[k] for k in OPTION_DEFAULTS} == {"feature_norm": "none", "grad_side": "both", "warmup_steps": 0}
  z_sim, z_real, _, _ = _features()
  out = alignment_features(z_sim, z_real, cfg)
  assert out[0] is z_sim and out[1] is z_real
  assert alignment_weight(cfg, "lam", jnp.asarray(0)) == cfg.lam  # the config's number itself


def test_l2_features_make_the_cost_blind_to_each_features_scale():
  """Scaling every feature vector by its own factor moves the default cost (mean-normalised,
  so only a global scale cancels) but not the cost of L2-normalised features."""
  z_sim, z_real, _, _ = _features()
  scale_sim = jnp.exp(jax.random.normal(jax.random.PRNGKey(7), (16, 1)))
  scale_real = jnp.exp(jax.random.normal(jax.random.PRNGKey(8), (16, 1)))

  def cost(zs, zr, **options):
    zs, zr = alignment_features(zs, zr, _align(**options))
    return joint_cost(zs, zr, None, None, 1.0, 0.0)

  rescaled = (z_sim * scale_sim, z_real * scale_real)
  np.testing.assert_allclose(cost(*rescaled, feature_norm="l2"), cost(z_sim, z_real, feature_norm="l2"), rtol=1e-5,
                             atol=1e-6)
  assert not np.allclose(cost(*rescaled), cost(z_sim, z_real), rtol=1e-2)
  # Without the cost's mean-normalisation the scale is fixed: squared chords of the unit sphere.
  raw = joint_cost(*alignment_features(z_sim * 100.0, z_real, _align(feature_norm="l2")), None, None, 1.0, 0.0,
                   normalize_terms=False)
  assert 0.0 <= float(raw.min()) and float(raw.max()) <= 4.0 + 1e-5


@pytest.mark.parametrize("method", ["uot_joint", "mmd"])
def test_real_side_only_stops_the_gradient_into_sim_features(method):
  z_sim, z_real, y_sim, y_real = _features()
  align_fn = get_method(method).align

  def grads(**options):
    cfg = _align(**options)

    def loss(zs, zr):
      zs, zr = alignment_features(zs, zr, cfg)
      return align_fn(zs, zr, y_sim, y_real, cfg, None)[0]

    return jax.grad(loss, argnums=(0, 1))(z_sim, z_real)

  g_sim, g_real = grads()
  assert float(jnp.abs(g_sim).max()) > 1e-4 and float(jnp.abs(g_real).max()) > 1e-4
  g_sim, g_real_only = grads(grad_side="real")
  assert float(jnp.abs(g_sim).max()) == 0.0
  np.testing.assert_allclose(g_real_only, g_real, rtol=1e-5, atol=1e-7)  # the real side's gradient unchanged


def test_warmup_ramps_the_weight_linearly():
  cfg = _align(warmup_steps=100, lam=0.3)
  at = lambda step: float(alignment_weight(cfg, "lam", jnp.asarray(step, jnp.int32)))
  assert at(0) == 0.0
  assert at(50) == pytest.approx(0.15)
  assert at(100) == pytest.approx(0.3) and at(5000) == pytest.approx(0.3)
  assert float(alignment_weight(cfg, "adv_lam", jnp.asarray(50))) == pytest.approx(cfg.adv_lam / 2)


@pytest.mark.parametrize("field,value", [("feature_norm", "unit"), ("grad_side", "sim"), ("warmup_steps", -1)])
def test_config_refuses_a_bad_option(field, value):
  cfg = get_config("smoke")
  cfg.align[field] = value
  with pytest.raises(ConfigError, match=f"align.{field}"):
    validate_config(cfg)


def test_a_saved_config_without_the_options_resumes_with_todays_behaviour():
  """A run saved before the fields existed is completed with their defaults: what it ran."""
  from gdacot.train.config import complete_saved_config
  saved = get_config("smoke").to_dict()
  for k in OPTION_DEFAULTS:
    del saved["align"][k]
  done = complete_saved_config(saved)
  assert {k: done["align"][k] for k in OPTION_DEFAULTS} == OPTION_DEFAULTS


def _first_step(method="uot_joint", **options):
  """One train step of a small state policy on random demos: its metrics (no rollouts, no task)."""
  from flax import nnx
  from gdacot.data import Dataset, Demos, Normalizer
  from gdacot.models import make_policy
  from gdacot.train.step import TrainData, init_train_state, make_optimizer, make_train_step
  cfg = get_config("smoke")
  cfg.method, cfg.batch_size, cfg.align.batch_size, cfg.align.lam = method, 32, 16, 1.0
  for k, v in options.items():
    cfg.align[k] = v
  rng = np.random.default_rng(0)

  def demos(offset):
    return Demos(obs=jnp.asarray(rng.normal(offset, 1.0, (8, 10, 4)), jnp.float32),
                 actions=jnp.asarray(rng.uniform(-1, 1, (8, 10, 2)), jnp.float32), lengths=jnp.full(8, 10, jnp.int32))

  identity = Normalizer(jnp.zeros(4), jnp.ones(4))
  data = TrainData(*(Dataset.create(demos(o), identity, cfg.obs_horizon, cfg.chunk) for o in (0.0, 0.7)))
  policy = make_policy(cfg.model, obs_size=4, action_size=2, obs_horizon=cfg.obs_horizon, chunk=cfg.chunk, seed=0)
  graphdef, params = nnx.split(policy, nnx.Param)
  tx = make_optimizer(cfg.optim)
  state = init_train_state(nnx.to_pure_dict(params), tx, seed=0)
  step = make_train_step(graphdef, tx, get_method(method), cfg, slice(0, 2))
  _, metrics = jax.jit(step)(state, data)
  return {k: float(v) for k, v in metrics.items()}


def test_the_train_step_applies_each_option():
  """Against the default step: the warm-up's weight is 0 at step 0 (the loss is BC's), the real
  side only changes the gradient but not the loss, and L2 features change the OT cost."""
  base = _first_step()
  assert base["loss"] == pytest.approx(base["bc_loss"] + base["align_loss"], rel=1e-5) and base["align_loss"] > 0
  warm = _first_step(warmup_steps=10)
  assert warm["align_weight"] == 0.0 and warm["loss"] == pytest.approx(warm["bc_loss"], rel=1e-6)
  real = _first_step(grad_side="real")
  assert real["loss"] == pytest.approx(base["loss"], rel=1e-6) and real["grad_norm"] != pytest.approx(base["grad_norm"], rel=1e-4)
  l2 = _first_step(feature_norm="l2")
  assert l2["ot_cost"] != pytest.approx(base["ot_cost"], rel=1e-3)
