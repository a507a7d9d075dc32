"""The on-device camera: geometry, colours, the visual domain fields and image observations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdacot.envs import GAP_NAMES, PushCube, make_domain, make_env
from gdacot.render import camera as cam


@pytest.fixture(scope="module")
def env():
  return make_env("push_cube", observation="image", resolution=cam.Resolution(48, 64))


@pytest.fixture(scope="module")
def reset_state(reset):
  return reset(jax.random.PRNGKey(0), make_domain("sim", "in"))


def _flat_look(env, domain):
  """The domain's look with full ambient light, so a surface shows exactly its base colour."""
  return env.look_for(domain).replace(ambient=jnp.float32(1.0))


def _render(env, state, domain, camera=None, look=None, resolution=cam.Resolution(48, 64), key=0):
  fn = jax.jit(lambda c, l, k: cam.render(env.model_for(domain), state.data, c, l, resolution,
                                           env.mj_model.geom("table").id, k))
  rgb, depth = fn(camera or env.camera_for(domain), look or env.look_for(domain), jax.random.PRNGKey(key))
  return np.asarray(rgb), np.asarray(depth)


def _world_points(camera, depth):
  """Back-projects z-depth to world points, pixel by pixel."""
  h, w = depth.shape
  dirs = np.asarray(cam.ray_directions(camera, h, w))
  forward = -np.asarray(cam.camera_axes(camera))[:, 2]
  return np.asarray(camera.pos) + dirs * (depth / (dirs @ forward))[..., None]


def test_depth_of_the_table_plane_matches_the_analytic_value(env, reset_state):
  domain = make_domain("sim", "in")
  # Straight down from 0.2 m over an empty part of the table: every pixel is 0.2 m deep.
  down = cam.Camera(pos=jnp.array([0.3, 0.3, 0.2]), lookat=jnp.array([0.3, 0.3, 0.0]), fovy=jnp.float32(30.0))
  _, depth = _render(env, reset_state, domain, camera=down)
  np.testing.assert_allclose(depth, 0.2, rtol=1e-5)
  # Oblique: the ray through each pixel meets z = 0 at t = -c_z / d_z; depth = t (d . forward).
  oblique = cam.Camera(pos=jnp.array([0.3, 0.1, 0.25]), lookat=jnp.array([0.35, 0.3, 0.0]), fovy=jnp.float32(40.0))
  _, depth = _render(env, reset_state, domain, camera=oblique)
  dirs = np.asarray(cam.ray_directions(oblique, 48, 64))
  forward = -np.asarray(cam.camera_axes(oblique))[:, 2]
  t = -0.25 / dirs[..., 2]
  hit = np.asarray(oblique.pos) + t[..., None] * dirs
  on_table = np.all(np.abs(hit[..., :2]) <= 0.5, axis=-1)  # the plane's size is 0.5 x 0.5 (half-lengths)
  assert on_table.mean() > 0.5
  np.testing.assert_allclose(depth, np.where(on_table, t * (dirs @ forward), 2.0), rtol=1e-4)
  # The depth channel of an observation is that depth scaled from [0, far] to [0, 255].
  image = np.asarray(cam.image_observation(jnp.zeros((48, 64, 3)), jnp.asarray(depth), cam.Resolution(48, 64, True)))
  np.testing.assert_array_equal(image[..., 3], np.round(np.clip(depth / 2.0, 0, 1) * 255).astype(np.uint8))


def test_a_geoms_pixels_carry_its_colour(env, reset_state):
  domain = make_domain("sim", "in", {"cube_rgb": (0.1, 0.9, 0.3), "pusher_rgb": (0.9, 0.8, 0.1)})
  look = _flat_look(env, domain)
  cube = np.asarray(env.cube_pos(reset_state.data))
  above_cube = cam.Camera(pos=jnp.asarray(cube + [0.0, 0.0, 0.3]), lookat=jnp.asarray(cube), fovy=jnp.float32(5.0))
  rgb, depth = _render(env, reset_state, domain, camera=above_cube, look=look)
  np.testing.assert_allclose(rgb.reshape(-1, 3), np.tile([0.1, 0.9, 0.3], (48 * 64, 1)), atol=1e-6)
  np.testing.assert_allclose(depth, 0.3 - 0.025, rtol=1e-4)  # the cube's top face
  ee = np.asarray(env.ee_pos(reset_state.data))
  at_pusher = cam.Camera(pos=jnp.asarray(ee + [0.0, -0.2, 0.0]), lookat=jnp.asarray(ee), fovy=jnp.float32(2.0))
  rgb, _ = _render(env, reset_state, domain, camera=at_pusher, look=look)
  np.testing.assert_allclose(rgb[24, 32], [0.9, 0.8, 0.1], atol=1e-6)


