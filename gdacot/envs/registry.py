"""Tasks by name: the registered ones, or any `module.path:ClassName` a user's package defines."""

from __future__ import annotations

import functools
import importlib

from gdacot.envs.base import Task

TASKS: dict[str, type[Task]] = {}
DEFAULT_TASK = "push_cube"


def register_task(name: str, task_class: type[Task]) -> type[Task]:
  """Makes `--config.task=NAME` build `task_class`. Returns the class (usable as a decorator body)."""
  if not (isinstance(task_class, type) and issubclass(task_class, Task)):
    raise TypeError(f"register_task({name!r}, ...): {task_class!r} is not a subclass of gdacot.envs.Task")
  if name in TASKS and TASKS[name] is not task_class:
    raise ValueError(f"task {name!r} is registered already (to {TASKS[name].__module__}.{TASKS[name].__name__})")
  TASKS[name] = task_class
  return task_class


def get_task(name: str) -> type[Task]:
  """The task class a config names: a registered name, or an import path `pkg.module:Class`."""
  name = str(name)
  if name in TASKS:
    return TASKS[name]
  if ":" not in name:
    raise ValueError(f"unknown task {name!r}; registered: {sorted(TASKS)}, or give an import path "
                     "'my_pkg.my_module:MyTask'")
  module_name, _, class_name = name.partition(":")
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise ValueError(f"task {name!r}: cannot import module {module_name!r} ({e})") from e
  task_class = getattr(module, class_name, None)
  if not (isinstance(task_class, type) and issubclass(task_class, Task)):
    raise ValueError(f"task {name!r}: {module_name} has no gdacot.envs.Task subclass named {class_name!r}")
  return task_class


def make_env(name: str, **kwargs) -> Task:
  return get_task(name)(**kwargs)


def env_from_config(cfg) -> Task:
  """The task a run config describes: state observations, or camera images as `render` says.

  One object per distinct task in a process: a task holds no state once built, and each object
  traces its jitted reset, step and expert once (base.py), so a later run or evaluation in the
  same process (checkpoints evaluated in a loop, a notebook) reuses those traces instead of
  tracing them again: about 4 s a rollout for push_cube, 10 s for an arm task on a CPU."""
  if cfg.get("observation", "state") == "state":
    return _shared_task(get_task(cfg.task))
  r = cfg.render
  hashable = lambda v: None if v is None else tuple(v)  # a config read from JSON holds lists
  return _shared_task(get_task(cfg.task), observation=cfg.observation, height=int(r.height), width=int(r.width),
                      depth=bool(r.depth), far=float(r.far), camera_pos=hashable(r.get("camera_pos")),
                      camera_lookat=hashable(r.get("camera_lookat")), fovy=r.get("fovy"),
                      views=hashable(r.get("views")))  # None: the task's own


@functools.lru_cache(maxsize=8)
def _shared_task(task_class: type[Task], observation: str = "state", *, height=None, width=None, depth=None,
                 far=None, **camera) -> Task:
  if observation == "state":
    return task_class()
  from gdacot.render.camera import Resolution  # pylint: disable=g-import-not-at-top
  return task_class(observation=observation, resolution=Resolution(height=height, width=width, depth=depth, far=far),
                  **camera)
