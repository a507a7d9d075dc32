"""GIF videos of evaluated episodes, replayed from their joint positions with MuJoCo's renderer.

Host-side and offscreen (needs OpenGL: MUJOCO_GL=egl, the default set by `gdacot.evaluate`,
or osmesa). Episodes are tiled in a grid; a green border marks a success, red a failure.
"""

from __future__ import annotations

import copy
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


def host_model_for(env, domain) -> mujoco.MjModel:
  """The task's MjModel with the domain's geometry (sizes), for replaying its episodes."""
  m = copy.deepcopy(env.mj_model)
  m.geom_size[:] = np.asarray(env.model_for(domain).geom_size)
  return m


def _camera() -> mujoco.MjvCamera:
  cam = mujoco.MjvCamera()
  cam.lookat[:] = (0.0, -0.06, 0.0)
  cam.distance, cam.azimuth, cam.elevation = 0.65, 90.0, -55.0
  return cam


def render_episodes(mj_model: mujoco.MjModel, qpos: np.ndarray, success: np.ndarray, *,
                    size: int = 160, frame_stride: int = 2, renderer=None) -> np.ndarray:
  """Frames (T', H, W, 3) uint8 of episodes qpos (E, T, nq) tiled in a near-square grid."""
  num_episodes, num_steps, _ = qpos.shape
  cols = math.ceil(math.sqrt(num_episodes))
  rows = math.ceil(num_episodes / cols)
  border = max(2, size // 40)
  renderer = renderer or make_renderer(mj_model, size)
  data, cam = mujoco.MjData(mj_model), _camera()
  frames = []
  for t in range(0, num_steps, frame_stride):
    canvas = np.full((rows * size, cols * size, 3), 255, np.uint8)
    for e in range(num_episodes):
      data.qpos[:] = qpos[e, t]
      mujoco.mj_forward(mj_model, data)
      renderer.update_scene(data, camera=cam)
      tile = renderer.render().copy()
      colour = SUCCESS_RGB if success[e] else FAILURE_RGB
      tile[:border], tile[-border:], tile[:, :border], tile[:, -border:] = colour, colour, colour, colour
      r, c = divmod(e, cols)
      canvas[r * size:(r + 1) * size, c * size:(c + 1) * size] = tile
    frames.append(canvas)
  return np.stack(frames)


def write_gif(path: str, frames: np.ndarray, fps: float) -> None:
  from PIL import Image

  images = [Image.fromarray(f) for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
