"""lift: the arm grasps a cube on the table and raises it (paper A's "lift", robosuite's Lift)."""

from __future__ import annotations

import os

import jax
from mujoco import mjx

from gdacot.envs.arm.expert import pick_and_place_action
from gdacot.envs.arm.task import ArmDomain, ArmTask
from gdacot.envs.base import Region, State

LIFT_HEIGHT = 0.08  # success: the cube's centre this high above the table, m

REGIONS = {
    # The near half of the workspace (closer to the arm's base): both domains' demos start here.
    "in": Region(low=(-0.13, -0.12), high=(-0.03, 0.12)),
    # The far half: only sim demos start here, the generalisation test (paper A's setting).
    "ood": Region(low=(0.03, -0.12), high=(0.13, 0.12)),
}


class Lift(ArmTask):
  xml_path = os.path.join(os.path.dirname(__file__), "lift.xml")
  regions = REGIONS

  def __init__(self, horizon: int = 50, **kwargs):
    super().__init__(horizon, **kwargs)

  def _success(self, data: mjx.Data, domain: ArmDomain) -> jax.Array:
    return self.object_pos(data)[2] > LIFT_HEIGHT

  def expert_action(self, state: State) -> jax.Array:
    return pick_and_place_action(self, state)
