"""Dataset camera frames -> the policy's image, as the on-device camera renders it.

Each camera's frames are resized once, on the host, when the dataset is loaded, to
`render.height` x `render.width` with Pillow's antialiased bilinear filter (`Image.resize` with
`Resampling.BILINEAR`: a triangle filter whose support widens with the shrink factor, so a
640x480 frame averages its pixels instead of sampling a few). The cameras are then laid side by
side, left to right in `image_keys` order, as the rendered views are (`Task.image_shape`), and
kept as uint8 RGB. A policy served on a robot resizes its frames with this same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

RESIZE_FILTER = Image.Resampling.BILINEAR
RESIZE_NAME = "Pillow's antialiased bilinear resize"


def to_rgb(frames: np.ndarray) -> np.ndarray:
  """(..., H, W, 1|3|4) uint8 -> (..., H, W, 3): grey repeated, alpha dropped."""
  channels = frames.shape[-1]
  if channels == 3:
    return frames
  if channels == 1:
    return np.repeat(frames, 3, axis=-1)
  return frames[..., :3]


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
  """(T, H, W, C) uint8 -> (T, height, width, 3) uint8, each frame resized with RESIZE_FILTER."""
  frames = to_rgb(np.asarray(frames, np.uint8))
  if frames.shape[1:3] == (height, width):
    return np.ascontiguousarray(frames)
  out = np.empty((len(frames), height, width, 3), np.uint8)
  for t, frame in enumerate(frames):
    out[t] = np.asarray(Image.fromarray(frame).resize((width, height), RESIZE_FILTER))
  return out


def policy_image(frames: Mapping[str, np.ndarray], keys: Sequence[str], height: int, width: int) -> np.ndarray:
  """Every camera in `keys` resized and side by side: (T, height, width * len(keys), 3) uint8."""
  return np.concatenate([resize_frames(frames[k], height, width) for k in keys], axis=2)