def test_channel_permutation_is_exact(env, reset_state):
  base = make_domain("sim", "in")
  for order in ((1, 2, 0), (2, 0, 1), (0, 2, 1)):
    permuted = base.replace(channel_order=jnp.asarray(order, jnp.float32))
    a = np.asarray(env.observe(reset_state.data, base, jax.random.PRNGKey(1))["image"])
    b = np.asarray(env.observe(reset_state.data, permuted, jax.random.PRNGKey(1))["image"])
    np.testing.assert_array_equal(b, a[..., list(order)])


def test_same_key_renders_the_same_image(env, reset_state):
  noisy = make_domain("sim", "in", {"pixel_noise": 0.05})
  a = np.asarray(env.observe(reset_state.data, noisy, jax.random.PRNGKey(3))["image"])
  b = np.asarray(env.observe(reset_state.data, noisy, jax.random.PRNGKey(3))["image"])
  c = np.asarray(env.observe(reset_state.data, noisy, jax.random.PRNGKey(4))["image"])
  np.testing.assert_array_equal(a, b)
  assert (a != c).mean() > 0.5
  clean = np.asarray(env.observe(reset_state.data, make_domain("sim", "in"), jax.random.PRNGKey(3))["image"])
  assert np.abs(a.astype(int) - clean.astype(int)).mean() < 0.05 * 255


def test_visual_fields_change_only_what_they_name(env, reset_state, reset):
  base = make_domain("sim", "in")
  camera = env.camera_for(base)
  rgb0, depth0 = _render(env, reset_state, base)
  on_table = _world_points(camera, depth0)[..., 2] < 1e-4
  assert 0.5 < on_table.mean() < 1.0  # the view holds table and objects

  def changed(**fields):
    rgb, depth = _render(env, reset_state, make_domain("sim", "in", fields))
    return np.any(np.abs(rgb - rgb0) > 1e-6, axis=-1), depth

  # Appearance of the table: only table pixels change; geometry does not.
  for fields in ({"table_texture": "wood"}, {"table_texture": "checker"}, {"table_rgb": (0.3, 0.3, 0.3)}):
    diff, depth = changed(**fields)
    assert diff.any() and not (diff & ~on_table).any(), fields
    np.testing.assert_array_equal(depth, depth0)
  # Object colours: only object pixels change.
  for fields in ({"cube_rgb": (0.0, 0.0, 1.0)}, {"pusher_rgb": (1.0, 1.0, 0.0)}):
    diff, depth = changed(**fields)
    assert diff.any() and not (diff & on_table).any(), fields
    np.testing.assert_array_equal(depth, depth0)
  # Light and brightness change shading, not geometry.
  for fields in ({"brightness": 0.6}, {"light_dir": (-0.5, 0.2, -1.0)}):
    diff, depth = changed(**fields)
    assert diff.any(), fields
    np.testing.assert_array_equal(depth, depth0)
  # The camera offset moves the view: depth changes.
  _, depth = changed(camera_offset=(0.05, 0.0, 0.02))
  assert not np.allclose(depth, depth0)
  # Physics and sensing fields that do not change shapes leave the image alone; the cube's size does not.
  for fields, same in (({"cube_mass": 0.5}, True), ({"cube_friction": 0.9}, True), ({"obs_rotation_deg": 30.0}, True),
                       ({"obs_noise": 0.01}, True), ({"cube_half_size": 0.03}, False)):
    state = reset(jax.random.PRNGKey(0), make_domain("sim", "in", fields))
    rgb, _ = _render(env, state, make_domain("sim", "in", fields))
    assert np.array_equal(rgb, rgb0) == same, fields


def test_visual_fields_leave_the_physics_alone(env, reset):
  key = jax.random.PRNGKey(5)
  actions = jax.random.uniform(key, (15, 3), minval=-1, maxval=1)

  def qpos_path(domain):
    def body(s, a):
      s = env.step(s, a)
      return s, s.data.qpos
    return np.asarray(jax.lax.scan(body, reset(key, domain), actions)[1])

  plain = qpos_path(make_domain("sim", "in"))
  visual = qpos_path(make_domain("sim", "in", PushCube.gaps()["visual"]))
  np.testing.assert_array_equal(plain, visual)


