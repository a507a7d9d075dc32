"""ArmTask: what every arm manipulation task shares (the arm, its control, its sensing, its cubes).

The arm is a 7-DoF arm with the Franka Panda's published kinematics and a parallel-jaw
gripper (arm.xml, included by each task's scene). A task subclasses `ArmTask` with its scene
XML, its cubes (`objects`), regions, success test and scripted expert.

Action: 4 numbers in [-1, 1]: the tool centre point's position change per control step in
units of `max_delta` metres (dx, dy, dz), and the gripper (-1 open ... +1 closed; each finger's
position target is (1 - a) / 2 * 4 cm, and closing on an object squeezes it with the
domain's `gripper_force`). The hand is held pointing down at a fixed yaw: inverse kinematics
(kinematics.py) turns the command into the seven joints' position targets on the device,
every control step.

Observations, by `observation`:
  "state" (11 + 5 per cube,): proprioception (tool centre point position 3, gripper opening 1,
      joint positions 7: exact), then for each cube its position (3) through the domain's
      sensor and its yaw as (cos 4y, sin 4y) (a cube is 90-degree symmetric).
  "image": {"state": proprioception (11,), "image": uint8 (H, W * views, C)}: the front camera
      and the wrist camera (`views`), side by side.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from gdacot.envs.arm import kinematics
from gdacot.envs.base import DomainSpec, Region, State, Task, sense_position
from gdacot.render import camera as cam

NUM_JOINTS = 7
FINGER_TRAVEL = 0.04  # each finger's stroke, m: the gripper opens to 8 cm
# The tool centre point's home above the table (the arm's base is at (-0.5, 0, 0)).
HOME = (-0.05, 0.0, 0.18)
# Commands keep the tool centre point in this box: the pads stay above the table top.
WORKSPACE_LOW = (-0.30, -0.30, 0.012)
WORKSPACE_HIGH = (0.30, 0.30, 0.35)
# A posture near the Panda's "ready" pose, the inverse kinematics' starting point and the
# null-space pull's rest posture (elbow up, hand down).
READY = (0.0, -0.3, 0.0, -2.4, 0.0, 2.1, 0.7854)


@struct.dataclass
class ArmDomain(DomainSpec):
  """The shared fields plus the arm's and its cubes' physics and colours."""

  cube_mass: float = 0.1  # kg, every cube
  cube_friction: float = 1.0  # sliding friction, against the table, the pads and each other
  cube_half_size: float = 0.025  # m
  arm_gain: float = 1.0  # multiplies the joint servos' stiffness and damping
  gripper_force: float = 20.0  # N, the most each finger pushes with
  cube_rgb: Any = (0.85, 0.2, 0.2)  # the cube to grasp
  arm_rgb: Any = (0.92, 0.92, 0.9)


# The "physics" gap of every arm task: heavier, slipperier, smaller cubes; softer servos; a
# weaker grip.
PHYSICS_GAP = dict(cube_mass=0.15, cube_friction=0.7, cube_half_size=0.022, arm_gain=0.8, gripper_force=14.0)


class ArmTask(Task):
  """The arm, its delta end-effector control, its sensing and its cubes. Subclasses set the
  scene (`xml_path`), `objects`, `regions`, `horizon` and write `_success`, `_place_objects`
  and `expert_action`."""

  domain_class = ArmDomain
  physics_gap = PHYSICS_GAP
  objects: ClassVar[tuple[str, ...]] = ("cube",)  # free-floating cubes: body, joint and geom of one name
  # XLA:CPU (jax 0.10.2, fusion emitters off) hangs in a futex wait, using no CPU, running an arm
  # task's rollout over too many episodes at once: lift at 256 (stack already at 128: its cap is
  # lower); 128 run. Until that is understood, batches on the CPU backend are capped (configs and
  # checks enforce it, `Task.batch_cap`); other backends take any batch (BUILD_NOTES, "Arm tasks
  # (issue 16, first part)"; docs/tasks.md, "Arm tasks").
  max_batch: ClassVar[int] = 128
  positive_fields = ("cube_mass", "cube_half_size", "arm_gain", "gripper_force")
  non_negative_fields = ("cube_friction",)
  vector3_fields = ("cube_rgb", "arm_rgb")
  physics_model_fields = ("body_mass", "body_inertia", "geom_size", "geom_rbound", "geom_aabb", "geom_friction",
                          "actuator_gainprm", "actuator_biasprm", "actuator_forcerange")
  action_size = 4
  proprio_slice = slice(0, 11)
  default_gap = "sensor_physics"
  # Looking at the workspace from the far side of the table, the arm reaching in from behind.
  default_camera = ((0.42, -0.3, 0.42), (-0.08, 0.0, 0.06), 55.0)
  camera_views = ("front", "wrist")
  default_views = ("front", "wrist")

  def __init__(self, horizon: int, frame_skip: int = 8, max_delta: float = 0.02, **kwargs):
    super().__init__(horizon, frame_skip, **kwargs)
    self.max_delta = max_delta
    m = self.mj_model
    self._tcp = m.site("tcp").id
    self._wrist_camera = m.site("wrist_camera").id
    self._hand = m.body("hand").id
    self._fingers = np.array([m.jnt_qposadr[m.joint(n).id] for n in ("left_finger", "right_finger")])
    self._arm_geoms = np.array([i for i in range(m.ngeom) if m.geom_matid[i] == m.material("arm").id])
    self._object_qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in self.objects])
    self._object_qvel = np.array([m.jnt_dofadr[m.joint(n).id] for n in self.objects])
    self._object_bodies = np.array([m.body(n).id for n in self.objects])
    self._object_geoms = np.array([m.geom(n).id for n in self.objects])
    self._kp = np.asarray(m.actuator_gainprm[:NUM_JOINTS, 0])
    self._kv = np.asarray(-m.actuator_biasprm[:NUM_JOINTS, 2])
    self._joint_low = jnp.asarray(m.jnt_range[:NUM_JOINTS, 0])
    self._joint_high = jnp.asarray(m.jnt_range[:NUM_JOINTS, 1])
    self.home_qpos = jnp.asarray(self._solve_home())

  @property
  def state_obs_size(self) -> int:  # type: ignore[override]
    return 11 + 5 * len(self.objects)

  # --- The arm. --------------------------------------------------------------------------------

  def _solve_home(self) -> np.ndarray:
    """Joint angles that put the tool centre point at HOME, hand down (C MuJoCo, once).

    The small JAX helpers run on the host's CPU device: on a GPU each eager 7x7 solve would ask
    cuSolver for a handle, which failed with many runs sharing one GPU (BUILD_NOTES, "Arm tasks,
    second part (issue 16)")."""
    with jax.default_device(jax.devices("cpu")[0]):
      return self._solve_home_here()

  def _solve_home_here(self) -> np.ndarray:
    m, d = self.mj_model, mujoco.MjData(self.mj_model)
    q = np.array(READY)
    target_rot = np.asarray(kinematics.HAND_DOWN).T
    jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
    for _ in range(200):
      d.qpos[:NUM_JOINTS] = q
      mujoco.mj_kinematics(m, d)
      mujoco.mj_comPos(m, d)
      mujoco.mj_jacSite(m, d, jacp, jacr, self._tcp)
      rot = d.site_xmat[self._tcp].reshape(3, 3)
      err = np.concatenate([np.asarray(HOME) - d.site_xpos[self._tcp],
                            np.asarray(kinematics.orientation_error(rot, target_rot))])
      jac = np.concatenate([jacp[:, :NUM_JOINTS], jacr[:, :NUM_JOINTS]])
      q = q + np.asarray(kinematics.dls_step(jac, err, q, np.asarray(READY), damping=0.02))
    if np.linalg.norm(err[:3]) > 1e-4:
      raise RuntimeError(f"{type(self).__name__}: no joint angles reach the home position {HOME}")
    return q

  def model_for(self, domain: ArmDomain) -> mjx.Model:
    m = self.mjx_model
    b, g, s = self._object_bodies, self._object_geoms, domain.cube_half_size
    inertia = 2.0 / 3.0 * domain.cube_mass * s**2  # solid cube of side 2s
    kp, kv = self._kp * domain.arm_gain, self._kv * domain.arm_gain
    return m.replace(
        body_mass=m.body_mass.at[b].set(domain.cube_mass),
        body_inertia=m.body_inertia.at[b].set(inertia),
        geom_size=m.geom_size.at[g].set(s),
        geom_rbound=m.geom_rbound.at[g].set(jnp.sqrt(3.0) * s),
        geom_aabb=m.geom_aabb.at[g, 3:].set(s),
        geom_friction=m.geom_friction.at[g, 0].set(domain.cube_friction),
        actuator_gainprm=m.actuator_gainprm.at[:NUM_JOINTS, 0].set(kp),
        actuator_biasprm=m.actuator_biasprm.at[:NUM_JOINTS, 1].set(-kp).at[:NUM_JOINTS, 2].set(-kv),
        actuator_forcerange=m.actuator_forcerange.at[NUM_JOINTS:].set(
            jnp.stack([-domain.gripper_force, domain.gripper_force])),
    )

  def reset(self, key: jax.Array, domain: ArmDomain) -> State:
    k_place, k_arm, k_obs = jax.random.split(key, 3)
    arm = self.home_qpos + jax.random.uniform(k_arm, (NUM_JOINTS,), minval=-0.05, maxval=0.05)
    qpos = self.mjx_model.qpos0.at[:NUM_JOINTS].set(arm).at[self._fingers].set(FINGER_TRAVEL)
    for adr, (xy, yaw) in zip(self._object_qpos, self._place_objects(k_place, domain)):
      quat = jnp.array([jnp.cos(yaw / 2), 0.0, 0.0, jnp.sin(yaw / 2)])
      qpos = qpos.at[adr : adr + 3].set(jnp.concatenate([xy, domain.cube_half_size[None]]))
      qpos = qpos.at[adr + 3 : adr + 7].set(quat)
    ctrl = jnp.concatenate([arm, jnp.full(2, FINGER_TRAVEL)])
    data = mjx.make_data(self.mjx_model).replace(qpos=qpos, ctrl=ctrl)
    data = mjx.forward(self.model_for(domain), data)
    return State(data=data, obs=self.observe(data, domain, k_obs), success=self._success(data, domain),
                 t=jnp.zeros((), jnp.int32), domain=domain, key=key)

  def step(self, state: State, action: jax.Array) -> State:
    model = self.model_for(state.domain)
    data = state.data.replace(ctrl=self.control(model, state.data, action))
    data = jax.lax.fori_loop(0, self.frame_skip, lambda _, d: mjx.step(model, d), data)
    key, k_obs = jax.random.split(state.key)
    return state.replace(data=data, obs=self.observe(data, state.domain, k_obs),
                         success=self._success(data, state.domain), t=state.t + 1, key=key)

  def control(self, model: mjx.Model, data: mjx.Data, action: jax.Array) -> jax.Array:
    """The actuators' targets for a delta end-effector action: inverse kinematics for the arm."""
    action = jnp.clip(action, -1.0, 1.0)
    tcp, rot = self.tcp_pos(data), data.site_xmat[self._tcp]
    target = jnp.clip(tcp + self.max_delta * action[:3], jnp.asarray(WORKSPACE_LOW), jnp.asarray(WORKSPACE_HIGH))
    error = jnp.concatenate([target - tcp, kinematics.orientation_error(rot, jnp.asarray(kinematics.HAND_DOWN).T)])
    jac = kinematics.tool_jacobian(model, data, tcp, self._hand, slice(0, NUM_JOINTS))
    q = data.qpos[:NUM_JOINTS]
    arm = jnp.clip(q + kinematics.dls_step(jac, error, q, self.home_qpos), self._joint_low, self._joint_high)
    finger = (1.0 - action[3]) / 2.0 * FINGER_TRAVEL
    return jnp.concatenate([arm, jnp.stack([finger, finger])])

  # --- Privileged state, used by the scripted experts and by success tests. -----------------

  def tcp_pos(self, data: mjx.Data) -> jax.Array:
    return data.site_xpos[self._tcp]

  def gripper_opening(self, data: mjx.Data) -> jax.Array:
    """Distance between the pads' inner faces, m."""
    return data.qpos[self._fingers].sum()

  def object_pos(self, data: mjx.Data, i: int = 0) -> jax.Array:
    return data.qpos[self._object_qpos[i] : self._object_qpos[i] + 3]

  def object_speed(self, data: mjx.Data, i: int = 0) -> jax.Array:
    return jnp.linalg.norm(data.qvel[self._object_qvel[i] : self._object_qvel[i] + 3])

  def object_yaw(self, data: mjx.Data, i: int = 0) -> jax.Array:
    w, x, y, z = data.qpos[self._object_qpos[i] + 3 : self._object_qpos[i] + 7]
    return jnp.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))

  # --- What each arm task writes. ----------------------------------------------------------------

  def _place_objects(self, key: jax.Array, domain: ArmDomain) -> list[tuple[jax.Array, jax.Array]]:
    """Each object's initial (xy, yaw) in the domain's region. Default: one cube anywhere in it."""
    k_xy, k_yaw = jax.random.split(key)
    region = domain.region
    xy = jax.random.uniform(k_xy, (2,), minval=jnp.asarray(region.low), maxval=jnp.asarray(region.high))
    return [(xy, jax.random.uniform(k_yaw, (), minval=-0.3, maxval=0.3))]

  def _success(self, data: mjx.Data, domain: ArmDomain) -> jax.Array:
    raise NotImplementedError

  # --- Observations. --------------------------------------------------------------------------

  def proprio(self, data: mjx.Data) -> jax.Array:
    return jnp.concatenate([self.tcp_pos(data), self.gripper_opening(data)[None], data.qpos[:NUM_JOINTS]])

  def observe_state(self, data: mjx.Data, domain: ArmDomain, key: jax.Array) -> jax.Array:
    """Proprioception is exact; the cubes are seen through the domain's sensor."""
    parts = [self.proprio(data)]
    for i in range(len(self.objects)):
      yaw = self.object_yaw(data, i) + jnp.deg2rad(domain.obs_rotation_deg)
      parts += [sense_position(domain, self.object_pos(data, i)), jnp.cos(4 * yaw)[None], jnp.sin(4 * yaw)[None]]
    obs = jnp.concatenate(parts)
    noise = domain.obs_noise * jax.random.normal(key, obs.shape)
    return obs + noise.at[self.proprio_slice].set(0.0)

  def geom_colours(self, domain: ArmDomain) -> dict:
    colours = {self.mj_model.geom(int(g)).name: domain.arm_rgb for g in self._arm_geoms}
    return {**colours, self.objects[0]: domain.cube_rgb}

  def view_camera(self, data: mjx.Data, view: str) -> cam.Camera:
    """The wrist camera: on the hand, looking down past the fingers at what they will grasp."""
    if view != "wrist":
      return super().view_camera(data, view)
    rot = data.site_xmat[self._tcp]
    return cam.Camera(pos=data.site_xpos[self._wrist_camera], lookat=self.tcp_pos(data) + 0.08 * rot[:, 2],
                      fovy=jnp.asarray(70.0))


def split_region(region: Region, margin: float) -> tuple[Region, Region]:
  """The region's two halves across y, `margin` apart from its midline: two cubes, one in each, never overlap."""
  (x0, y0), (x1, y1) = region.low, region.high
  mid = (jnp.asarray(y0) + jnp.asarray(y1)) / 2
  return Region(low=(x0, y0), high=(x1, mid - margin)), Region(low=(x0, mid + margin), high=(x1, y1))
