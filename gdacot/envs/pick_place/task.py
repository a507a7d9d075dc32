"""pick_place: the arm carries a cube onto a target area painted on the table and lets go
(paper A's box-in-bin and robosuite's PickPlace, with a marked area for the bin)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
from mujoco import mjx

from gdacot.envs.arm.expert import pick_and_place_action
from gdacot.envs.arm.task import ArmDomain, ArmTask
from gdacot.envs.base import Region, State

TARGET = (0.0, 0.17)  # centre of the target area on the table, m: beside both regions
TARGET_RADIUS = 0.045  # the cube's centre within this distance of TARGET counts

REGIONS = {
    # Near half (both domains' demos) and far half (sim only) of the workspace, on the other
    # side of the arm's reach from the target.
    "in": Region(low=(-0.13, -0.14), high=(-0.03, 0.06)),
    "ood": Region(low=(0.03, -0.14), high=(0.13, 0.06)),
}


class PickPlace(ArmTask):
  xml_path = os.path.join(os.path.dirname(__file__), "pick_place.xml")
  regions = REGIONS

  def __init__(self, horizon: int = 80, **kwargs):
    super().__init__(horizon, **kwargs)

  def place_pos(self, domain: ArmDomain) -> jax.Array:
    return jnp.concatenate([jnp.asarray(TARGET), domain.cube_half_size[None]])

  def _placed(self, data: mjx.Data, domain: ArmDomain) -> jax.Array:
    cube = self.object_pos(data)
    on_target = jnp.linalg.norm(cube[:2] - jnp.asarray(TARGET)) < TARGET_RADIUS
    return on_target & (cube[2] < domain.cube_half_size + 0.006)

  def _success(self, data: mjx.Data, domain: ArmDomain) -> jax.Array:
    """Resting on the target area, let go."""
    return self._placed(data, domain) & (self.gripper_opening(data) > 2 * domain.cube_half_size + 0.01)

  def expert_action(self, state: State) -> jax.Array:
    return pick_and_place_action(self, state, place=self.place_pos(state.domain),
                                 placed=self._placed(state.data, state.domain))

  def decal(self):
    return TARGET, TARGET_RADIUS, (0.2, 0.45, 0.85)  # the target area, painted as a real setup would mark it