def test_image_observations_of_the_gap_presets(env, reset):
  key = jax.random.PRNGKey(2)
  sim = reset(key, make_domain("sim", "in", gap="visual"))
  assert sim.obs["image"].dtype == jnp.uint8 and sim.obs["image"].shape == (48, 64, 3)
  np.testing.assert_array_equal(sim.obs["state"], env.ee_pos(sim.data))
  images = {gap: np.asarray(reset(key, make_domain("real", "in", gap=gap)).obs["image"]) for gap in GAP_NAMES}
  sim_image = np.asarray(sim.obs["image"])
  assert not np.array_equal(images["visual"], sim_image)
  assert not np.array_equal(images["visual_physics"], sim_image)
  # The physics gap changes no look; only the smaller cube differs, in a few pixels.
  assert 0 < np.mean(np.any(images["physics"] != sim_image, axis=-1)) < 0.05


def test_bad_visual_fields_and_scenes_are_refused():
  with pytest.raises(ValueError, match="channel_order must be a permutation"):
    make_domain("sim", "in", {"channel_order": (0, 0, 1)})
  with pytest.raises(ValueError, match="unknown table_texture 'marble'"):
    make_domain("sim", "in", {"table_texture": "marble"})
  with pytest.raises(ValueError, match="cube_rgb must have 3 entries"):
    make_domain("sim", "in", {"cube_rgb": (1.0, 0.0)})
  with pytest.raises(ValueError, match="unknown gap 'lighting'"):
    make_domain("real", "in", gap="lighting")
  with pytest.raises(ValueError, match="unknown observation 'lidar'"):
    make_env("push_cube", observation="lidar")
  import mujoco
  no_material = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom type='plane' size='1 1 1'/></worldbody></mujoco>")
  with pytest.raises(ValueError, match="no <material>"):
    cam.check_scene(no_material)


def test_rendering_batches_under_vmap_and_jit(env, reset):
  domain = make_domain("real", "in", gap="visual")
  keys = jax.random.split(jax.random.PRNGKey(0), 6)
  states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, domain)
  assert states.obs["image"].shape == (6, 48, 64, 3)
  one = np.asarray(reset(keys[3], domain).obs["image"], int)
  batched = np.asarray(states.obs["image"][3], int)
  # Batched and single programs may round a float differently: at most one level, rarely.
  assert np.abs(batched - one).max() <= 1 and (batched != one).mean() < 0.01


SCENE = """
<mujoco>
  <default><geom contype="0" conaffinity="0"/></default>
  <asset><material name="m"/></asset>
  <worldbody>
    <geom type="plane" size="0.6 0.5 0.1"/>
    <geom type="plane" size="0 0 1" pos="0 0 -0.3" rgba="1 1 1 0"/>
    <body pos="0.1 0.05 0.15" euler="20 -30 45"><freejoint/><geom type="box" size="0.05 0.08 0.03"/></body>
    <body pos="-0.15 0.1 0.1" euler="70 10 0"><freejoint/><geom type="capsule" size="0.03 0.07"/></body>
    <body pos="0.0 -0.15 0.08"><freejoint/><geom type="sphere" size="0.06"/></body>
    <body pos="-0.1 -0.1 0.2" euler="0 40 10"><freejoint/><geom type="ellipsoid" size="0.04 0.07 0.03"/></body>
  </worldbody>
</mujoco>
"""


def _scene():
  """SCENE as (MjModel, mjx.Model, mjx.Data after forward kinematics)."""
  import mujoco
  from mujoco import mjx

  mj_model = mujoco.MjModel.from_xml_string(SCENE)
  m = mjx.put_model(mj_model)
  return mj_model, m, mjx.forward(m, mjx.put_data(mj_model, mujoco.MjData(mj_model)))


def _downward_rays(seed: int, spread: float):
  """From above the table, 3000 unit directions fanned around straight down."""
  origin = jnp.asarray([0.02, -0.03, 0.7])
  dirs = jax.random.normal(jax.random.PRNGKey(seed), (3000, 3)) * jnp.asarray([spread, spread, 0.0]) - jnp.asarray([0, 0, 1.0])
  return origin, dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)


