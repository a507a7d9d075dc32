"""A task defined outside gdacot (here, in this test module) trains, evaluates and generates demos
through the same code paths as push_cube, named by its import path: `test_task_interface:ReachBall`.

ReachBall: a point "hand" on two position-servoed slide joints moves over a ball that starts in
the domain's region; success when the hand is within 2 cm of it. No contacts (cheap in MJX).
"""

import json
import os

import jax
import ml_collections
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from flax import struct
from mujoco import mjx

from gdacot.envs import (DomainSpec, Region, State, Task, get_task, make_domain, make_env, register_task,
                         sense_position)

TASK = "test_task_interface:ReachBall"

_XML = """
<mujoco model="reach_ball">
  <option timestep="0.02"/>
  <asset><material name="any" rgba="0.7 0.7 0.7 1"/></asset>
  <worldbody>
    <geom name="table" type="plane" size="0.5 0.5 0.02" material="any" contype="0" conaffinity="0"/>
    <body name="hand" pos="0 0 0.05">
      <joint name="hand_x" type="slide" axis="1 0 0" range="-0.3 0.3" damping="1"/>
      <joint name="hand_y" type="slide" axis="0 1 0" range="-0.3 0.3" damping="1"/>
      <geom name="hand" type="sphere" size="0.02" mass="0.2" rgba="0.2 0.3 0.9 1" contype="0" conaffinity="0"/>
    </body>
    <body name="ball" pos="0 0 0.02">
      <joint name="ball_x" type="slide" axis="1 0 0"/>
      <joint name="ball_y" type="slide" axis="0 1 0"/>
      <geom name="ball" type="sphere" size="0.02" mass="1" rgba="0.9 0.2 0.2 1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <position name="hand_x" joint="hand_x" kp="60" kv="4" ctrlrange="-0.3 0.3"/>
    <position name="hand_y" joint="hand_y" kp="60" kv="4" ctrlrange="-0.3 0.3"/>
  </actuator>
</mujoco>
"""


@struct.dataclass
class ReachBallDomain(DomainSpec):
  hand_gain: float = 1.0  # multiplies the servos' kp
  ball_rgb: object = (0.9, 0.2, 0.2)
  region: Region = Region(low=(-0.1, -0.15), high=(0.1, -0.05))


class ReachBall(Task):
  domain_class = ReachBallDomain
  regions = {"in": Region(low=(-0.1, -0.15), high=(0.1, -0.05)), "ood": Region(low=(-0.1, 0.05), high=(0.1, 0.15))}
  physics_gap = {"hand_gain": 0.7}
  positive_fields = ("hand_gain",)
  vector3_fields = ("ball_rgb",)
  physics_model_fields = ("actuator_gainprm", "actuator_biasprm")
  action_size = 2
  proprio_slice = slice(0, 2)
  state_obs_size = 5  # hand (x, y), the ball's sensed (x, y, z)
  max_delta = 0.02

  def __init__(self, **kwargs):
    super().__init__(horizon=30, frame_skip=2, **kwargs)

  def load_model(self):
    return mujoco.MjModel.from_xml_string(_XML)

  def model_for(self, domain):
    kp = 60.0 * domain.hand_gain
    m = self.mjx_model
    return m.replace(actuator_gainprm=m.actuator_gainprm.at[:, 0].set(kp),
                     actuator_biasprm=m.actuator_biasprm.at[:, 1].set(-kp))

  def reset(self, key, domain):
    k_ball, k_hand, k_obs = jax.random.split(key, 3)
    ball = jax.random.uniform(k_ball, (2,), minval=jnp.asarray(domain.region.low), maxval=jnp.asarray(domain.region.high))
    hand = jax.random.uniform(k_hand, (2,), minval=-0.03, maxval=0.03)
    data = mjx.make_data(self.mjx_model).replace(qpos=jnp.concatenate([hand, ball]), ctrl=hand)
    data = mjx.forward(self.model_for(domain), data)
    return State(data=data, obs=self.observe(data, domain, k_obs), success=self._success(data),
                 t=jnp.zeros((), jnp.int32), domain=domain, key=key)

  def step(self, state, action):
    action = jnp.clip(action, -1.0, 1.0)
    data = state.data.replace(ctrl=state.data.qpos[:2] + self.max_delta * action)
    model = self.model_for(state.domain)
    data = jax.lax.fori_loop(0, self.frame_skip, lambda _, d: mjx.step(model, d), data)
    key, k_obs = jax.random.split(state.key)
    return state.replace(data=data, obs=self.observe(data, state.domain, k_obs), success=self._success(data),
                         t=state.t + 1, key=key)

  def expert_action(self, state):
    return jnp.clip((state.data.qpos[2:4] - state.data.qpos[:2]) / self.max_delta, -1.0, 1.0)

  def proprio(self, data):
    return data.qpos[:2]

  def observe_state(self, data, domain, key):
    ball = sense_position(domain, jnp.concatenate([data.qpos[2:4], jnp.zeros(1)]))
    return jnp.concatenate([data.qpos[:2], ball + domain.obs_noise * jax.random.normal(key, (3,))])

  def geom_colours(self, domain):
    return {"ball": domain.ball_rgb}

  def _success(self, data):
    return jnp.linalg.norm(data.qpos[:2] - data.qpos[2:4]) < 0.02


