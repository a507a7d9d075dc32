import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdacot.data import generate_demos, make_expert_rollout
from gdacot.envs import DOMAIN_NAMES, PushCube, make_domain, make_env, noisy_expert_action

REGIONS = PushCube.regions


@pytest.fixture(scope="module")
def env():
  return make_env("push_cube")


@pytest.fixture(scope="module")
def expert_rollout(env):
  return make_expert_rollout(env, batch_size=128, noise=0.1)


def _trajectory(env, key, domain, steps=20):
  state = env.reset(key, domain)

  def body(s, k):
    s = env.step(s, noisy_expert_action(env, s, k)[0])
    return s, (s.obs, s.data.qpos)

  return jax.lax.scan(body, state, jax.random.split(jax.random.fold_in(key, 1), steps))[1]


def test_same_key_same_trajectory_and_other_key_differs(env):
  run = jax.jit(lambda k, d: _trajectory(env, k, d))
  domain = make_domain("real", "in")
  obs_a, qpos_a = run(jax.random.PRNGKey(3), domain)
  obs_b, qpos_b = run(jax.random.PRNGKey(3), domain)
  obs_c, _ = run(jax.random.PRNGKey(4), domain)
  np.testing.assert_array_equal(obs_a, obs_b)
  np.testing.assert_array_equal(qpos_a, qpos_b)
  assert not np.allclose(obs_a, obs_c)


@pytest.mark.parametrize("domain_name", DOMAIN_NAMES)
@pytest.mark.parametrize("region", sorted(REGIONS))
def test_expert_succeeds_in_every_domain_and_region(env, expert_rollout, domain_name, region):
  obs, actions, first = expert_rollout(jax.random.PRNGKey(11), make_domain(domain_name, region))
  rate = float(np.mean(np.asarray(first) < env.horizon))
  assert rate >= 0.95, f"expert success {rate:.1%} in {domain_name}/{region}"
  # Labels are clean expert actions, always inside the action box.
  assert np.all(np.abs(np.asarray(actions)) <= 1.0)


def test_initial_placement_follows_region(env):
  reset_batch = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
  for region in REGIONS.values():
    domain = make_domain("sim", "in").replace(region=region)
    states = reset_batch(jax.random.split(jax.random.PRNGKey(0), 64), domain)
    xy = np.asarray(jax.vmap(env.cube_pos)(states.data))[:, :2]
    assert np.all(xy >= np.asarray(region.low) - 1e-6) and np.all(xy <= np.asarray(region.high) + 1e-6)


def test_demo_shapes_and_lengths(env, expert_rollout):
  demos, stats = generate_demos(env, make_domain("sim", "ood"), jax.random.PRNGKey(0), 10,
                                batch_size=128, rollout=expert_rollout)
  assert demos.obs.shape == (10, env.horizon, env.obs_size)
  assert demos.actions.shape == (10, env.horizon, env.action_size)
  assert demos.lengths.shape == (10,)
  assert np.all((np.asarray(demos.lengths) > 1) & (np.asarray(demos.lengths) <= env.horizon))
  assert stats["expert_success"] >= 0.95


def test_domain_fields_change_only_what_they_name(env, reset):
  base = make_domain("sim", "in")
  m0 = env.model_for(base)
  changed = {
      "cube_mass": ["body_mass", "body_inertia"],
      "cube_friction": ["geom_friction"],
      "cube_half_size": ["geom_size", "geom_rbound", "geom_aabb", "body_inertia"],
      "actuator_gain": ["actuator_gainprm", "actuator_biasprm"],
  }
  fields = ["body_mass", "body_inertia", "geom_friction", "geom_size", "geom_rbound", "geom_aabb",
            "actuator_gainprm", "actuator_biasprm"]
  for name, expected in changed.items():
    m1 = env.model_for(base.replace(**{name: getattr(base, name) * 1.5}))
    differ = [f for f in fields if not np.allclose(getattr(m0, f), getattr(m1, f))]
    assert sorted(differ) == sorted(expected), name

  # Sensing fields change the observed cube, never the proprioception or the physics.
  key = jax.random.PRNGKey(0)
  s0 = reset(key, base)
  s1 = reset(key, base.replace(obs_rotation_deg=jnp.float32(30.0), obs_offset=jnp.array([0.1, 0.0, 0.0])))
  np.testing.assert_array_equal(s0.data.qpos, s1.data.qpos)
  np.testing.assert_array_equal(s0.obs[:3], s1.obs[:3])
  assert not np.allclose(s0.obs[3:6], s1.obs[3:6])


def test_sensor_transform_is_exact(env, reset):
  spec = make_domain("sim", "in").replace(obs_rotation_deg=jnp.float32(90.0), obs_scale=jnp.float32(2.0),
                                          obs_offset=jnp.array([0.1, 0.2, 0.0]))
  state = reset(jax.random.PRNGKey(1), spec)
  x, y, z = np.asarray(env.cube_pos(state.data))
  np.testing.assert_allclose(state.obs[3:6], [2 * -y + 0.1, 2 * x + 0.2, 2 * z], atol=1e-5)


def test_make_domain_rejects_bad_names_and_fields():
  with pytest.raises(ValueError, match="unknown domain 'mars'"):
    make_domain("mars", "in")
  with pytest.raises(ValueError, match="unknown region 'left'"):
    make_domain("sim", "left")
  with pytest.raises(ValueError, match="cube_colour"):
    make_domain("sim", "in", {"cube_colour": 1.0})
  with pytest.raises(ValueError, match="cube_mass must be positive"):
    make_domain("sim", "in", {"cube_mass": 0.0})
