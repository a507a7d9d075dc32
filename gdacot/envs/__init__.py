"""MJX tasks, domain specs and scripted experts."""

from gdacot.envs.domains import DOMAIN_FIELDS, DOMAINS, REGIONS, DomainSpec, Region, make_domain
from gdacot.envs.expert import expert_action, noisy_expert_action
from gdacot.envs.push_cube import PushCube, State

TASKS = {"push_cube": PushCube}


def make_env(name: str, **kwargs):
  if name not in TASKS:
    raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}")
  return TASKS[name](**kwargs)
