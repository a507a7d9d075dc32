"""MP4 video in and out with PyAV (FFmpeg's libraries, no torch): what LeRobot stores images in.

`VideoFile(path).frames(start, stop)` decodes the frames whose timestamps fall in [start, stop)
seconds, reading on from where the previous call stopped (episodes of a v3.0 file are read
in order, so a file is decoded once from front to back) and seeking only when asked to go
back or far ahead. `write_mp4` encodes uint8 RGB frames at a fixed frame rate, frame i at
time i / fps.
"""

from __future__ import annotations

import fractions
import importlib.util

import numpy as np

from gdacot.data.sources.validate import DatasetError

# Seek rather than decode forward when the next wanted frame is further ahead than this.
_SEEK_AHEAD_S = 10.0


def _av():
  if importlib.util.find_spec("av") is None:
    raise DatasetError("reading or writing mp4 videos needs PyAV: pip install 'gdacot[formats]' (or pip install av)")
  import av  # pylint: disable=g-import-not-at-top
  return av


class VideoFile:
  """One mp4 file, decoded on demand in timestamp order. Close it (or use `with`) when done."""

  def __init__(self, path: str):
    self.path = path
    try:
      self._container = _av().open(path)
      self._stream = self._container.streams.video[0]
    except (OSError, IndexError, ValueError) as e:  # av.error.* are OSError/ValueError subclasses
      raise DatasetError(f"{path}: cannot open the video: {e}") from e
    self._stream.thread_type = "AUTO"
    self._frames = None  # the decoder's frame iterator
    self._pending = None  # a decoded frame past the last range asked for: the next range may start with it
    self._consumed = None  # timestamp of the last frame returned or skipped: the decoder is past it

  def close(self) -> None:
    self._container.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def _restart_at(self, start: float) -> None:
    # Seek to the keyframe at or before `start` (in the stream's time base) and decode on.
    self._container.seek(max(0, int(start / self._stream.time_base)), stream=self._stream, backward=True)
    self._frames = self._container.decode(self._stream)
    self._pending = self._consumed = None

  def frames(self, start: float, stop: float, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(times (N,), frames (N, H, W, 3) uint8) of every frame with start - tolerance <= time
    < stop - tolerance, in order."""
    lo, hi = start - tolerance, stop - tolerance
    if self._frames is None:
      self._frames = self._container.decode(self._stream)
      if lo > _SEEK_AHEAD_S:
        self._restart_at(start)
    elif (self._consumed is not None and lo <= self._consumed) or lo > (self._consumed or 0.0) + _SEEK_AHEAD_S:
      self._restart_at(start)  # behind the decoder, or far ahead of it
    times, images = [], []
    try:
      while True:
        frame, self._pending = self._pending or next(self._frames, None), None
        if frame is None:
          break
        t = float(frame.time)
        if t >= hi:
          self._pending = frame
          break
        self._consumed = t
        if t >= lo:
          times.append(t)
          images.append(frame.to_ndarray(format="rgb24"))
    except (OSError, ValueError) as e:
      raise DatasetError(f"{self.path}: cannot decode the video near {start:.3f} s: {e}") from e
    if not images:
      return np.zeros((0,)), np.zeros((0, 0, 0, 3), np.uint8)
    return np.asarray(times), np.stack(images)


def write_mp4(path: str, frames: np.ndarray, fps: int, *, codec: str = "libx264", crf: int = 18) -> dict:
  """Encodes (N, H, W, 3) uint8 RGB frames as an mp4 (yuv420p), frame i at time i / fps.

  H.264 (libx264) by default: every FFmpeg decodes it and it encodes fast and quietly; crf
  18 keeps the error small (BUILD_NOTES, "LeRobot and robomimic datasets ... (issue 17)"). yuv420p needs even heights and widths. Returns the
  video's entry for LeRobot's info.json (`info` of a video feature).
  """
  av = _av()
  frames = np.asarray(frames)
  if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
    raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
  height, width = frames.shape[1:3]
  if height % 2 or width % 2:
    raise ValueError(f"yuv420p video needs an even height and width, got {height}x{width}")
  with av.open(path, "w") as container:
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = fractions.Fraction(1, fps)
    if codec == "libx264":
      stream.options = {"crf": str(crf)}
    for i, image in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(image, format="rgb24")
      frame.pts = i
      container.mux(stream.encode(frame))
    container.mux(stream.encode())  # flush the encoder
    # The codec's own name ('h264' for the libx264 encoder), as LeRobot records it from ffprobe.
    codec_name = stream.codec_context.codec.canonical_name
  return {"video.height": int(height), "video.width": int(width), "video.codec": codec_name,
          "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": int(fps), "video.channels": 3,
          "has_audio": False}
