"""lift: a 7-DoF arm grasps a cube and raises it."""

from gdacot.envs.lift.task import LIFT_HEIGHT, REGIONS, Lift
from gdacot.envs.registry import register_task

register_task("lift", Lift)
