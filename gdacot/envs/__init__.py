"""MJX tasks, domain specs and scripted experts."""

from gdacot.envs.domains import (DEFAULT_GAP, DOMAIN_FIELDS, DOMAIN_NAMES, GAPS, REGIONS, DomainSpec, Region,
                                  domain_from_config, make_domain, preset)
from gdacot.envs.expert import expert_action, noisy_expert_action
from gdacot.envs.push_cube import PushCube, State
from gdacot.render.camera import Resolution

TASKS = {"push_cube": PushCube}


def make_env(name: str, **kwargs):
  if name not in TASKS:
    raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}")
  return TASKS[name](**kwargs)


def env_from_config(cfg):
  """The task a run config describes: state observations, or camera images as `render` says."""
  if cfg.get("observation", "state") == "state":
    return make_env(cfg.task)
  r = cfg.render
  return make_env(cfg.task, observation=cfg.observation,
                  resolution=Resolution(height=r.height, width=r.width, depth=r.depth, far=r.far),
                  camera_pos=tuple(r.camera_pos), camera_lookat=tuple(r.camera_lookat), fovy=r.fovy)
