"""PushCube: a floating spherical pusher pushes a cube to a fixed goal on a table.

MuJoCo Playground-style interface: `reset(key, domain) -> State` and
`step(state, action) -> State` are pure functions of arrays, so they run under
`jit`, `vmap` (over episodes) and `lax.scan` (over time).

Action: 3 numbers in [-1, 1], the pusher's position-target change per control step in
units of `max_delta` metres (delta end-effector control, as on most arms).
Observations, by `observation`:
  "state" (8,): pusher position (3, proprioception, exact), observed cube position (3, through
      the domain's sensor) and cube yaw as (cos 4y, sin 4y) (2, the cube is 90-degree symmetric)
      in the sensor frame. The goal is fixed, so it is not observed: a constant per-domain
      feature would only hand the policy a domain label.
  "image": {"state": pusher position (3,), "image": uint8 (H, W, 3 or 4)}: the cube is seen
      only by the on-device camera (gdacot/render/camera.py), drawn with the domain's look. The
      goal is painted on the table (as a real setup would mark it); it is the same in both
      domains.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
from mujoco import mjx

from gdacot.envs.base import State, Task, sense_position
from gdacot.envs.push_cube import domain as push_domain
from gdacot.envs.push_cube.domain import GOAL, HOME, SUCCESS_RADIUS, PushCubeDomain
from gdacot.envs.push_cube.expert import push_expert_action


class PushCube(Task):
  """The built-in benchmark task."""

  xml_path = os.path.join(os.path.dirname(__file__), "push_cube.xml")
  domain_class = PushCubeDomain
  regions = push_domain.REGIONS
  physics_gap = push_domain.PHYSICS_GAP
  positive_fields = ("cube_mass", "cube_half_size", "actuator_gain")
  non_negative_fields = ("cube_friction",)
  vector3_fields = ("cube_rgb", "pusher_rgb")
  # What `model_for` writes (C MuJoCo copies them to replay or benchmark a domain).
  physics_model_fields = ("body_mass", "body_inertia", "geom_size", "geom_rbound", "geom_aabb", "geom_friction",
                          "actuator_gainprm", "actuator_biasprm")
  action_size = 3
  proprio_slice = slice(0, 3)  # The pusher position: the proprioception of this robot.
  state_obs_size = 8

  def __init__(self, horizon: int = 120, frame_skip: int = 2, max_delta: float = 0.03, **kwargs):
    super().__init__(horizon, frame_skip, **kwargs)
    self.max_delta = max_delta
    self._cube_body = self.mj_model.body("cube").id
    self._cube_geom = self.mj_model.geom("cube").id
    self._cube_qpos = self.mj_model.jnt_qposadr[self.mj_model.joint("cube").id]
    self._kp = float(self.mj_model.actuator_gainprm[0, 0])
    self._ctrl_low = jnp.asarray(self.mj_model.actuator_ctrlrange[:, 0])
    self._ctrl_high = jnp.asarray(self.mj_model.actuator_ctrlrange[:, 1])

  def model_for(self, domain: PushCubeDomain) -> mjx.Model:
    m = self.mjx_model
    b, g, s = self._cube_body, self._cube_geom, domain.cube_half_size
    inertia = 2.0 / 3.0 * domain.cube_mass * s**2  # solid cube of side 2s
    kp = self._kp * domain.actuator_gain
    return m.replace(
        body_mass=m.body_mass.at[b].set(domain.cube_mass),
        body_inertia=m.body_inertia.at[b].set(jnp.full(3, inertia)),
        geom_size=m.geom_size.at[g].set(jnp.full(3, s)),
        geom_rbound=m.geom_rbound.at[g].set(jnp.sqrt(3.0) * s),
        geom_aabb=m.geom_aabb.at[g, 3:].set(jnp.full(3, s)),
        geom_friction=m.geom_friction.at[g, 0].set(domain.cube_friction),
        actuator_gainprm=m.actuator_gainprm.at[:, 0].set(kp),
        actuator_biasprm=m.actuator_biasprm.at[:, 1].set(-kp),
    )

  def reset(self, key: jax.Array, domain: PushCubeDomain) -> State:
    k_xy, k_yaw, k_ee, k_obs = jax.random.split(key, 4)
    region = domain.region
    cube_xy = jax.random.uniform(k_xy, (2,), minval=jnp.asarray(region.low), maxval=jnp.asarray(region.high))
    yaw = jax.random.uniform(k_yaw, (), minval=-jnp.pi / 4, maxval=jnp.pi / 4)
    ee = jnp.asarray(HOME) + jax.random.uniform(k_ee, (3,), minval=-0.03, maxval=0.03)
    quat = jnp.array([jnp.cos(yaw / 2), 0.0, 0.0, jnp.sin(yaw / 2)])
    cube_pos = jnp.concatenate([cube_xy, domain.cube_half_size[None]])
    q = self._cube_qpos
    qpos = self.mjx_model.qpos0.at[0:3].set(ee).at[q : q + 3].set(cube_pos).at[q + 3 : q + 7].set(quat)
    data = mjx.make_data(self.mjx_model).replace(qpos=qpos, ctrl=ee)
    data = mjx.forward(self.model_for(domain), data)
    return State(data=data, obs=self.observe(data, domain, k_obs), success=self._success(data),
                 t=jnp.zeros((), jnp.int32), domain=domain, key=key)

  def step(self, state: State, action: jax.Array) -> State:
    model = self.model_for(state.domain)
    action = jnp.clip(action, -1.0, 1.0)
    ee = state.data.qpos[0:3]
    ctrl = jnp.clip(ee + self.max_delta * action, self._ctrl_low, self._ctrl_high)
    data = state.data.replace(ctrl=ctrl)
    data = jax.lax.fori_loop(0, self.frame_skip, lambda _, d: mjx.step(model, d), data)
    key, k_obs = jax.random.split(state.key)
    return state.replace(data=data, obs=self.observe(data, state.domain, k_obs), success=self._success(data),
                         t=state.t + 1, key=key)

  def expert_action(self, state: State) -> jax.Array:
    return push_expert_action(self, state)

  # --- Privileged state, used by the scripted expert and by success tests. -----------------

  def cube_pos(self, data: mjx.Data) -> jax.Array:
    return data.qpos[self._cube_qpos : self._cube_qpos + 3]

  def cube_yaw(self, data: mjx.Data) -> jax.Array:
    w, x, y, z = data.qpos[self._cube_qpos + 3 : self._cube_qpos + 7]
    return jnp.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))

  def ee_pos(self, data: mjx.Data) -> jax.Array:
    return data.qpos[0:3]

  def _success(self, data: mjx.Data) -> jax.Array:
    return jnp.linalg.norm(self.cube_pos(data)[:2] - jnp.asarray(GOAL)) < SUCCESS_RADIUS

  # --- Observations. --------------------------------------------------------------------------

  def proprio(self, data: mjx.Data) -> jax.Array:
    return self.ee_pos(data)

  def geom_colours(self, domain: PushCubeDomain) -> dict:
    return {"cube": domain.cube_rgb, "pusher": domain.pusher_rgb}

  def decal(self):
    return GOAL, SUCCESS_RADIUS, (0.2, 0.7, 0.3)  # the goal, painted on the table as a real setup would mark it

  def observe_state(self, data: mjx.Data, domain: PushCubeDomain, key: jax.Array) -> jax.Array:
    """Proprioception is exact; the cube is seen through the domain's sensor."""
    cube = sense_position(domain, self.cube_pos(data))
    yaw = self.cube_yaw(data) + jnp.deg2rad(domain.obs_rotation_deg)
    obs = jnp.concatenate([self.ee_pos(data), cube, jnp.cos(4 * yaw)[None], jnp.sin(4 * yaw)[None]])
    noise = domain.obs_noise * jax.random.normal(key, obs.shape)
    return obs + noise.at[0:3].set(0.0)
