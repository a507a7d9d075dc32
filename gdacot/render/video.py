"""GIF videos of evaluated episodes, replayed from their joint positions.

Two views: "scene", MuJoCo's own renderer from a fixed viewpoint (host-side and offscreen, needs
OpenGL: MUJOCO_GL=egl, the default set by `gdacot.evaluate`, or osmesa); "camera", the policy's
on-device camera in the domain's look (gdacot/render/camera.py; no OpenGL). Episodes are tiled
in a grid; a green border marks a success, red a failure.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

SUCCESS_RGB = (40, 180, 60)
FAILURE_RGB = (200, 50, 40)


class VideoError(RuntimeError):
  pass


def make_renderer(mj_model: mujoco.MjModel, size: int) -> mujoco.Renderer:
  """An offscreen renderer, or a VideoError that says how to get one."""
  try:
    return mujoco.Renderer(mj_model, size, size)
  except Exception as e:  # no GL context / library: a setup problem, not a bug
    raise VideoError(
        f"offscreen rendering is unavailable ({type(e).__name__}: {e}). Videos need OpenGL: "
        "set MUJOCO_GL=egl (GPU or Mesa EGL) or MUJOCO_GL=osmesa (install libosmesa6)."
    ) from e


def _camera() -> mujoco.MjvCamera:
  cam = mujoco.MjvCamera()
  cam.lookat[:] = (0.0, -0.06, 0.0)
  cam.distance, cam.azimuth, cam.elevation = 0.65, 90.0, -55.0
  return cam


def tile_episodes(tiles: np.ndarray, success: np.ndarray) -> np.ndarray:
  """(E, T, H, W, 3) uint8 per-episode frames -> (T, rows*H, cols*W, 3), bordered by outcome."""
  num_episodes, num_steps, h, w, _ = tiles.shape
  cols = math.ceil(math.sqrt(num_episodes))
  rows = math.ceil(num_episodes / cols)
  border = max(2, min(h, w) // 40)
  canvas = np.full((num_steps, rows * h, cols * w, 3), 255, np.uint8)
  for e in range(num_episodes):
    tile = tiles[e].copy()
    colour = SUCCESS_RGB if success[e] else FAILURE_RGB
    tile[:, :border], tile[:, -border:], tile[:, :, :border], tile[:, :, -border:] = colour, colour, colour, colour
    r, c = divmod(e, cols)
    canvas[:, r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
  return canvas


def render_episodes(mj_model: mujoco.MjModel, qpos: np.ndarray, success: np.ndarray, *,
                    size: int = 160, frame_stride: int = 2, renderer=None) -> np.ndarray:
  """The "scene" view: frames (T', H, W, 3) uint8 of episodes qpos (E, T, nq), tiled."""
  renderer = renderer or make_renderer(mj_model, size)
  data, cam = mujoco.MjData(mj_model), _camera()
  tiles = np.zeros((qpos.shape[0], len(range(0, qpos.shape[1], frame_stride)), size, size, 3), np.uint8)
  for e in range(qpos.shape[0]):
    for i, t in enumerate(range(0, qpos.shape[1], frame_stride)):
      data.qpos[:] = qpos[e, t]
      mujoco.mj_forward(mj_model, data)
      renderer.update_scene(data, camera=cam)
      tiles[e, i] = renderer.render()
  return tile_episodes(tiles, success)


def camera_episodes(env, domain, qpos: np.ndarray, success: np.ndarray, *, size: int = 96,
                    frame_stride: int = 2) -> np.ndarray:
  """The "camera" view: what the policy's camera sees in `domain` (its look and camera pose), at
  `size` pixels, rendered on the device from the recorded joint positions; tiled like the scene view."""
  import jax  # pylint: disable=g-import-not-at-top
  from mujoco import mjx  # pylint: disable=g-import-not-at-top

  from gdacot.render.camera import Resolution, to_uint8  # pylint: disable=g-import-not-at-top

  model = env.model_for(domain)
  blank = mjx.make_data(env.mjx_model)

  def frame(q):
    rgb, _ = env.render(mjx.kinematics(model, blank.replace(qpos=q)), domain, jax.random.PRNGKey(0),
                        Resolution(size, size))
    return to_uint8(rgb)

  frames = jax.jit(jax.vmap(jax.vmap(frame)))(np.asarray(qpos)[:, ::frame_stride])
  return tile_episodes(np.asarray(frames), success)


def write_gif(path: str, frames: np.ndarray, fps: float) -> None:
  from PIL import Image

  images = [Image.fromarray(f) for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