def test_the_batched_ray_caster_gives_mjx_rays_hits():
  # rays.cast answers as mjx.ray per ray (distance and geom id, -1 for a miss; invisible geoms
  # skipped) for every primitive type, seen from above, the side and below the table.
  from mujoco import mjx

  from gdacot.render import rays

  mj_model, m, d = _scene()
  dirs = jax.random.normal(jax.random.PRNGKey(0), (4000, 3))
  dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
  hit_types = set()
  for origin in ([0.05, 0.02, 0.6], [0.7, -0.2, 0.15], [0.0, 0.1, -0.2]):
    origin = jnp.asarray(origin)
    # Aim half the rays at the geoms, so every type is hit many times.
    aimed = d.geom_xpos[jnp.arange(4000) % mj_model.ngeom] - origin
    aimed = aimed / jnp.linalg.norm(aimed, axis=-1, keepdims=True)
    both = jnp.concatenate([dirs[:2000], aimed[:2000] + 0.05 * dirs[2000:]])
    dist, geom = jax.jit(rays.cast)(m, d, origin, both)
    ref_dist, ref_geom = jax.jit(jax.vmap(mjx.ray, in_axes=(None, None, None, 0)))(m, d, origin, both)
    same = np.asarray(geom == ref_geom)
    assert same.mean() > 0.999, same.mean()  # rounding may flip a grazing ray at an edge
    np.testing.assert_allclose(np.asarray(dist)[same], np.asarray(ref_dist)[same], atol=1e-4)
    geom = np.asarray(geom)
    hit_types |= set(np.asarray(mj_model.geom_type)[geom[geom >= 0]].tolist())
    assert (geom < 0).any() and 1 not in geom  # some rays miss; the invisible plane is never hit
  assert hit_types == {0, 2, 3, 4, 6}  # plane, sphere, capsule, ellipsoid, box


def test_the_ray_casts_light_term_is_the_surfaces_lambert_term():
  # With light falling straight down, -n.light is the hit surface's unit normal's z: 1 on the
  # table, (hit - centre)_z / r on the sphere, the face's normal z on the box (rotated).
  from gdacot.render import rays

  _, m, d = _scene()
  origin, dirs = _downward_rays(1, 0.4)
  dist, geom, lambert = jax.jit(rays.cast)(m, d, origin, dirs, jnp.asarray([0.0, 0.0, -1.0]))
  dist, geom, lambert = np.asarray(dist), np.asarray(geom), np.asarray(lambert)
  hit = np.asarray(origin) + dist[:, None] * np.asarray(dirs)
  table, box, sphere = geom == 0, geom == 2, geom == 4  # the scene's geom ids
  assert table.sum() > 100 and sphere.sum() > 20
  np.testing.assert_allclose(lambert[table], 1.0, atol=1e-6)
  centre, radius = np.asarray(d.geom_xpos[4]), 0.06
  np.testing.assert_allclose(lambert[sphere], (hit[sphere, 2] - centre[2]) / radius, atol=1e-3)
  assert box.sum() > 20
  face_z = np.abs(np.asarray(d.geom_xmat[2])[2])  # |z| of each box axis: its faces' normals' |z|
  assert np.all(np.min(np.abs(np.abs(lambert[box])[:, None] - face_z[None]), axis=1) < 1e-5)


def test_one_geoms_distance_is_the_casts_where_that_geom_is_nearest():
  # The floor's texture is shaded at geom_distance's points: they must be the cast's hit points
  # wherever the floor is the nearest geom, also for a world-body geom posed from the model
  # (the table) and a moving one (the box on its free joint), and inf where the geom is missed.
  from gdacot.render import rays

  _, m, d = _scene()
  origin, dirs = _downward_rays(2, 0.5)
  dist, geom = jax.jit(rays.cast)(m, d, origin, dirs)
  for g in (0, 2):  # the table (world body), the box
    own = np.asarray(jax.jit(rays.geom_distance, static_argnums=2)(m, d, g, origin, dirs))
    nearest = np.asarray(geom) == g
    assert nearest.sum() > 20
    np.testing.assert_allclose(own[nearest], np.asarray(dist)[nearest], rtol=1e-6)
    assert np.isinf(own).any() and np.all(np.isinf(own) <= ~nearest)
