"""Domain specs: everything that differs between the "sim" and the "real" domain.

A `DomainSpec` is a pytree of scalars and small arrays, so it is passed into compiled
programs as data: one compiled reset/step/rollout serves every domain and region.

Four kinds of field live here (PAPERS.md, paper A and B):
  physics  - cube mass, friction and size, actuator (servo) gain;
  sensing  - the cube's pose is seen through a miscalibrated sensor: rotation about the
             table's vertical axis, scale, offset and Gaussian noise (state observations);
  visual   - what the camera sees (image observations): table texture and colours, object
             colours, colour-channel order, lighting, camera pose offset, pixel noise;
  region   - the box of initial cube placements ("in": covered by both domains' demos,
             "ood": covered by sim demos only).

The "real" domain is the "sim" one shifted by a named gap preset (GAPS): `visual`,
`physics` and `visual_physics` match the papers' settings; `sensor_physics` is the
state-observation benchmark's gap.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np
from flax import struct

from gdacot.render.camera import TEXTURES


@struct.dataclass
class Region:
  """Axis-aligned box of initial cube (x, y) positions, in metres."""

  low: Any = (-0.10, -0.20)
  high: Any = (0.10, -0.12)


REGIONS: dict[str, Region] = {
    # "down": the region both domains' demos cover.
    "in": Region(low=(-0.10, -0.20), high=(0.10, -0.12)),
    # "up": mirrored across the goal; only sim demos start here.
    "ood": Region(low=(-0.10, 0.12), high=(0.10, 0.20)),
}


@struct.dataclass
class DomainSpec:
  """Physics, sensing and placement of one domain. All fields are plain numbers."""

  # Physics.
  cube_mass: float = 0.2  # kg
  cube_friction: float = 0.5  # sliding friction coefficient against the table
  cube_half_size: float = 0.025  # m
  actuator_gain: float = 1.0  # multiplies the position servos' stiffness kp
  # Sensing of the cube's pose: p_obs = scale * R_z(rotation) @ p + offset + noise.
  obs_rotation_deg: float = 0.0
  obs_scale: float = 1.0
  obs_offset: Any = (0.0, 0.0, 0.0)
  obs_noise: float = 0.0  # std of Gaussian noise on every observed coordinate, m
  # Appearance (gdacot/render/camera.py). Colours are RGB in [0, 1].
  table_rgb: Any = (0.75, 0.75, 0.72)
  table_texture: Any = "plain"  # plain | checker | wood (stored as its TEXTURES index)
  texture_rgb: Any = (0.45, 0.28, 0.12)  # the texture's second colour
  texture_scale: float = 0.05  # checker square / wood grain period, m
  cube_rgb: Any = (0.85, 0.2, 0.2)
  pusher_rgb: Any = (0.2, 0.3, 0.85)
  channel_order: Any = (0, 1, 2)  # image channel c shows colour channel channel_order[c]: (1, 2, 0) is GBR
  brightness: float = 1.0
  light_dir: Any = (0.3, 0.4, -1.0)  # the direction light travels
  camera_offset: Any = (0.0, 0.0, 0.0)  # added to the camera's position, m
  camera_lookat_offset: Any = (0.0, 0.0, 0.0)  # added to the point it looks at, m
  pixel_noise: float = 0.0  # std of Gaussian noise per pixel and channel, in [0, 1] units
  # Initial placement of the cube.
  region: Region = REGIONS["in"]


_PHYSICS_GAP = dict(cube_mass=0.3, cube_friction=0.7, cube_half_size=0.022, actuator_gain=0.8)
_SENSOR_GAP = dict(obs_rotation_deg=10.0, obs_scale=1.1, obs_offset=(0.02, -0.01, 0.0), obs_noise=0.002)
# Paper A's visual gap: plain table to wood, RGB to GBR, camera moved.
_VISUAL_GAP = dict(table_texture="wood", channel_order=(1, 2, 0), camera_offset=(0.04, 0.03, -0.03))

# What the "real" domain changes relative to "sim", by gap name.
GAPS: dict[str, dict[str, Any]] = {
    "physics": _PHYSICS_GAP,  # heavier, grippier, smaller cube and weaker servos
    "visual": _VISUAL_GAP,
    "visual_physics": {**_VISUAL_GAP, **_PHYSICS_GAP},
    "sensor_physics": {**_SENSOR_GAP, **_PHYSICS_GAP},  # the state-observation benchmark
}
DEFAULT_GAP = "sensor_physics"
DOMAIN_NAMES = ("sim", "real")

# Fields a user may set in a config's domain overrides.
DOMAIN_FIELDS = tuple(f.name for f in dataclasses.fields(DomainSpec) if f.name != "region")


def preset(name: str, gap: str = DEFAULT_GAP) -> DomainSpec:
  """The "sim" domain, or "real": sim shifted by the named gap."""
  if name not in DOMAIN_NAMES:
    raise ValueError(f"unknown domain {name!r}; known: {list(DOMAIN_NAMES)}")
  if gap not in GAPS:
    raise ValueError(f"unknown gap {gap!r}; known: {sorted(GAPS)}")
  return DomainSpec(**GAPS[gap]) if name == "real" else DomainSpec()


def make_domain(
    name: str,
    region: str = "in",
    overrides: Mapping[str, Any] | None = None,
    gap: str = DEFAULT_GAP,
) -> DomainSpec:
  """Builds a domain from a preset name, a region name, field overrides and the gap preset.

  Raises ValueError naming the bad domain, region, gap or field, so configs fail before compute.
  """
  spec = preset(name, gap)
  if region not in REGIONS:
    raise ValueError(f"unknown region {region!r}; known: {sorted(REGIONS)}")
  overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}  # None: the preset's
  unknown = sorted(set(overrides) - set(DOMAIN_FIELDS))
  if unknown:
    raise ValueError(
        f"unknown field(s) {unknown} in domain {name!r}; known fields: {list(DOMAIN_FIELDS)}"
    )
  for key in ("cube_mass", "cube_half_size", "actuator_gain", "obs_scale", "texture_scale"):
    if key in overrides and not float(overrides[key]) > 0:
      raise ValueError(f"domain {name!r}: {key} must be positive, got {overrides[key]}")
  for key in ("cube_friction", "obs_noise", "brightness", "pixel_noise"):
    if key in overrides and float(overrides[key]) < 0:
      raise ValueError(f"domain {name!r}: {key} must be non-negative, got {overrides[key]}")
  for key in ("obs_offset", "table_rgb", "texture_rgb", "cube_rgb", "pusher_rgb", "light_dir", "camera_offset",
              "camera_lookat_offset", "channel_order"):
    if key in overrides and len(tuple(overrides[key])) != 3:
      raise ValueError(f"domain {name!r}: {key} must have 3 entries, got {overrides[key]}")
  spec = spec.replace(region=REGIONS[region], **overrides)
  if sorted(int(c) for c in spec.channel_order) != [0, 1, 2] or any(int(c) != c for c in spec.channel_order):
    raise ValueError(f"domain {name!r}: channel_order must be a permutation of (0, 1, 2), got {spec.channel_order}")
  if spec.table_texture not in TEXTURES:
    raise ValueError(f"domain {name!r}: unknown table_texture {spec.table_texture!r}; known: {list(TEXTURES)}")
  if not float(np.linalg.norm(np.asarray(spec.light_dir, float))) > 0:
    raise ValueError(f"domain {name!r}: light_dir must be a non-zero vector")
  return as_arrays(spec.replace(table_texture=TEXTURES[spec.table_texture]))


def domain_from_config(cfg, name: str, region: str, extra: Mapping[str, Any] | None = None) -> DomainSpec:
  """The domain a run config describes: its gap preset, then its `domains.<name>` fields that are
  set (None means "the preset's"), then `extra`."""
  overrides = dict(cfg.domains[name]) if name in cfg.get("domains", {}) else {}
  overrides.update(extra or {})
  return make_domain(name, region, overrides, gap=cfg.get("gap", DEFAULT_GAP))


def as_arrays(spec: DomainSpec) -> DomainSpec:
  """Converts every leaf to a float32 array, so specs of equal structure share a compile."""
  region = Region(
      low=jnp.asarray(spec.region.low, jnp.float32),
      high=jnp.asarray(spec.region.high, jnp.float32),
  )
  fields = {
      f.name: jnp.asarray(getattr(spec, f.name), jnp.float32)
      for f in dataclasses.fields(spec)
      if f.name != "region"
  }
  return DomainSpec(region=region, **fields)
