"""Many rays from one point against a scene's primitive geoms: `mjx.ray`'s answer, batched.

`cast(m, d, origin, dirs)` gives, for every direction, what `mjx.ray(m, d, origin, dir)` gives
with its defaults (distance to the first visible geom hit and its id; -1 and -1 for none), with
the same intersection formulas but for boxes, hit by slabs (the same hits, half the divisions).
What differs is the layout: `mjx.ray` vmapped over pixels
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


def _sphere(size, p, v, vv):
  """`vv` = v.v, shared by every sphere of a cast (a sphere needs no frame: p, v are world's)."""
  return _nearest(*_quadratic(vv, _dot(v, p), _dot(p, p) - size[0] * size[0]))


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
  """The distance by slabs: inside the box between the latest entry into and the earliest exit
  from the three axes' slabs (one division per axis, where testing each face took one per face
  and a bounds check). Also the face's Lambert factor: `lambert(light)` for a light direction in
  the box's frame."""
  inv = [_div(1.0, v[i]) for i in range(3)]
  lo = [(-size[i] - p[i]) * inv[i] for i in range(3)]
  hi = [(size[i] - p[i]) * inv[i] for i in range(3)]
  near = [jnp.minimum(lo[i], hi[i]) for i in range(3)]
  far = [jnp.maximum(lo[i], hi[i]) for i in range(3)]
  t_near = jnp.maximum(jnp.maximum(near[0], near[1]), near[2])
  t_far = jnp.minimum(jnp.minimum(far[0], far[1]), far[2])
  enters = t_near >= 0  # else the origin is inside and the ray leaves through a face
  dist = jnp.where((t_near <= t_far) & (t_far >= 0), jnp.where(enters, t_near, t_far), jnp.inf)

  def lambert(light):
    # The ray enters through the face of the slab it enters last, whose outward normal is
    # -sign(v) along that axis, so -n.light = sign(v_i) light_i (leaving: the opposite).
    along = [jnp.where(v[i] > 0, light[i], -light[i]) for i in range(3)]
    entry = jnp.where(near[0] == t_near, along[0], jnp.where(near[1] == t_near, along[1], along[2]))
    exit_ = jnp.where(far[0] == t_far, along[0], jnp.where(far[1] == t_far, along[1], along[2]))
    return jnp.where(enters, entry, -exit_)
  return dist, lambert


TYPES = (PLANE, SPHERE, CAPSULE, ELLIPSOID, BOX)  # the primitives cast (and mjx.ray) intersect
_INTERSECT = {PLANE: _plane, CAPSULE: _capsule, ELLIPSOID: _ellipsoid}  # the rest have their own calls


def _normal(geom_type: int, size, p):
  """The outward normal at a point p on a capsule's or an ellipsoid's surface, in its frame, and
  its length (a capsule's is its radius)."""
  if geom_type == CAPSULE:
    return [p[0], p[1], p[2] - jnp.clip(p[2], -size[1], size[1])], size[0]
  normal = [p[i] / jnp.maximum(size[i], 1e-9) ** 2 for i in range(3)]
  return normal, jnp.maximum(jnp.sqrt(_dot(normal, normal)), 1e-9)


def _into(rot, u):
  """A world vector (3 scalars or 3 per-pixel arrays) in a geom's frame (rot^T u), by components."""
  return [u[0] * rot[0, j] + u[1] * rot[1, j] + u[2] * rot[2, j] for j in range(3)]


def _quat_to_mat(q):
  """(3, 3) rotation of a unit quaternion (w, x, y, z), as MuJoCo's mju_quat2Mat."""
  w, x, y, z = q[0], q[1], q[2], q[3]
  return jnp.array([[w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
                    [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
                    [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z]])


def _pose(m: mjx.Model, d: mjx.Data, g: int):
  """Geom g's world position and rotation. A geom of the world body (a table, a floor) is posed
  from the model, so under a vmap over scenes of one model its hits are computed once for the
  whole batch instead of once per scene (the data's pose is the same, but batched)."""
  if int(np.asarray(m.geom_bodyid)[g]) == 0:
    return m.geom_pos[g], _quat_to_mat(m.geom_quat[g])
  return d.geom_xpos[g], d.geom_xmat[g]


def _visible(m: mjx.Model, g: int) -> jax.Array:
  """mjx.ray's visibility filter: a geom with alpha 0 (its own, or its material's) is not hit."""
  mat = m.geom_matid[g]
  return ((mat != -1) | (m.geom_rgba[g, 3] != 0)) & ((mat == -1) | (m.mat_rgba[mat, 3] != 0))


def _check(m: mjx.Model) -> np.ndarray:
  geom_type = np.asarray(m.geom_type)
  if not set(geom_type.tolist()) <= set(TYPES):
    raise ValueError(f"cast draws primitive geoms only; the scene has types {sorted(set(geom_type.tolist()))}")
  return geom_type


def _hit(m: mjx.Model, d: mjx.Data, g: int, origin, d_world, vv, light):
  """Distance along each ray to geom g (inf for a miss), and with a `light` the Lambert term
  -n.light there (n the unit outward normal; None without a light)."""
  kind = int(np.asarray(m.geom_type)[g])
  pos, rot = _pose(m, d, g)
  rel = origin - pos
  size = [m.geom_size[g, i] for i in range(3)]
  # Into the geom's frame (rot^T): the shared origin once, the directions by components. A
  # sphere needs no frame: it is hit in the world's.
  if kind == SPHERE:
    dist = _sphere(size, rel, d_world, vv)
  else:
    p, v = _into(rot, rel), _into(rot, d_world)
    if kind == BOX:
      dist, box_lambert = _box(size, p, v)
    else:
      dist = _INTERSECT[kind](size, p, v)
  dist = jnp.where(_visible(m, g), dist, jnp.inf)
  if light is None:
    return dist, None
  # By the cheapest route for each type.
  if kind == PLANE:
    return dist, -_into(rot, light)[2]  # the same for every pixel
  if kind == SPHERE:  # n = (rel + t dir) / r in the world frame
    at = jnp.where(jnp.isinf(dist), 0.0, dist)
    return dist, -(_dot(rel, light) + at * _dot(d_world, light)) / size[0]
  if kind == BOX:
    return dist, box_lambert(_into(rot, light))
  at = jnp.where(jnp.isinf(dist), 0.0, dist)
  normal, length = _normal(kind, size, [p[j] + at * v[j] for j in range(3)])
  return dist, -_dot(normal, _into(rot, light)) / length


def _world_dirs(dirs):
  d_world = [dirs[:, i] for i in range(3)]
  return d_world, _dot(d_world, d_world)  # v.v, shared by the spheres


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
  geom_type = _check(m)
  n = dirs.shape[0]
  best, best_id, best_lambert = jnp.full(n, jnp.inf, dirs.dtype), jnp.full(n, -1), jnp.zeros(n, dirs.dtype)
  d_world, vv = _world_dirs(dirs)
  # mjx.ray's order (by type, then id): the first of equally near geoms wins, as its argmin.
  for g in sorted(range(len(geom_type)), key=lambda g: (geom_type[g], g)):
    dist, lambert = _hit(m, d, g, origin, d_world, vv, light)
    nearer = dist < best
    best, best_id = jnp.where(nearer, dist, best), jnp.where(nearer, g, best_id)
    if light is not None:
      best_lambert = jnp.where(nearer, lambert, best_lambert)
  missed = jnp.isinf(best)
  out = (jnp.where(missed, -1.0, best), best_id)
  return out if light is None else (*out, best_lambert)


def geom_distance(m: mjx.Model, d: mjx.Data, g: int, origin: jax.Array, dirs: jax.Array) -> jax.Array:
  """(N,) distance along each ray to geom g alone (inf for a miss): `cast`'s distance wherever g
  is the nearest geom (the same arithmetic). For shading that depends only on where g is hit (a floor's
  texture): for a world-body geom it is the same for every scene of a batch."""
  _check(m)
  return _hit(m, d, g, origin, *_world_dirs(dirs), None)[0]
