"""stack: the arm puts the red cube on the green one and lets go (paper A's and robosuite's Stack)."""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from mujoco import mjx

from gdacot.envs.arm.expert import pick_and_place_action
from gdacot.envs.arm.task import ArmDomain, ArmTask, split_region
from gdacot.envs.base import Region, State

REGIONS = {
    # Both cubes in the near half of the workspace (both domains' demos), or the far half (sim only).
    "in": Region(low=(-0.13, -0.13), high=(-0.03, 0.13)),
    "ood": Region(low=(0.03, -0.13), high=(0.13, 0.13)),
}
CUBE_GAP = 0.035  # the two cubes start at least 2 x this apart across y (centre to centre), m


@struct.dataclass
class StackDomain(ArmDomain):
  base_rgb: Any = (0.2, 0.7, 0.3)  # the cube to stack on


class Stack(ArmTask):
  xml_path = os.path.join(os.path.dirname(__file__), "stack.xml")
  domain_class = StackDomain
  objects = ("cube", "base_cube")
  regions = REGIONS
  vector3_fields = ArmTask.vector3_fields + ("base_rgb",)
  # The XLA:CPU hang of ArmTask.max_batch comes sooner with two cubes: at 128 episodes; 64 run
  # (16: 30 s, 64: 36 s for 80 steps).
  max_batch = 64

  def __init__(self, horizon: int = 80, **kwargs):
    super().__init__(horizon, **kwargs)

  def _place_objects(self, key, domain):
    """One cube in each half of the region across y, which cube in which half at random."""
    k_side, k_a, k_b = jax.random.split(key, 3)
    halves = split_region(domain.region, CUBE_GAP)
    (xy_left, yaw_left), = super()._place_objects(k_a, domain.replace(region=halves[0]))
    (xy_right, yaw_right), = super()._place_objects(k_b, domain.replace(region=halves[1]))
    swap = jax.random.bernoulli(k_side)
    return [(jnp.where(swap, xy_right, xy_left), yaw_left), (jnp.where(swap, xy_left, xy_right), yaw_right)]

  def stacked_pos(self, data: mjx.Data, domain: StackDomain) -> jax.Array:
    """Where the red cube's centre is when it rests on the green one."""
    return self.object_pos(data, 1) + jnp.array([0.0, 0.0, 2.0]) * domain.cube_half_size

  def _placed(self, data: mjx.Data, domain: StackDomain) -> jax.Array:
    error = self.object_pos(data, 0) - self.stacked_pos(data, domain)
    return (jnp.linalg.norm(error[:2]) < 0.6 * domain.cube_half_size) & (jnp.abs(error[2]) < 0.006)

  def _success(self, data: mjx.Data, domain: StackDomain) -> jax.Array:
    """On the green cube, let go, and still."""
    released = self.gripper_opening(data) > 2 * domain.cube_half_size + 0.01
    still = self.object_speed(data, 0) < 0.05
    return self._placed(data, domain) & released & still

  def expert_action(self, state: State) -> jax.Array:
    data, domain = state.data, state.domain
    return pick_and_place_action(self, state, 0, place=self.stacked_pos(data, domain),
                                 placed=self._placed(data, domain))

  def geom_colours(self, domain: StackDomain) -> dict:
    return {**super().geom_colours(domain), "base_cube": domain.base_rgb}
