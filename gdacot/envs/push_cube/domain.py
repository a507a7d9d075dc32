"""push_cube's scene constants, its own domain fields, placement regions and physics gap."""

from __future__ import annotations

from flax import struct

from gdacot.envs.base import DomainSpec, Region

GOAL = (0.0, 0.0)  # Goal of the cube's centre on the table, metres.
SUCCESS_RADIUS = 0.03  # The cube's centre within this distance of the goal counts as success.
HOME = (0.0, 0.0, 0.09)  # Mean initial pusher position.

REGIONS: dict[str, Region] = {
    # "down": the region both domains' demos cover.
    "in": Region(low=(-0.10, -0.20), high=(0.10, -0.12)),
    # "up": mirrored across the goal; only sim demos start here.
    "ood": Region(low=(-0.10, 0.12), high=(0.10, 0.20)),
}


@struct.dataclass
class PushCubeDomain(DomainSpec):
  """The shared fields plus the cube's physics and the objects' colours."""

  cube_mass: float = 0.2  # kg
  cube_friction: float = 0.5  # sliding friction coefficient against the table
  cube_half_size: float = 0.025  # m
  actuator_gain: float = 1.0  # multiplies the position servos' stiffness kp
  cube_rgb: object = (0.85, 0.2, 0.2)
  pusher_rgb: object = (0.2, 0.3, 0.85)
  region: Region = REGIONS["in"]


# The "physics" gap: a heavier, grippier, smaller cube and weaker servos.
PHYSICS_GAP = dict(cube_mass=0.3, cube_friction=0.7, cube_half_size=0.022, actuator_gain=0.8)
