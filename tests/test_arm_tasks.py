"""The arm tasks (lift, stack, pick_place): inverse kinematics, grasping, success tests, experts,
determinism, domain fields and the camera.

Compiles are shared: one compiled closed-loop rollout per task serves every test that runs
one (domains are traced data; the controller is chosen by a traced flag), and the
module-scoped env fixtures build each task once.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mujoco import mjx
from runs import OPTIMISED

from gdacot.envs import Lift, PickPlace, Stack, make_domain, noisy_expert_action
from gdacot.envs.arm.task import FINGER_TRAVEL, NUM_JOINTS
from gdacot.envs.pick_place import TARGET
from gdacot.render import camera as cam

TASKS = {"lift": Lift, "stack": Stack, "pick_place": PickPlace}
_ENVS = {}


def env_of(name):
  if name not in _ENVS:
    _ENVS[name] = TASKS[name]()
  return _ENVS[name]


@functools.lru_cache(maxsize=None)
def closed_loop(name):
  """Compiled `fn(keys, domain, targets, use_expert) -> trajectories` of a batch of episodes:
  the noisy expert (DART noise 0.1, as demos run it), or a proportional controller that
  drives the tool centre point to `targets` (B, 3) with the gripper open."""
  env = env_of(name)

  def episode(key, domain, target, use_expert):
    state = env.reset(key, domain)

    def body(state, k):
      expert, _ = noisy_expert_action(env, state, k, 0.1)
      reach = jnp.concatenate([jnp.clip((target - env.tcp_pos(state.data)) / env.max_delta, -1, 1), -jnp.ones(1)])
      after = env.step(state, jnp.where(use_expert, expert, reach))
      out = {"success": state.success, "tcp": env.tcp_pos(state.data), "cube": env.object_pos(state.data),
             "obs": state.obs, "closing": expert[-1] > 0}  # the expert's gripper command: close
      return after, out

    return jax.lax.scan(body, state, jax.random.split(key, env.horizon))[1]

  return jax.jit(jax.vmap(episode, in_axes=(0, None, 0, None)), compiler_options=OPTIMISED)


# Every call runs this many episodes (the last one padded), so each task compiles its closed
# loop once for all the tests here; within every task's max_batch.
CHUNK = 32


def run(name, domain, n, seed=0, targets=None, use_expert=True):
  pad = -n % CHUNK
  keys = jax.random.split(jax.random.PRNGKey(seed), n + pad)
  targets = jnp.zeros((n + pad, 3)) if targets is None else jnp.pad(jnp.asarray(targets, jnp.float32), ((0, pad), (0, 0)))
  parts = [closed_loop(name)(keys[i : i + CHUNK], domain, targets[i : i + CHUNK], use_expert)
           for i in range(0, n + pad, CHUNK)]
  return jax.tree.map(lambda *x: np.concatenate([np.asarray(a) for a in x])[:n], *parts)


def test_inverse_kinematics_reaches_targets_across_the_workspace_within_5mm():
  env = env_of("lift")
  # Corners and centres of both regions, at grasp, approach and carry heights.
  xs, ys, zs = (-0.13, -0.03, 0.03, 0.13), (-0.12, 0.0, 0.12), (0.025, 0.08, 0.15)
  targets = np.array([(x, y, z) for x in xs for y in ys for z in zs])
  out = run("lift", make_domain("sim", "in", task="lift"), len(targets), targets=targets, use_expert=False)
  error = np.linalg.norm(out["tcp"][:, -1] - targets, axis=-1)
  assert error.max() < 0.005, f"worst {error.max() * 1e3:.1f} mm at {targets[error.argmax()]}"
  assert env.horizon >= 40


def test_a_grasped_cube_stays_up_and_slips_at_near_zero_friction():
  grippy = run("lift", make_domain("sim", "in", task="lift"), 16, seed=3)
  slippery = run("lift", make_domain("sim", "in", {"cube_friction": 0.0}, task="lift"), 16, seed=3)
  between_pads = lambda out: np.linalg.norm(out["cube"] - out["tcp"], axis=-1) < 0.02  # (episodes, steps)
  # Default friction: lifted, and still between the pads, up, at the end of the episode.
  assert grippy["success"].any(1).mean() >= 0.9
  assert (between_pads(grippy)[:, -1] & (grippy["cube"][:, -1, 2] > 0.08)).mean() >= 0.9
  # Near-zero friction (the pads' 0.001): the same expert first closes on the cube between its
  # pads in every episode (a grasp, not a miss), and the squeezed cube squirts out of them (MJX
  # shoots it off fast: no friction damps it): by the end, none is held.
  assert (between_pads(slippery) & slippery["closing"]).any(1).all()
  assert not between_pads(slippery)[:, -1].any()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_expert_succeeds_in_every_domain_and_region(name):
  # 64 episodes a pair (at most 3 failures): the experts measured 0.98-1.00 on every pair; 128 a
  # pair cost the suite about 2 CPU-minutes more and checked the same.
  rates = {}
  for domain_name in ("sim", "real"):
    for region in ("in", "ood"):
      out = run(name, make_domain(domain_name, region, task=name), 64, seed=11)
      rates[f"{domain_name}/{region}"] = out["success"].any(1).mean()
  assert min(rates.values()) >= 0.95, rates


def test_same_key_same_trajectory_other_key_other():
  domain = make_domain("real", "in", task="stack")
  a, b = run("stack", domain, 4, seed=5), run("stack", domain, 4, seed=5)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  c = run("stack", domain, 4, seed=6)
  assert not np.allclose(a["cube"], c["cube"])


def _set_state(env, domain, *, cubes, opening):
  """mjx.Data with the arm at home, the cubes at `cubes` [(x, y, z)], the gripper `opening` wide,
  at rest, its kinematics computed (success tests read qpos and qvel; the camera reads poses)."""
  qpos = env.mjx_model.qpos0.at[:NUM_JOINTS].set(env.home_qpos).at[env._fingers].set(opening / 2)
  for adr, pos in zip(env._object_qpos, cubes):
    qpos = qpos.at[adr : adr + 3].set(jnp.asarray(pos)).at[adr + 3 : adr + 7].set(jnp.array([1.0, 0, 0, 0]))
  return _kinematics(env.model_for(domain), mjx.make_data(env.mjx_model).replace(qpos=qpos))


@jax.jit
def _kinematics(model, data):
  return mjx.kinematics(model, data)


def test_success_tests_on_hand_set_states():
  h = 0.025
  lift = env_of("lift")
  d = make_domain("sim", "in", task="lift")
  assert bool(lift._success(_set_state(lift, d, cubes=[(0, 0, 0.10)], opening=0.04), d))
  assert not bool(lift._success(_set_state(lift, d, cubes=[(0, 0, h)], opening=0.04), d))

  stack = env_of("stack")
  d = make_domain("sim", "in", task="stack")
  on_top = [(0.0, 0.0, 3 * h), (0.0, 0.0, h)]
  assert bool(stack._success(_set_state(stack, d, cubes=on_top, opening=0.08), d))
  assert not bool(stack._success(_set_state(stack, d, cubes=on_top, opening=2 * h), d))  # still held
  assert not bool(stack._success(_set_state(stack, d, cubes=[(0.0, 0.08, h), (0.0, 0.0, h)], opening=0.08), d))
  moving = _set_state(stack, d, cubes=on_top, opening=0.08)
  moving = moving.replace(qvel=moving.qvel.at[stack._object_qvel[0]].set(0.3))
  assert not bool(stack._success(moving, d))  # not yet at rest

  pick = env_of("pick_place")
  d = make_domain("sim", "in", task="pick_place")
  assert bool(pick._success(_set_state(pick, d, cubes=[(*TARGET, h)], opening=0.08), d))
  assert not bool(pick._success(_set_state(pick, d, cubes=[(TARGET[0], TARGET[1] - 0.1, h)], opening=0.08), d))
  assert not bool(pick._success(_set_state(pick, d, cubes=[(*TARGET, 0.06)], opening=2 * h), d))  # still carried


def _leaf_changes(a, b):
  return {path for path, x, y in zip(
      [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(a)[0]],
      jax.tree.leaves(a), jax.tree.leaves(b)) if not np.array_equal(np.asarray(x), np.asarray(y))}


@pytest.mark.parametrize("field,value,expected", [
    ("cube_mass", 0.3, {".body_mass", ".body_inertia"}),
    ("cube_friction", 0.4, {".geom_friction"}),
    ("cube_half_size", 0.02, {".geom_size", ".geom_rbound", ".geom_aabb", ".body_inertia"}),
    ("arm_gain", 0.5, {".actuator_gainprm", ".actuator_biasprm"}),
    ("gripper_force", 5.0, {".actuator_forcerange"}),
    ("cube_rgb", (0.0, 1.0, 0.0), set()),  # appearance only: the physics is untouched
])
def test_domain_fields_change_only_what_they_name(field, value, expected):
  env = env_of("stack")
  base = make_domain("sim", "in", task="stack")
  changed = make_domain("sim", "in", {field: value}, task="stack")
  assert _leaf_changes(env.model_for(base), env.model_for(changed)) == expected
  # Rows: the cubes' bodies and geoms, or the arm's / the fingers' actuators, nothing else.
  m0, m1 = env.model_for(base), env.model_for(changed)
  rows = {".body_mass": env._object_bodies, ".body_inertia": env._object_bodies, ".geom_friction": env._object_geoms,
          ".geom_size": env._object_geoms, ".actuator_gainprm": np.arange(NUM_JOINTS),
          ".actuator_biasprm": np.arange(NUM_JOINTS), ".actuator_forcerange": np.arange(NUM_JOINTS, NUM_JOINTS + 2)}
  for name in expected & set(rows):
    x, y = np.asarray(getattr(m0, name[1:])), np.asarray(getattr(m1, name[1:]))
    differ = np.flatnonzero((x != y).reshape(len(x), -1).any(1))
    assert set(differ) <= set(rows[name]), (name, differ)
  look0, look1 = env.look_for(base), env.look_for(changed)
  differ = np.flatnonzero((np.asarray(look0.geom_rgb) != np.asarray(look1.geom_rgb)).any(1))
  assert list(differ) == ([env.mj_model.geom("cube").id] if field == "cube_rgb" else [])


def test_camera_draws_the_arm_and_the_cube():
  env = env_of("pick_place")
  pure = {"cube_rgb": (0.0, 1.0, 0.0), "arm_rgb": (0.0, 0.0, 1.0), "table_rgb": (1.0, 1.0, 1.0)}
  domain = make_domain("sim", "in", pure, task="pick_place")
  data = _set_state(env, domain, cubes=[(-0.08, 0.0, 0.025)], opening=0.08)
  resolution = cam.Resolution(height=48, width=48)
  look = env.look_for(domain).replace(ambient=jnp.float32(1.0))  # unshaded: pixels carry the geom's colour

  @jax.jit
  def draw(data, camera):
    return cam.render(env.model_for(domain), data, camera, look, resolution, env.mj_model.geom("table").id,
                      jax.random.PRNGKey(0))[0]

  front = np.asarray(draw(data, env.camera_for(domain)))
  is_cube = np.all(np.abs(front - (0.0, 1.0, 0.0)) < 0.02, axis=-1)
  is_arm = np.all(np.abs(front - (0.0, 0.0, 1.0)) < 0.02, axis=-1)
  assert is_cube.sum() >= 4 and is_arm.sum() >= 20, (is_cube.sum(), is_arm.sum())
  # The wrist camera, right above the cube, sees mostly the cube in the middle of its image.
  hand_over_cube = data.replace(site_xpos=data.site_xpos.at[env._tcp].set(jnp.array([-0.08, 0.0, 0.12]))
                                .at[env._wrist_camera].set(jnp.array([-0.08 + 0.055, 0.0, 0.18])),
                                site_xmat=data.site_xmat.at[env._tcp].set(jnp.diag(jnp.array([1.0, -1.0, -1.0]))))
  wrist = np.asarray(draw(hand_over_cube, env.camera_for(domain, hand_over_cube, "wrist")))
  centre = wrist[16:32, 16:32]
  assert np.all(np.abs(centre - (0.0, 1.0, 0.0)) < 0.02, axis=-1).mean() > 0.3


def test_image_observation_holds_both_views_side_by_side():
  env = TASKS["lift"](observation="image", resolution=cam.Resolution(height=16, width=16))
  assert env.views == ("front", "wrist") and env.image_shape == (16, 32, 3)
  state = jax.jit(env.reset)(jax.random.PRNGKey(0), make_domain("sim", "in", task="lift"))
  assert state.obs["image"].shape == (16, 32, 3) and state.obs["state"].shape == (11,)
  assert not np.array_equal(state.obs["image"][:, :16], state.obs["image"][:, 16:])
  with pytest.raises(ValueError, match="unknown camera view"):
    TASKS["lift"](observation="image", views=("front", "top"))


def test_state_observation_layout():
  env = env_of("stack")
  out = run("stack", make_domain("sim", "in", task="stack"), 2, seed=1)
  obs = out["obs"][:, 0]
  assert obs.shape == (2, env.state_obs_size) and env.state_obs_size == 21
  np.testing.assert_allclose(obs[:, :3], out["tcp"][:, 0], atol=1e-6)  # proprioception: exact
  np.testing.assert_allclose(obs[:, 3], FINGER_TRAVEL * 2, atol=2e-3)  # opening: the gripper starts open
  np.testing.assert_allclose(obs[:, 11:14], out["cube"][:, 0], atol=1e-6)  # the sim sensor is exact