def test_an_import_path_names_a_task_and_its_domains_follow_it():
  assert get_task(TASK) is ReachBall
  real = make_domain("real", "ood", {"hand_gain": 0.5}, gap="visual_physics", task=TASK)
  assert isinstance(real, ReachBallDomain)
  assert float(real.hand_gain) == 0.5 and int(real.table_texture) == 2  # the override and the shared visual gap
  np.testing.assert_allclose(real.region.low, (-0.1, 0.05))
  with pytest.raises(ValueError, match="cube_mass"):  # push_cube's fields are not this task's
    make_domain("sim", "in", {"cube_mass": 1.0}, task=TASK)
  with pytest.raises(ValueError, match="no gdacot.envs.Task subclass named 'Nope'"):
    get_task("test_task_interface:Nope")
  with pytest.raises(ValueError, match="cannot import module"):
    get_task("no_such_module_here:Task")
  with pytest.raises(ValueError, match="unknown task 'nope'"):
    get_task("nope")
  with pytest.raises(TypeError, match="not a subclass"):
    register_task("bad", dict)


def test_a_process_builds_one_object_per_distinct_task():
  # Runs and evaluations in one process share a task object, and with it the traces of its
  # jitted reset and step; a config read back from JSON (lists, not tuples) names the same task.
  from gdacot.envs import env_from_config  # pylint: disable=g-import-not-at-top
  from gdacot.train import get_config  # pylint: disable=g-import-not-at-top
  cfg = get_config(f"smoke,{TASK}")
  image = get_config(f"smoke,{TASK}")
  image.observation = "image"
  from_json = ml_collections.ConfigDict(json.loads(image.to_json()))
  env = env_from_config(cfg)
  assert isinstance(env, ReachBall) and env_from_config(get_config(f"smoke,{TASK}")) is env
  assert env_from_config(image) is env_from_config(from_json) is not env
  assert env_from_config(image).image_shape == (16, 16, 3) and env.observation == "state"
  image.render.height = 24
  assert env_from_config(image).image_shape == (24, 16, 3)


def test_host_model_carries_the_domain_physics_and_the_camera_draws_the_task():
  env = make_env(TASK, observation="image")
  domain = make_domain("real", "in", gap="physics", task=TASK)
  assert env.host_model_for(domain).actuator_gainprm[0, 0] == pytest.approx(60 * 0.7)
  state = jax.jit(env.reset)(jax.random.PRNGKey(0), domain)
  assert state.obs["image"].shape == (32, 32, 3) and state.obs["state"].shape == (2,)
  image = np.asarray(state.obs["image"], float)
  red = (image[..., 0] > 120) & (image[..., 1] < 80)  # the ball's pixels carry its colour
  assert red.sum() > 0
  # ... and the domain's colour field, not the XML's, is the one drawn (geom_colours).
  green = make_domain("real", "in", {"ball_rgb": (0.1, 0.9, 0.1)}, gap="physics", task=TASK)
  recoloured = np.asarray(jax.jit(env.reset)(jax.random.PRNGKey(0), green).obs["image"], float)
  assert ((recoloured[..., 1] > 120) & (recoloured[..., 0] < 80)).sum() == red.sum()


def test_a_task_of_ones_own_trains_evaluates_and_makes_demos(tmp_path):
  from gdacot.data import generate_demos
  from gdacot.data.sources import load
  from gdacot.data.sources.rlds import write_rlds
  from gdacot.evaluate import evaluate_checkpoint
  from gdacot.train import get_config, train

  cfg = get_config(f"smoke,{TASK}")  # the config built for the task: its domain fields are settable
  assert cfg.task == TASK and "hand_gain" in cfg.domains.real and "cube_mass" not in cfg.domains.real
  cfg.domains.real.hand_gain = 0.8
  cfg.steps, cfg.log_every, cfg.ckpt_every = 20, 10, 20
  cfg.method, cfg.analysis.frames = "cotrain", 0  # the task is under test here, not the OT term (compiles)
  workdir = str(tmp_path / "run")
  out = train(cfg, workdir)
  assert out["task"] == TASK and out["domains"]["real"]["hand_gain"] == pytest.approx(0.8)
  assert {(r["domain"], r["region"]) for r in out["results"]} == {("real", "in"), ("real", "ood")}
  with open(os.path.join(workdir, "eval.json")) as f:
    assert json.load(f)["results"] == out["results"]

  # The evaluation CLI restores it and rolls it out in the task's own MJX scene.
  result = evaluate_checkpoint(workdir, domain="sim", region="ood", episodes=4, out=str(tmp_path / "ood.json"))
  assert result["results"][0]["episodes"] == 4 and result["checkpoint_step"] == 20

  # Demos (what tools.make_demos does), written as RLDS and read back with the task's sizes.
  env = make_env(TASK)
  demos, stats = generate_demos(env, make_domain("real", "in", task=TASK), jax.random.PRNGKey(0), 4, batch_size=4)
  assert stats["expert_success"] > 0.9
  path = write_rlds(str(tmp_path / "demos"), "reach", demos, [{"task": TASK}] * 4)
  back = load(path).demos
  assert back.obs.shape[-1] == 5 and back.actions.shape[-1] == 2
  np.testing.assert_array_equal(np.asarray(back.lengths), np.asarray(demos.lengths))
