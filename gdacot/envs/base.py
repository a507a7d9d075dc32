"""The task interface every environment implements, and the domain part every task shares.

A task is a MuJoCo Playground-style environment: `reset(key, domain) -> State` and
`step(state, action) -> State` are pure functions of arrays, so they run under `jit`, `vmap`
(over episodes) and `lax.scan` (over time). What differs between the "sim" and the "real"
domain is a `DomainSpec`: a pytree of numbers passed in as data, so one compiled program
serves every domain and region.

The domain has two parts:
  shared (`DomainSpec`, here): what every task's observations go through: the state sensor
      of the object's pose (rotation, scale, offset, noise), and the camera, lighting and
      table look of the on-device renderer;
  the task's own (a subclass of `DomainSpec` in the task's folder): its objects' physics and
      colours (cube mass, friction, ...), and the placement region of its objects.

A task subclasses `Task`, sets its class attributes (the XML next to it, its regions, its
physics gap) and writes `reset`, `step`, `expert_action`, `observe_state` and `proprio`.
Everything else (image observations, the camera, the domain presets and checks, DART noise
on the expert) is shared here. Register it with `gdacot.envs.register_task`, or name it by
import path in a config (`--config.task=my_pkg.my_module:MyTask`).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from gdacot.render import camera as cam


@struct.dataclass
class Region:
  """Axis-aligned box of initial object (x, y) positions, in metres."""

  low: Any = (-0.10, -0.20)
  high: Any = (0.10, -0.12)


@struct.dataclass
class DomainSpec:
  """The domain fields every task shares. Tasks subclass it with their own fields."""

  # Sensing of the object's pose in state observations: p_obs = scale * R_z(rotation) @ p + offset + noise.
  obs_rotation_deg: float = 0.0
  obs_scale: float = 1.0
  obs_offset: Any = (0.0, 0.0, 0.0)
  obs_noise: float = 0.0  # std of Gaussian noise on every observed object coordinate, m
  # Appearance (gdacot/render/camera.py). Colours are RGB in [0, 1].
  table_rgb: Any = (0.75, 0.75, 0.72)
  table_texture: Any = "plain"  # plain | checker | wood (stored as its TEXTURES index)
  texture_rgb: Any = (0.45, 0.28, 0.12)  # the texture's second colour
  texture_scale: float = 0.05  # checker square / wood grain period, m
  channel_order: Any = (0, 1, 2)  # image channel c shows colour channel channel_order[c]: (1, 2, 0) is GBR
  brightness: float = 1.0
  light_dir: Any = (0.3, 0.4, -1.0)  # the direction light travels
  camera_offset: Any = (0.0, 0.0, 0.0)  # added to the camera's position, m
  camera_lookat_offset: Any = (0.0, 0.0, 0.0)  # added to the point it looks at, m
  pixel_noise: float = 0.0  # std of Gaussian noise per pixel and channel, in [0, 1] units
  # Initial placement of the task's objects (set from the task's `regions` by name).
  region: Region = Region()


# Checks on field values, by name; a task adds its own fields to these through its class attributes.
POSITIVE_FIELDS = ("obs_scale", "texture_scale")
NON_NEGATIVE_FIELDS = ("obs_noise", "brightness", "pixel_noise")
VECTOR3_FIELDS = ("obs_offset", "table_rgb", "texture_rgb", "light_dir", "camera_offset", "camera_lookat_offset",
                  "channel_order")

# The gaps every task shares: what the "real" domain changes relative to "sim".
SENSOR_GAP = dict(obs_rotation_deg=10.0, obs_scale=1.1, obs_offset=(0.02, -0.01, 0.0), obs_noise=0.002)
# Paper A's visual gap: plain table to wood, RGB to GBR, camera moved.
VISUAL_GAP = dict(table_texture="wood", channel_order=(1, 2, 0), camera_offset=(0.04, 0.03, -0.03))
GAP_NAMES = ("physics", "visual", "visual_physics", "sensor", "sensor_physics")


@struct.dataclass
class State:
  data: mjx.Data
  obs: jax.Array | dict[str, jax.Array]
  success: jax.Array  # the task is solved now
  t: jax.Array  # control step index
  domain: DomainSpec
  key: jax.Array  # for sensor noise


class Task:
  """Base of every task. Subclasses set the class attributes and write the abstract methods."""

  # --- What a task declares. -----------------------------------------------------------------
  xml_path: ClassVar[str]  # its MJCF, in its own folder
  domain_class: ClassVar[type[DomainSpec]] = DomainSpec  # its DomainSpec subclass
  regions: ClassVar[dict[str, Region]]  # initial placements by name: "in" (both domains' demos), "ood" (sim only)
  physics_gap: ClassVar[dict[str, Any]] = {}  # the task's own fields that the "physics" gap changes
  default_gap: ClassVar[str] = "sensor_physics"
  positive_fields: ClassVar[tuple[str, ...]] = ()  # its own fields that must be > 0, >= 0, or 3-vectors
  non_negative_fields: ClassVar[tuple[str, ...]] = ()
  vector3_fields: ClassVar[tuple[str, ...]] = ()
  physics_model_fields: ClassVar[tuple[str, ...]] = ()  # mjx.Model fields that `model_for` changes
  action_size: ClassVar[int]
  proprio_slice: ClassVar[slice]  # the robot's own state inside a state observation
  state_obs_size: ClassVar[int]  # size of the state observation vector
  observations: ClassVar[tuple[str, ...]] = ("state", "image")
  floor_geom: ClassVar[str] = "table"  # the textured plane
  default_camera: ClassVar[tuple] = ((0.0, -0.3, 0.65), (0.0, -0.03, 0.0), 50.0)  # pos, lookat, fovy
  # Cameras an image observation can hold: "front" is the configurable scene camera; a task may
  # add its own (e.g. a wrist camera, from `view_camera`). Several views are drawn side by side.
  camera_views: ClassVar[tuple[str, ...]] = ("front",)
  default_views: ClassVar[tuple[str, ...]] = ("front",)
  # The most episodes one compiled call may step together on the CPU backend (0: no limit):
  # config defaults stay within it, and validation enforces it there (`batch_cap`).
  max_batch: ClassVar[int] = 0

  @classmethod
  def batch_cap(cls) -> int:
    """`max_batch` where it applies, XLA:CPU (whose hang it avoids), else 0: no limit. It asks
    the backend, so call it after a multi-process run's jax.distributed.initialize()."""
    return cls.max_batch if jax.default_backend() == "cpu" else 0

  def __init__(self, horizon: int, frame_skip: int = 1, *, observation: str = "state",
               resolution: cam.Resolution = cam.Resolution(), camera_pos=None, camera_lookat=None,
               fovy: float | None = None, views: tuple[str, ...] | None = None):
    if observation not in self.observations:
      raise ValueError(f"unknown observation {observation!r}; known: {list(self.observations)}")
    self.views = tuple(views) if views else self.default_views
    unknown = sorted(set(self.views) - set(self.camera_views))
    if unknown or not self.views:
      raise ValueError(f"unknown camera view(s) {unknown or list(self.views)} of {type(self).__name__}; "
                       f"known: {list(self.camera_views)}")
    self.horizon = horizon
    self.frame_skip = frame_skip  # physics steps per control step
    self.observation = observation
    self.resolution = resolution
    pos, lookat, default_fovy = self.default_camera
    self.camera = (tuple(map(float, camera_pos if camera_pos is not None else pos)),
                   tuple(map(float, camera_lookat if camera_lookat is not None else lookat)),
                   float(fovy if fovy is not None else default_fovy))
    self.mj_model = self.load_model()
    cam.check_scene(self.mj_model)
    # On this process's own device: MJX defaults to jax.devices()[0], which in a multi-process
    # run belongs to process 0.
    self.mjx_model = mjx.put_model(self.mj_model, device=jax.local_devices()[0])
    # Every rollout (demos, evaluation, checkpoint scoring, each at its batch size) nests these
    # in its own jit. Jitted here, each is traced once per task object and later rollouts reuse
    # the trace: tracing lift's reset, step and expert (MJX walks the arm's kinematic tree) took
    # about 10 s per rollout on this CPU, half of a warm smoke run (BUILD_NOTES, "Test suite time
    # (issue 18, third part)").
    self.reset, self.step, self.expert_action = map(jax.jit, (self.reset, self.step, self.expert_action))

  # --- What a task writes. -------------------------------------------------------------------

  def load_model(self) -> mujoco.MjModel:
    """The task's MjModel: its `xml_path` (override to build it another way, e.g. from a string)."""
    return mujoco.MjModel.from_xml_path(self.xml_path)

  def reset(self, key: jax.Array, domain: DomainSpec) -> State:
    raise NotImplementedError

  def step(self, state: State, action: jax.Array) -> State:
    raise NotImplementedError

  def expert_action(self, state: State) -> jax.Array:
    """The scripted expert's clean action, from privileged (true) state."""
    raise NotImplementedError

  def observe_state(self, data: mjx.Data, domain: DomainSpec, key: jax.Array) -> jax.Array:
    """The state observation vector (`state_obs_size`,), objects seen through the domain's sensor."""
    raise NotImplementedError

  def proprio(self, data: mjx.Data) -> jax.Array:
    """The robot's own state, exact (what image observations carry beside the image)."""
    raise NotImplementedError

  def geom_colours(self, domain: DomainSpec) -> dict[str, jax.Array]:
    """Geom name -> RGB of the task's objects in this domain (the table's is shared)."""
    return {}

  def decal(self) -> tuple[tuple[float, float], float, tuple[float, float, float]]:
    """A disc painted on the table (centre xy, radius, RGB), e.g. a goal; radius 0 for none."""
    return (0.0, 0.0), 0.0, (0.2, 0.7, 0.3)

  def model_for(self, domain: DomainSpec) -> mjx.Model:
    """The MJX model with the domain's physics written into it (traced values are fine)."""
    return self.mjx_model

  def view_camera(self, data: mjx.Data, view: str) -> cam.Camera:
    """The camera of a task's own view (one of `camera_views` other than "front")."""
    raise ValueError(f"{type(self).__name__} has no camera view {view!r}")

  # --- Shared. ---------------------------------------------------------------------------------

  @property
  def obs_size(self) -> int:
    """Size of the state vector part of the observation."""
    return self.state_obs_size if self.observation == "state" else self.proprio_slice.stop - (self.proprio_slice.start or 0)

  @property
  def image_shape(self) -> tuple[int, int, int] | None:
    if self.observation != "image":
      return None
    r = self.resolution
    return (r.height, r.width * len(self.views), 4 if r.depth else 3)

  @property
  def control_dt(self) -> float:
    return self.frame_skip * float(self.mj_model.opt.timestep)

  def observe(self, data: mjx.Data, domain: DomainSpec, key: jax.Array):
    """The policy's observation: the state vector, or proprioception plus the camera's image (the
    views side by side, left to right in `views` order)."""
    if self.observation == "image":
      keys = [key] if len(self.views) == 1 else jax.random.split(key, len(self.views))  # one view: as before
      images = [cam.image_observation(*self.render(data, domain, k, view=v), self.resolution)
                for k, v in zip(keys, self.views)]
      return {"state": self.proprio(data), "image": jnp.concatenate(images, axis=1)}
    return self.observe_state(data, domain, key)

  def host_model_for(self, domain: DomainSpec) -> mujoco.MjModel:
    """A C MuJoCo MjModel with the domain's physics (for C MuJoCo rollouts and video replay)."""
    m = copy.deepcopy(self.mj_model)
    model = self.model_for(domain)
    for name in self.physics_model_fields:
      getattr(m, name)[:] = np.asarray(getattr(model, name))
    return m

  def camera_for(self, domain: DomainSpec, data: mjx.Data | None = None, view: str = "front") -> cam.Camera:
    """The camera of `view`: the front camera moved by the domain's offsets, or the task's own."""
    if view != "front":
      return self.view_camera(data, view)
    pos, lookat, fovy = self.camera
    return cam.Camera(pos=jnp.asarray(pos) + domain.camera_offset,
                      lookat=jnp.asarray(lookat) + domain.camera_lookat_offset, fovy=jnp.asarray(fovy))

  def look_for(self, domain: DomainSpec) -> cam.Look:
    m = self.mj_model
    geom_rgb = jnp.asarray(m.geom_rgba[:, :3])
    for name, rgb in {self.floor_geom: domain.table_rgb, **self.geom_colours(domain)}.items():
      geom_rgb = geom_rgb.at[m.geom(name).id].set(rgb)
    decal_xy, decal_radius, decal_rgb = self.decal()
    return cam.Look(
        geom_rgb=geom_rgb, floor_texture=domain.table_texture, floor_rgb2=domain.texture_rgb,
        texture_scale=domain.texture_scale, decal_xy=jnp.asarray(decal_xy), decal_radius=jnp.asarray(decal_radius),
        decal_rgb=jnp.asarray(decal_rgb), light_dir=domain.light_dir, brightness=domain.brightness,
        ambient=jnp.asarray(0.35), sky_rgb=jnp.array([0.12, 0.12, 0.16]), channel_order=domain.channel_order,
        pixel_noise=domain.pixel_noise)

  def render(self, data: mjx.Data, domain: DomainSpec, key: jax.Array, resolution: cam.Resolution | None = None,
             view: str = "front"):
    """RGB (H, W, 3) in [0, 1] and depth (H, W) of one scene as the domain's camera `view` sees it."""
    return cam.render(self.model_for(domain), data, self.camera_for(domain, data, view), self.look_for(domain),
                      resolution or self.resolution, self.mj_model.geom(self.floor_geom).id, key)

  @classmethod
  def gaps(cls) -> dict[str, dict[str, Any]]:
    """What the "real" domain changes relative to "sim", by gap name (GAP_NAMES)."""
    return {"physics": dict(cls.physics_gap), "visual": dict(VISUAL_GAP),
            "visual_physics": {**VISUAL_GAP, **cls.physics_gap}, "sensor": dict(SENSOR_GAP),
            "sensor_physics": {**SENSOR_GAP, **cls.physics_gap}}

  @classmethod
  def domain_fields(cls) -> tuple[str, ...]:
    """The fields a config may set for this task's domains."""
    return tuple(f.name for f in dataclasses.fields(cls.domain_class) if f.name != "region")


def sense_position(domain: DomainSpec, p: jax.Array) -> jax.Array:
  """An object's position as the domain's miscalibrated state sensor reports it (before noise)."""
  theta = jnp.deg2rad(domain.obs_rotation_deg)
  c, s = jnp.cos(theta), jnp.sin(theta)
  rot = jnp.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
  return domain.obs_scale * rot @ p + domain.obs_offset


def noisy_expert_action(task: Task, state: State, key: jax.Array, noise: float = 0.1):
  """(executed, label): the expert's action perturbed by Gaussian noise, and the clean one.

  Demos execute the noisy action but record the clean one as the label (DART, Laskey et
  al. 2017): the demos visit the states a slightly-off policy reaches and show how to
  recover from them, which makes behaviour cloning far more robust than cloning the noise.
  """
  clean = task.expert_action(state)
  return perturb_action(clean, key, noise), clean


def perturb_action(action: jax.Array, key: jax.Array, noise: float) -> jax.Array:
  """DART's executed action: `action` plus Gaussian noise of std `noise`, clipped to [-1, 1]."""
  return jnp.clip(action + noise * jax.random.normal(key, action.shape), -1.0, 1.0)
