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
import mujoco
from flax import struct
from mujoco import mjx

from gdacot.envs.domains import DomainSpec
from gdacot.render import camera as cam

_XML = os.path.join(os.path.dirname(__file__), "push_cube.xml")

GOAL = (0.0, 0.0)  # Goal of the cube's centre on the table, metres.
SUCCESS_RADIUS = 0.03  # The cube's centre within this distance of the goal counts as success.
HOME = (0.0, 0.0, 0.09)  # Mean initial pusher position.


@struct.dataclass
class State:
  data: mjx.Data
  obs: jax.Array | dict[str, jax.Array]
  success: jax.Array  # The cube is at the goal now.
  t: jax.Array  # Control step index.
  domain: DomainSpec
  key: jax.Array  # For sensor noise.


class PushCube:
  """The built-in benchmark task."""

  action_size = 3
  proprio_slice = slice(0, 3)  # The pusher position: the proprioception of this robot.
  observations = ("state", "image")

  def __init__(self, horizon: int = 120, frame_skip: int = 2, max_delta: float = 0.03, observation: str = "state",
               resolution: cam.Resolution = cam.Resolution(), camera_pos=(0.0, -0.3, 0.65),
               camera_lookat=(0.0, -0.03, 0.0), fovy: float = 50.0):
    if observation not in self.observations:
      raise ValueError(f"unknown observation {observation!r}; known: {list(self.observations)}")
    self.horizon = horizon
    self.frame_skip = frame_skip
    self.max_delta = max_delta
    self.observation = observation
    self.resolution = resolution
    self.camera = (tuple(map(float, camera_pos)), tuple(map(float, camera_lookat)), float(fovy))
    self.mj_model = mujoco.MjModel.from_xml_path(_XML)
    cam.check_scene(self.mj_model)
    # On this process's own device: MJX defaults to jax.devices()[0], which in a multi-process
    # run belongs to process 0.
    self.mjx_model = mjx.put_model(self.mj_model, device=jax.local_devices()[0])
    self._cube_body = self.mj_model.body("cube").id
    self._cube_geom = self.mj_model.geom("cube").id
    self._cube_qpos = self.mj_model.jnt_qposadr[self.mj_model.joint("cube").id]
    self._kp = float(self.mj_model.actuator_gainprm[0, 0])
    self._ctrl_low = jnp.asarray(self.mj_model.actuator_ctrlrange[:, 0])
    self._ctrl_high = jnp.asarray(self.mj_model.actuator_ctrlrange[:, 1])

  @property
  def obs_size(self) -> int:
    """Size of the state vector part of the observation."""
    return 8 if self.observation == "state" else 3

  @property
  def image_shape(self) -> tuple[int, int, int] | None:
    if self.observation != "image":
      return None
    r = self.resolution
    return (r.height, r.width, 4 if r.depth else 3)

  @property
  def control_dt(self) -> float:
    return self.frame_skip * float(self.mj_model.opt.timestep)

  def model_for(self, domain: DomainSpec) -> mjx.Model:
    """The MJX model with the domain's physics written into it (traced values are fine)."""
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

  def reset(self, key: jax.Array, domain: DomainSpec) -> State:
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
    return State(
        data=data,
        obs=self._observe(data, domain, k_obs),
        success=self._success(data),
        t=jnp.zeros((), jnp.int32),
        domain=domain,
        key=key,
    )

  def step(self, state: State, action: jax.Array) -> State:
    model = self.model_for(state.domain)
    action = jnp.clip(action, -1.0, 1.0)
    ee = state.data.qpos[0:3]
    ctrl = jnp.clip(ee + self.max_delta * action, self._ctrl_low, self._ctrl_high)
    data = state.data.replace(ctrl=ctrl)
    data = jax.lax.fori_loop(0, self.frame_skip, lambda _, d: mjx.step(model, d), data)
    key, k_obs = jax.random.split(state.key)
    return state.replace(
        data=data,
        obs=self._observe(data, state.domain, k_obs),
        success=self._success(data),
        t=state.t + 1,
        key=key,
    )

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

  def camera_for(self, domain: DomainSpec) -> cam.Camera:
    pos, lookat, fovy = self.camera
    return cam.Camera(pos=jnp.asarray(pos) + domain.camera_offset, lookat=jnp.asarray(lookat) + domain.camera_lookat_offset,
                      fovy=jnp.asarray(fovy))

  def look_for(self, domain: DomainSpec) -> cam.Look:
    m = self.mj_model
    geom_rgb = jnp.asarray(m.geom_rgba[:, :3])
    for name, rgb in (("table", domain.table_rgb), ("cube", domain.cube_rgb), ("pusher", domain.pusher_rgb)):
      geom_rgb = geom_rgb.at[m.geom(name).id].set(rgb)
    return cam.Look(
        geom_rgb=geom_rgb, floor_texture=domain.table_texture, floor_rgb2=domain.texture_rgb,
        texture_scale=domain.texture_scale, decal_xy=jnp.asarray(GOAL), decal_radius=jnp.asarray(SUCCESS_RADIUS),
        decal_rgb=jnp.array([0.2, 0.7, 0.3]), light_dir=domain.light_dir, brightness=domain.brightness,
        ambient=jnp.asarray(0.35), sky_rgb=jnp.array([0.12, 0.12, 0.16]), channel_order=domain.channel_order,
        pixel_noise=domain.pixel_noise)

  def render(self, data: mjx.Data, domain: DomainSpec, key: jax.Array, resolution: cam.Resolution | None = None):
    """RGB (H, W, 3) in [0, 1] and depth (H, W) of one scene as the domain's camera sees it."""
    return cam.render(self.model_for(domain), data, self.camera_for(domain), self.look_for(domain),
                      resolution or self.resolution, self.mj_model.geom("table").id, key)

  def _observe(self, data: mjx.Data, domain: DomainSpec, key: jax.Array):
    if self.observation == "image":
      rgb, depth = self.render(data, domain, key)
      return {"state": self.ee_pos(data), "image": cam.image_observation(rgb, depth, self.resolution)}
    return self._observe_state(data, domain, key)

  def _observe_state(self, data: mjx.Data, domain: DomainSpec, key: jax.Array) -> jax.Array:
    """Proprioception is exact; the cube is seen through the domain's sensor."""
    theta = jnp.deg2rad(domain.obs_rotation_deg)
    c, s = jnp.cos(theta), jnp.sin(theta)
    rot = jnp.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def sense(p):
      return domain.obs_scale * rot @ p + domain.obs_offset

    cube = sense(self.cube_pos(data))
    yaw = self.cube_yaw(data) + theta
    obs = jnp.concatenate([self.ee_pos(data), cube, jnp.cos(4 * yaw)[None], jnp.sin(4 * yaw)[None]])
    noise = domain.obs_noise * jax.random.normal(key, obs.shape)
    return obs + noise.at[0:3].set(0.0)
