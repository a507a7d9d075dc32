"""A batched pinhole camera for MJX scenes, on the accelerator.

Every pixel casts one ray (`rays.cast`: `mjx.ray`'s intersections, laid out for all pixels at
once; vmapped by callers over scenes), which gives the distance to and the id of the first geom
hit. The rest is shading, done
here from the hit point: the surface normal from the geom's type and pose, Lambert lighting
from one directional light plus ambient, a procedural texture on the floor plane (plain,
checker or wood grain) and a flat disc painted on it (the goal marker). It is a pure
function of arrays, so it runs inside the compiled programs that generate demos and
evaluate policies, with no host round trip.

Conventions (as MuJoCo's): the camera looks along its -z axis, x right, y up; `fovy` is the
vertical field of view in degrees; depth is the distance along the optical axis (metres),
`far` where no geom is hit. Images are (H, W, 3) floats in [0, 1], row 0 at the top.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import mujoco
from flax import struct
from mujoco import mjx

from gdacot.render import rays
from gdacot.render.rays import TYPES as SHADED_TYPES

TEXTURES = {"plain": 0, "checker": 1, "wood": 2}


@dataclasses.dataclass(frozen=True)
class Resolution:
  """Static image settings: they fix array shapes, so they are compile-time constants."""

  height: int = 32
  width: int = 32
  depth: bool = False  # add a depth channel to observations
  far: float = 2.0  # depth where no geom is hit, and the top of the depth range, metres


@struct.dataclass
class Camera:
  pos: jax.Array  # (3,) world position
  lookat: jax.Array  # (3,) the point at the image centre
  fovy: jax.Array  # vertical field of view, degrees


@struct.dataclass
class Look:
  """Everything about appearance; all arrays, so domains with other looks share a compile."""

  geom_rgb: jax.Array  # (ngeom, 3) base colour of each geom
  floor_texture: jax.Array  # TEXTURES index for the floor geom
  floor_rgb2: jax.Array  # (3,) the texture's second colour
  texture_scale: jax.Array  # checker square / wood grain period, metres
  decal_xy: jax.Array  # (2,) centre of a disc painted on the floor (e.g. the goal)
  decal_radius: jax.Array
  decal_rgb: jax.Array  # (3,)
  light_dir: jax.Array  # (3,) direction the light travels (need not be unit)
  brightness: jax.Array  # multiplies the lit colour
  ambient: jax.Array  # share of light that reaches surfaces facing away
  sky_rgb: jax.Array  # (3,) colour where no geom is hit
  channel_order: jax.Array  # (3,) output channel c is input channel channel_order[c]
  pixel_noise: jax.Array  # std of Gaussian noise per pixel and channel, in [0, 1] units


def camera_axes(camera: Camera) -> jax.Array:
  """(3, 3) rotation whose columns are the camera's x (right), y (up), z (backwards)."""
  back = camera.pos - camera.lookat
  back = back / jnp.linalg.norm(back)
  world_up = jnp.array([0.0, 0.0, 1.0])
  # Looking straight down, take +y as "up" in the image instead of the degenerate world z.
  world_up = jnp.where(jnp.abs(back[2]) > 0.999, jnp.array([0.0, 1.0, 0.0]), world_up)
  right = jnp.cross(world_up, back)
  right = right / jnp.linalg.norm(right)
  up = jnp.cross(back, right)
  return jnp.stack([right, up, back], axis=1)


def ray_directions(camera: Camera, height: int, width: int) -> jax.Array:
  """(H, W, 3) unit world-frame directions through the pixel centres."""
  tan_y = jnp.tan(jnp.deg2rad(camera.fovy) / 2)
  tan_x = tan_y * width / height
  v = (1 - 2 * (jnp.arange(height) + 0.5) / height) * tan_y  # row 0 is the top
  u = (2 * (jnp.arange(width) + 0.5) / width - 1) * tan_x
  local = jnp.stack(jnp.broadcast_arrays(u[None, :], v[:, None], -jnp.ones((height, width))), axis=-1)
  world = local @ camera_axes(camera).T
  return world / jnp.linalg.norm(world, axis=-1, keepdims=True)


def check_scene(mj_model: mujoco.MjModel) -> None:
  """Refuses scenes this camera cannot draw, before anything is compiled."""
  if mj_model.nmat == 0:
    raise ValueError("the scene has no <material>: mjx.ray indexes the material table, so give it one")
  bad = sorted({int(t) for t in mj_model.geom_type} - set(SHADED_TYPES))
  if bad:
    names = [mujoco.mjtGeom(t).name for t in bad]
    raise ValueError(f"the camera draws primitive geoms only {[mujoco.mjtGeom(t).name for t in SHADED_TYPES]}; "
                     f"the scene has {names}")


