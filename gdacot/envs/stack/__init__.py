"""stack: a 7-DoF arm puts one cube on another."""

from gdacot.envs.registry import register_task
from gdacot.envs.stack.task import REGIONS, Stack, StackDomain

register_task("stack", Stack)
