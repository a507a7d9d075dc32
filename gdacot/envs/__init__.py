"""MJX tasks behind one interface (`Task`), their registry, and the domains they run in.

Adding a task: a folder like `push_cube/` (task.py, its XML, domain.py, expert.py) and one
`register_task` call, or an import path in the config (`--config.task=my_pkg.my_module:MyTask`).
"""

from gdacot.envs.base import (GAP_NAMES, DomainSpec, Region, State, Task, noisy_expert_action, perturb_action,
                              sense_position)
from gdacot.envs.registry import DEFAULT_TASK, TASKS, env_from_config, get_task, make_env, register_task
from gdacot.envs.domains import DOMAIN_NAMES, as_json, domain_file_overrides, domain_from_config, make_domain
# Built-in tasks register themselves on import.
from gdacot.envs import lift, pick_place, push_cube, stack  # noqa: F401  pylint: disable=unused-import
from gdacot.envs.arm import ArmDomain, ArmTask
from gdacot.envs.lift import Lift
from gdacot.envs.pick_place import PickPlace
from gdacot.envs.push_cube import PushCube, PushCubeDomain
from gdacot.envs.stack import Stack, StackDomain
