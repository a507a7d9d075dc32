"""Many rays from one point against a scene's primitive geoms: `mjx.ray`'s answer, batched.

`cast(m, d, origin, dirs)` gives, for every direction, what `mjx.ray(m, d, origin, dir)` gives
with its defaults (distance to the first visible geom hit and its id; -1 and -1 for none), with
the same intersection formulas. What differs is the layout: `mjx.ray` vmapped over pixels
turns every 2- and 3-vector dot product and every ray's change of frame into a small batched
matmul or gather, which XLA's CPU backend runs slowly. Here the geoms are visited one at a
time: each pose is a scalar, the rays' directions are turned into the geom's frame by explicit
products, and every formula works on per-pixel arrays by components; the camera's light term
comes in the same pass (issue 18, BUILD_NOTES).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

_MINVAL = 1e-15  # mujoco.mjMINVAL: a determinant below it has no real root; safe division's epsilon
PLANE, SPHERE, CAPSULE, ELLIPSOID, BOX = (
    int(mujoco.mjtGeom.mjGEOM_PLANE), int(mujoco.mjtGeom.mjGEOM_SPHERE), int(mujoco.mjtGeom.mjGEOM_CAPSULE),
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID), int(mujoco.mjtGeom.mjGEOM_BOX))


def _div(num, den):  # mjx.math.safe_div
  return num / (den + _MINVAL * (den == 0))


def _quadratic(a, b, c):
  """The two roots of a x^2 + 2 b x + c = 0, inf where there is none or it is behind the origin."""
  det = b * b - a * c
  root = jnp.sqrt(jnp.maximum(det, 0.0))
  x0, x1 = _div(-b - root, a), _div(-b + root, a)
  none = det < _MINVAL
  return jnp.where(none | (x0 < 0), jnp.inf, x0), jnp.where(none | (x1 < 0), jnp.inf, x1)


def _nearest(x0, x1):
  return jnp.where(jnp.isinf(x0), x1, x0)


def _dot(u, v):
  return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def _plane(size, p, v):
  x = -_div(p[2], v[2])
  valid = (v[2] <= -_MINVAL) & (x >= 0)
  for i in (0, 1):  # only within the drawn rectangle (size <= 0: infinite)
    valid &= (size[i] <= 0) | (jnp.abs(p[i] + x * v[i]) <= size[i])
  return jnp.where(valid, x, jnp.inf)


def _sphere(size, p, v):
  return _nearest(*_quadratic(_dot(v, v), _dot(v, p), _dot(p, p) - size[0] * size[0]))


def _capsule(size, p, v):
  radius, half = size[0], size[1]
  # The cylinder's round side, between the flat ends.
  x = _nearest(*_quadratic(v[0] * v[0] + v[1] * v[1], v[0] * p[0] + v[1] * p[1],
                           p[0] * p[0] + p[1] * p[1] - radius * radius))
  x = jnp.where(jnp.abs(p[2] + x * v[2]) <= half, x, jnp.inf)
  for side in (1.0, -1.0):  # the caps: the outer half of a sphere at each end
    q = (p[0], p[1], p[2] - side * half)
    for root in _quadratic(_dot(v, v), _dot(v, q), _dot(q, q) - radius * radius):
      x = jnp.where((side * (p[2] + root * v[2]) >= half) & (root < x), root, x)
  return x


def _ellipsoid(size, p, v):
  s = [_div(1.0, size[i] * size[i]) for i in range(3)]
  a = sum(s[i] * v[i] * v[i] for i in range(3))
  b = sum(s[i] * v[i] * p[i] for i in range(3))
  c = sum(s[i] * p[i] * p[i] for i in range(3)) - 1.0
  return _nearest(*_quadratic(a, b, c))


def _box(size, p, v):
  x = jnp.inf
  for axis, (i, j) in ((0, (1, 2)), (1, (0, 2)), (2, (0, 1))):
    for hit in (_div(size[axis] - p[axis], v[axis]), -_div(size[axis] + p[axis], v[axis])):
      valid = (jnp.abs(p[i] + hit * v[i]) <= size[i]) & (jnp.abs(p[j] + hit * v[j]) <= size[j]) & (hit >= 0)
      x = jnp.minimum(x, jnp.where(valid, hit, jnp.inf))
  return x


_INTERSECT = {PLANE: _plane, SPHERE: _sphere, CAPSULE: _capsule, ELLIPSOID: _ellipsoid, BOX: _box}
TYPES = tuple(_INTERSECT)  # the primitives cast (and mjx.ray) intersect


def _normal(geom_type: int, size, p):
  """The outward normal (unnormalised) at a point p on a geom's surface, in the geom's frame."""
  if geom_type == PLANE:
    return [jnp.zeros_like(p[0]), jnp.zeros_like(p[0]), jnp.ones_like(p[0])]
  if geom_type == SPHERE:
    return p
  if geom_type == CAPSULE:
    return [p[0], p[1], p[2] - jnp.clip(p[2], -size[1], size[1])]
  if geom_type == ELLIPSOID:
    return [p[i] / jnp.maximum(size[i], 1e-9) ** 2 for i in range(3)]
  # Box: the face whose slab the point is furthest out in.
  r = [jnp.abs(p[i]) / jnp.maximum(size[i], 1e-9) for i in range(3)]
  x_face = (r[0] >= r[1]) & (r[0] >= r[2])
  y_face = ~x_face & (r[1] >= r[2])
  z_face = ~x_face & ~y_face
  return [jnp.where(face, jnp.sign(p[i]), 0.0) for i, face in enumerate((x_face, y_face, z_face))]


def cast(m: mjx.Model, d: mjx.Data, origin: jax.Array, dirs: jax.Array, light: jax.Array | None = None):
  """(distance (N,), geom id (N,)) of rays from `origin` (3,) along `dirs` (N, 3): as
  `vmap(mjx.ray, (None, None, None, 0))(m, d, origin, dirs)`. With a unit `light` direction
  (3,, the way the light travels), also the Lambert term -n.light (N,) at each hit (n the
  surface's unit normal; 0 where nothing is hit). The scene's geom types must be primitives
  (TYPES).

  One geom at a time, every quantity a per-pixel array and every geom pose a scalar, so XLA
  fuses the whole cast (and the shading term) into a few passes over the pixels: no per-pixel
  gather of a geom's pose, no reduction over a 3-vector axis, both of which XLA:CPU runs as
  passes of their own (issue 18, BUILD_NOTES)."""
  geom_type = np.asarray(m.geom_type)
  if not set(geom_type.tolist()) <= set(TYPES):
    raise ValueError(f"cast draws primitive geoms only; the scene has types {sorted(set(geom_type.tolist()))}")
  # mjx.ray's visibility filter: a geom with alpha 0 (its own, or its material's) is not hit.
  visible = (m.geom_matid != -1) | (m.geom_rgba[:, 3] != 0)
  visible &= (m.geom_matid == -1) | (m.mat_rgba[m.geom_matid, 3] != 0)
  n = dirs.shape[0]
  best, best_id, best_lambert = jnp.full(n, jnp.inf, dirs.dtype), jnp.full(n, -1), jnp.zeros(n, dirs.dtype)
  # mjx.ray's order (by type, then id): the first of equally near geoms wins, as its argmin.
  for g in sorted(range(len(geom_type)), key=lambda g: (geom_type[g], g)):
    rot, rel = d.geom_xmat[g], origin - d.geom_xpos[g]
    # Into the geom's frame (rot^T): the shared origin once, every direction by components.
    p = [rel[0] * rot[0, j] + rel[1] * rot[1, j] + rel[2] * rot[2, j] for j in range(3)]
    v = [dirs[:, 0] * rot[0, j] + dirs[:, 1] * rot[1, j] + dirs[:, 2] * rot[2, j] for j in range(3)]
    size = [m.geom_size[g, i] for i in range(3)]
    dist = jnp.where(visible[g], _INTERSECT[int(geom_type[g])](size, p, v), jnp.inf)
    nearer = dist < best
    best, best_id = jnp.where(nearer, dist, best), jnp.where(nearer, g, best_id)
    if light is not None:
      at = jnp.where(jnp.isinf(dist), 0.0, dist)
      normal = _normal(int(geom_type[g]), size, [p[j] + at * v[j] for j in range(3)])
      light_local = [light[0] * rot[0, j] + light[1] * rot[1, j] + light[2] * rot[2, j] for j in range(3)]
      norm = jnp.maximum(jnp.sqrt(_dot(normal, normal)), 1e-9)
      best_lambert = jnp.where(nearer, -_dot(normal, light_local) / norm, best_lambert)
  missed = jnp.isinf(best)
  out = (jnp.where(missed, -1.0, best), best_id)
  return out if light is None else (*out, best_lambert)
