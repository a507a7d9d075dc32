"""Domains from names: a task's "sim" preset, or "real" = sim shifted by a gap; then overrides.

Four kinds of field make a domain (PAPERS.md, papers A and B):
  physics  - the task's own (e.g. push_cube's cube mass, friction and size, servo gain);
  sensing  - shared: the object's pose seen through a miscalibrated state sensor;
  visual   - shared: table texture and colours, colour-channel order, lighting, camera pose,
             pixel noise; plus the task's object colours;
  region   - the box of initial object placements, named by the task ("in": covered by both
             domains' demos, "ood": covered by sim demos only).

Gap presets (`GAP_NAMES`): `visual`, `physics` and `visual_physics` match the papers' settings;
`sensor` is the state sensor's miscalibration alone, `sensor_physics` the state-observation
benchmark's gap (both).
"""

from __future__ import annotations

import dataclasses
import os
import runpy
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np

from gdacot.envs import base
from gdacot.envs.base import DomainSpec, Region
from gdacot.envs.registry import DEFAULT_TASK, get_task
from gdacot.render.camera import TEXTURES

DOMAIN_NAMES = ("sim", "real")


def make_domain(name: str, region: str = "in", overrides: Mapping[str, Any] | None = None, gap: str | None = None,
                task: str = DEFAULT_TASK) -> DomainSpec:
  """The task's domain `name` ("sim", or "real": sim shifted by `gap`, the task's default if
  None) in `region`, with field `overrides` (None values mean "the preset's").

  Raises ValueError naming the bad domain, region, gap or field, so configs fail before compute.
  """
  task_class = get_task(task)
  gap = gap or task_class.default_gap
  if name not in DOMAIN_NAMES:
    raise ValueError(f"unknown domain {name!r}; known: {list(DOMAIN_NAMES)}")
  gaps = task_class.gaps()
  if gap not in gaps:
    raise ValueError(f"unknown gap {gap!r}; known: {sorted(gaps)}")
  if region not in task_class.regions:
    raise ValueError(f"unknown region {region!r} of task {task!r}; known: {sorted(task_class.regions)}")
  overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
  fields = task_class.domain_fields()
  unknown = sorted(set(overrides) - set(fields))
  if unknown:
    raise ValueError(f"unknown field(s) {unknown} in domain {name!r} of task {task!r}; known fields: {list(fields)}")
  for key in base.POSITIVE_FIELDS + task_class.positive_fields:
    if key in overrides and not float(overrides[key]) > 0:
      raise ValueError(f"domain {name!r}: {key} must be positive, got {overrides[key]}")
  for key in base.NON_NEGATIVE_FIELDS + task_class.non_negative_fields:
    if key in overrides and float(overrides[key]) < 0:
      raise ValueError(f"domain {name!r}: {key} must be non-negative, got {overrides[key]}")
  for key in base.VECTOR3_FIELDS + task_class.vector3_fields:
    if key in overrides and len(tuple(overrides[key])) != 3:
      raise ValueError(f"domain {name!r}: {key} must have 3 entries, got {overrides[key]}")
  preset = gaps[gap] if name == "real" else {}
  spec = task_class.domain_class(**preset).replace(region=task_class.regions[region], **overrides)
  if sorted(int(c) for c in spec.channel_order) != [0, 1, 2] or any(int(c) != c for c in spec.channel_order):
    raise ValueError(f"domain {name!r}: channel_order must be a permutation of (0, 1, 2), got {spec.channel_order}")
  if spec.table_texture not in TEXTURES:
    raise ValueError(f"domain {name!r}: unknown table_texture {spec.table_texture!r}; known: {list(TEXTURES)}")
  if not float(np.linalg.norm(np.asarray(spec.light_dir, float))) > 0:
    raise ValueError(f"domain {name!r}: light_dir must be a non-zero vector")
  return as_arrays(spec.replace(table_texture=TEXTURES[spec.table_texture]))


def domain_from_config(cfg, name: str, region: str, extra: Mapping[str, Any] | None = None) -> DomainSpec:
  """The domain a run config describes: the task's gap preset, then its `domains.<name>` fields
  that are set (None means "the preset's"), then `extra`."""
  overrides = dict(cfg.domains[name]) if name in cfg.get("domains", {}) else {}
  overrides.update(extra or {})
  return make_domain(name, region, overrides, gap=cfg.get("gap", None), task=cfg.get("task", DEFAULT_TASK))


def as_arrays(spec: DomainSpec) -> DomainSpec:
  """Converts every leaf to a float32 array, so specs of equal structure share a compile."""
  region = Region(low=jnp.asarray(spec.region.low, jnp.float32), high=jnp.asarray(spec.region.high, jnp.float32))
  fields = {f.name: jnp.asarray(getattr(spec, f.name), jnp.float32) for f in dataclasses.fields(spec)
            if f.name != "region"}
  return type(spec)(region=region, **fields)


def as_json(spec: DomainSpec) -> dict:
  """A domain's fields as plain JSON (the region is reported per result)."""
  out = {f.name: np.asarray(getattr(spec, f.name), np.float64).round(6).tolist() for f in dataclasses.fields(spec)
         if f.name != "region"}
  out["table_texture"] = {v: k for k, v in TEXTURES.items()}[int(out["table_texture"])]
  return out


def domain_file_overrides(domain_file: str | None, flag: str = "--domain_file") -> dict:
  """The domain-field overrides of a user's Python file defining `get_domain() -> dict` (e.g.
  `{"cube_mass": 0.5}`); {} for None. Raises ValueError naming the file and what is wrong."""
  if not domain_file:
    return {}
  if not os.path.isfile(domain_file):
    raise ValueError(f"{flag}={domain_file} does not exist")
  try:
    namespace = runpy.run_path(domain_file)
  except Exception as e:
    raise ValueError(f"{flag}={domain_file} fails to load: {type(e).__name__}: {e}") from e
  if not callable(namespace.get("get_domain")):
    raise ValueError(f"{flag}={domain_file} must define get_domain() -> dict of domain fields")
  extra = namespace["get_domain"]()
  if not isinstance(extra, dict):
    raise ValueError(f"{flag}={domain_file}: get_domain() returned {type(extra).__name__}, not dict")
  return dict(extra)
