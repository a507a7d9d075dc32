"""push_cube: a floating spherical pusher pushes a cube to a goal (the built-in benchmark)."""

from gdacot.envs.push_cube.domain import GOAL, HOME, PHYSICS_GAP, REGIONS, SUCCESS_RADIUS, PushCubeDomain
from gdacot.envs.push_cube.task import PushCube
from gdacot.envs.registry import register_task

register_task("push_cube", PushCube)