def _floor_texture(look: Look, xy: jax.Array, base: jax.Array) -> jax.Array:
  """The floor's colour at world points xy (N, 2): plain, checker or wood grain, then the decal."""
  s = look.texture_scale
  x, y = xy[:, 0], xy[:, 1]
  plain = lambda: jnp.zeros_like(x)
  checker = lambda: (jnp.floor(x / s) + jnp.floor(y / s)) % 2
  # Wood: stripes along x whose phase wobbles with x, sharpened, like a plank's grain.
  wood = lambda: (0.5 + 0.5 * jnp.sin(2 * jnp.pi * (y + 0.15 * s * jnp.sin(2 * jnp.pi * x / (3 * s))) / s)) ** 3
  # A switch, not a select: only the chosen texture is computed when the look is shared by a batch.
  mix = jax.lax.switch(look.floor_texture.astype(jnp.int32), (plain, checker, wood))
  rgb = (1 - mix[:, None]) * base + mix[:, None] * look.floor_rgb2
  # Squared distance by components: XLA:CPU runs a norm over a 2-vector axis as its own pass.
  on_decal = (x - look.decal_xy[0]) ** 2 + (y - look.decal_xy[1]) ** 2 < look.decal_radius**2
  return jnp.where(on_decal[:, None], look.decal_rgb, rgb)


def render(mjx_model: mjx.Model, data: mjx.Data, camera: Camera, look: Look, resolution: Resolution,
           floor_geom: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """RGB (H, W, 3) in [0, 1] and depth (H, W) in metres of one scene. vmap it over scenes."""
  h, w = resolution.height, resolution.width
  dirs = ray_directions(camera, h, w).reshape(-1, 3)
  light = look.light_dir / jnp.linalg.norm(look.light_dir)
  # The hit geom's Lambert term comes with the ray cast, computed geom by geom in its own frame
  # (rays.cast): no per-pixel gather of geom poses, which XLA:CPU ran as passes of their own.
  dist, geom, lambert = rays.cast(mjx_model, data, camera.pos, dirs, light=light)
  hit = geom >= 0
  base = jnp.zeros_like(dirs)
  for g in range(look.geom_rgb.shape[0]):  # each pixel's geom colour, by selects (not a gather)
    base = jnp.where((geom == g)[:, None], look.geom_rgb[g], base)
  if floor_geom >= 0:
    # The texture at the floor's own hit points (the cast's wherever the floor is the nearest
    # geom), which for a camera and a floor shared by a batch of scenes are computed once for
    # the batch: the texture was a quarter of a 32x32 frame when computed per scene.
    floor_dist = rays.geom_distance(mjx_model, data, floor_geom, camera.pos, dirs)
    floor_point = camera.pos[:2] + jnp.where(jnp.isinf(floor_dist), 0.0, floor_dist)[:, None] * dirs[:, :2]
    base = jnp.where((geom == floor_geom)[:, None], _floor_texture(look, floor_point, look.geom_rgb[floor_geom]), base)

  lit = base * (look.ambient + (1 - look.ambient) * jnp.maximum(lambert, 0.0))[:, None] * look.brightness
  rgb = jnp.where(hit[:, None], lit, look.sky_rgb)
  # The channel permutation as products with a one-hot matrix: exact (x * 1 + y * 0 + z * 0 = x).
  perm = jax.nn.one_hot(look.channel_order.astype(jnp.int32), 3, dtype=rgb.dtype)  # perm[c, k] = [order[c] == k]
  rgb = rgb[:, :1] * perm[:, 0] + rgb[:, 1:2] * perm[:, 1] + rgb[:, 2:] * perm[:, 2]
  # Noise only when asked for: drawing it costs about as much as the shading.
  rgb = jax.lax.cond(look.pixel_noise > 0, lambda: rgb + look.pixel_noise * jax.random.normal(key, rgb.shape),
                     lambda: rgb)

  forward = -camera_axes(camera)[:, 2]
  depth = jnp.where(hit, dist * (dirs @ forward), resolution.far)
  return jnp.clip(rgb, 0.0, 1.0).reshape(h, w, 3), depth.reshape(h, w)


def to_uint8(rgb: jax.Array) -> jax.Array:
  return jnp.round(jnp.clip(rgb, 0.0, 1.0) * 255).astype(jnp.uint8)


def image_observation(rgb: jax.Array, depth: jax.Array, resolution: Resolution) -> jax.Array:
  """uint8 (H, W, 3), or (H, W, 4) with depth scaled from [0, far] to [0, 255]."""
  image = to_uint8(rgb)
  if resolution.depth:
    image = jnp.concatenate([image, to_uint8(depth / resolution.far)[..., None]], axis=-1)
  return image
