"""pick_place: a 7-DoF arm carries a cube onto a marked target area."""

from gdacot.envs.pick_place.task import REGIONS, TARGET, TARGET_RADIUS, PickPlace
from gdacot.envs.registry import register_task

register_task("pick_place", PickPlace)
