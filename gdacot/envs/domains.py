"""Domain specs: everything that differs between the "sim" and the "real" domain.

A `DomainSpec` is a pytree of scalars and small arrays, so it is passed into compiled
programs as data: one compiled reset/step/rollout serves every domain and region.

Three kinds of gap live here (PAPERS.md, paper A and B):
  physics  - cube mass, friction and size, actuator (servo) gain;
  sensing  - the cube's pose is seen through a miscalibrated sensor: rotation about the
             table's vertical axis, scale, offset and Gaussian noise;
  region   - the box of initial cube placements ("in": covered by both domains' demos,
             "ood": covered by sim demos only).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax.numpy as jnp
from flax import struct


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
  # Initial placement of the cube.
  region: Region = REGIONS["in"]


DOMAINS: dict[str, DomainSpec] = {
    "sim": DomainSpec(),
    # The shifted target domain of the built-in sim-and-sim benchmark: heavier, grippier,
    # smaller cube, weaker servos, and a rotated, scaled, offset and noisy cube sensor.
    "real": DomainSpec(
        cube_mass=0.3,
        cube_friction=0.7,
        cube_half_size=0.022,
        actuator_gain=0.8,
        obs_rotation_deg=10.0,
        obs_scale=1.1,
        obs_offset=(0.02, -0.01, 0.0),
        obs_noise=0.002,
    ),
}

# Fields a user may set in a config's domain overrides.
DOMAIN_FIELDS = tuple(f.name for f in dataclasses.fields(DomainSpec) if f.name != "region")


def make_domain(
    name: str,
    region: str = "in",
    overrides: Mapping[str, Any] | None = None,
) -> DomainSpec:
  """Builds a domain from a preset name, a region name and field overrides.

  Raises ValueError naming the bad domain, region or field, so configs fail before compute.
  """
  if name not in DOMAINS:
    raise ValueError(f"unknown domain {name!r}; known: {sorted(DOMAINS)}")
  if region not in REGIONS:
    raise ValueError(f"unknown region {region!r}; known: {sorted(REGIONS)}")
  overrides = dict(overrides or {})
  unknown = sorted(set(overrides) - set(DOMAIN_FIELDS))
  if unknown:
    raise ValueError(
        f"unknown field(s) {unknown} in domain {name!r}; known fields: {list(DOMAIN_FIELDS)}"
    )
  for key in ("cube_mass", "cube_half_size", "actuator_gain", "obs_scale"):
    if key in overrides and not float(overrides[key]) > 0:
      raise ValueError(f"domain {name!r}: {key} must be positive, got {overrides[key]}")
  for key in ("cube_friction", "obs_noise"):
    if key in overrides and float(overrides[key]) < 0:
      raise ValueError(f"domain {name!r}: {key} must be non-negative, got {overrides[key]}")
  if "obs_offset" in overrides and len(tuple(overrides["obs_offset"])) != 3:
    raise ValueError(f"domain {name!r}: obs_offset must have 3 entries")
  spec = DOMAINS[name].replace(region=REGIONS[region], **overrides)
  return as_arrays(spec)


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
