"""LeRobot datasets (format v3.0 and v2.1), read from a local directory without torch.

Layout (LeRobot's format; nothing is downloaded):
  v3.0  meta/info.json, meta/stats.json, meta/tasks.parquet, meta/episodes/chunk-XXX/file-YYY.parquet
        (one row per episode: its length, tasks, data file, and per video key the file and the
        episode's from/to timestamps in it), data/chunk-XXX/file-YYY.parquet (many episodes per
        file), videos/<key>/chunk-XXX/file-YYY.mp4 (many episodes per file, one after another).
  v2.1  meta/info.json, meta/episodes.jsonl, meta/tasks.jsonl, one parquet and one mp4 per
        episode at info.json's `data_path` / `video_path` (chunk = episode_index // chunks_size).

Keys are the column names of info.json's `features` ('observation.state', 'action',
'observation.images.<camera>'). A row's image is the video frame nearest its timestamp (plus the
episode's `from_timestamp` in a v3.0 file), which must lie within half a frame period
(0.5 / fps): a frame further off belongs to another row, so the video lacks this one.

Opening a dataset checks its version, metadata and that every data and video file of every
episode exists; reading checks each episode's timestamps, column sizes and frame count, so a
dataset is refused before anything is trained on it.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import io
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gdacot.data.sources.base import Episode, Field, Reader
from gdacot.data.sources.validate import DatasetError
from gdacot.data.sources.video import VideoFile

VERSIONS = ("v2.1", "v3.0")
IMAGE_KINDS = ("video", "image")
# Columns every LeRobot frame has (not features a policy reads).
BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")
# Per-episode metadata columns gdacot writes into meta/episodes (tools.make_demos), read back as metadata.
GDACOT_PREFIX = "gdacot/"


def _pq():
  if importlib.util.find_spec("pyarrow") is None:
    raise DatasetError("reading LeRobot datasets needs pyarrow: pip install 'gdacot[formats]'")
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  return pq


@dataclasses.dataclass
class _EpisodeRecord:
  """Where one episode lives: its data file and, per video key, its file and time range."""

  index: int
  length: int
  tasks: list[str]
  data_file: str
  videos: dict[str, tuple[str, float, float]]  # key -> (file, from_timestamp, to_timestamp)
  extra: dict[str, Any]  # gdacot/* metadata columns


def _read_json(path: str, what: str):
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    raise DatasetError(f"{path}: missing; a LeRobot dataset needs its {what}") from None
  except (OSError, json.JSONDecodeError) as e:
    raise DatasetError(f"{path}: cannot read the {what}: {e}") from e


def _read_jsonl(path: str, what: str) -> list[dict]:
  try:
    with open(path) as f:
      return [json.loads(line) for line in f if line.strip()]
  except FileNotFoundError:
    raise DatasetError(f"{path}: missing; a LeRobot v2.1 dataset needs its {what}") from None
  except (OSError, json.JSONDecodeError) as e:
    raise DatasetError(f"{path}: cannot read the {what}: {e}") from e


def _image_shape(spec: dict) -> tuple[int, int, int]:
  """(height, width, channels) of an image feature, whichever order info.json lists them in."""
  shape = [int(d) for d in spec.get("shape", [])]
  names = [str(n).lower() for n in (spec.get("names") or [])]
  if len(shape) == 3 and len(names) == 3 and names[0].startswith("channel"):
    return shape[1], shape[2], shape[0]
  if len(shape) != 3:
    raise ValueError(f"an image feature needs a 3-d shape, got {shape}")
  return shape[0], shape[1], shape[2]


def _split_range(text: str, split: str, where: str) -> range:
  """info.json's split 'START:STOP' (episode indices) -> range."""
  try:
    start, stop = (int(x) for x in str(text).split(":"))
  except ValueError:
    raise DatasetError(f"{where}: split {split!r} is {text!r}, not 'START:STOP' episode indices") from None
  return range(start, stop)


class LeRobotReader(Reader):
  """A local LeRobot dataset directory (v3.0 or v2.1)."""

  looks_for = "lerobot: a LeRobot dataset directory holding meta/info.json (format v3.0 or v2.1)"

  @classmethod
  def detect(cls, path: str) -> bool:
    return os.path.isfile(os.path.join(path, "meta", "info.json"))

  def __init__(self, path: str):
    super().__init__(os.path.abspath(os.path.expanduser(str(path))))
    self._pq = _pq()
    self._info = _read_json(os.path.join(self.path, "meta", "info.json"), "metadata (meta/info.json)")
    self.version = str(self._info.get("codebase_version", ""))
    if self.version not in VERSIONS:
      raise DatasetError(f"{self.path}: LeRobot format version {self.version or '(none)'!r} in meta/info.json "
                         f"(codebase_version) is not one gdacot reads: {list(VERSIONS)}. Convert the "
                         "dataset with LeRobot's converter to v3.0")
    for field in ("fps", "features", "data_path"):
      if field not in self._info:
        raise DatasetError(f"{self.path}: meta/info.json lacks {field!r} (it has {sorted(self._info)})")
    self.fps = float(self._info["fps"])
    self._features = dict(self._info["features"])
    self._video_keys = [k for k, f in self._features.items() if f.get("dtype") == "video"]
    try:
      self._fields = {k: self._field(k, f) for k, f in self._features.items()}
    except (TypeError, ValueError) as e:
      raise DatasetError(f"{self.path}: meta/info.json: a feature's shape cannot be read: {e}") from e
    self._episodes = self._read_v3_episodes() if self.version == "v3.0" else self._read_v21_episodes()
    self._by_index = {e.index: e for e in self._episodes}
    self._check_files_exist()

  # --- Metadata -----------------------------------------------------------------------------

  def _field(self, key: str, spec: dict) -> Field:
    kind = str(spec.get("dtype"))
    if kind in IMAGE_KINDS:
      return Field(shape=_image_shape(spec), dtype="uint8", feature=kind)
    shape = tuple(int(d) for d in spec.get("shape", []))
    return Field(shape=shape, dtype=kind, feature="string" if kind == "string" else "column")

  def _path(self, template_key: str, **fields) -> str:
    return os.path.join(self.path, self._info[template_key].format(**fields))

  def _read_v3_episodes(self) -> list[_EpisodeRecord]:
    files = sorted(glob.glob(os.path.join(self.path, "meta", "episodes", "*", "*.parquet")))
    if not files:
      raise DatasetError(f"{self.path}: meta/episodes/ holds no parquet files; a LeRobot v3.0 dataset lists "
                         "its episodes there")
    if self._video_keys and "video_path" not in self._info:
      raise DatasetError(f"{self.path}: meta/info.json has video features {self._video_keys} but no 'video_path'")
    records = []
    for file in files:
      try:
        table = self._pq.read_table(file)
      except OSError as e:
        raise DatasetError(f"{file}: cannot read the episode metadata: {e}") from e
      columns = set(table.column_names)
      needed = ["episode_index", "length", "data/chunk_index", "data/file_index"]
      for key in self._video_keys:
        needed += [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
      missing = [c for c in needed if c not in columns]
      if missing:
        raise DatasetError(f"{file}: episode metadata lacks columns {missing} (it has "
                           f"{sorted(c for c in columns if not c.startswith('stats/'))})")
      extra_keys = [c for c in columns if c.startswith(GDACOT_PREFIX)]
      rows = table.select([c for c in [*needed, "tasks", *extra_keys] if c in columns]).to_pylist()
      for row in rows:
        videos = {}
        for key in self._video_keys:
          v = f"videos/{key}/"
          videos[key] = (self._path("video_path", video_key=key, chunk_index=row[v + "chunk_index"],
                                    file_index=row[v + "file_index"]),
                         float(row[v + "from_timestamp"]), float(row[v + "to_timestamp"]))
        records.append(_EpisodeRecord(
            index=int(row["episode_index"]), length=int(row["length"]), tasks=list(row.get("tasks") or []),
            data_file=self._path("data_path", chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]),
            videos=videos, extra={k[len(GDACOT_PREFIX):]: row[k] for k in extra_keys}))
    return sorted(records, key=lambda r: r.index)

  def _read_v21_episodes(self) -> list[_EpisodeRecord]:
    rows = _read_jsonl(os.path.join(self.path, "meta", "episodes.jsonl"), "episode list (meta/episodes.jsonl)")
    chunks = int(self._info.get("chunks_size", 1000))
    records = []
    for line, row in enumerate(rows):
      if "episode_index" not in row or "length" not in row:
        raise DatasetError(f"{self.path}: meta/episodes.jsonl line {line + 1} lacks episode_index or length "
                           f"(it has {sorted(row)})")
      e = int(row["episode_index"])
      videos = {key: (self._path("video_path", video_key=key, episode_chunk=e // chunks, episode_index=e), 0.0,
                      int(row["length"]) / self.fps) for key in self._video_keys}
      records.append(_EpisodeRecord(
          index=e, length=int(row["length"]), tasks=list(row.get("tasks") or []),
          data_file=self._path("data_path", episode_chunk=e // chunks, episode_index=e), videos=videos,
          extra={k[len(GDACOT_PREFIX):]: v for k, v in row.items() if k.startswith(GDACOT_PREFIX)}))
    return sorted(records, key=lambda r: r.index)

  def _check_files_exist(self) -> None:
    for record in self._episodes:
      if not os.path.isfile(record.data_file):
        raise DatasetError(f"{self.path}: episode {record.index}: its data file "
                           f"{os.path.relpath(record.data_file, self.path)} is missing")
      for key, (file, _, _) in record.videos.items():
        if not os.path.isfile(file):
          raise DatasetError(f"{self.path}: episode {record.index}, field {key!r}: its video file "
                             f"{os.path.relpath(file, self.path)} is missing")

  @property
  def file_format(self) -> str:
    return "parquet+mp4" if self._video_keys else "parquet"

  def splits(self) -> list[str]:
    return list(self._info.get("splits") or {"train": f"0:{len(self._episodes)}"})

  def _split_records(self, split: str) -> list[_EpisodeRecord]:
    splits = self._info.get("splits") or {"train": f"0:{max(self._by_index, default=-1) + 1}"}
    if split not in splits:
      raise DatasetError(f"{self.path}: no split {split!r}; the dataset has {sorted(splits)} "
                         "(set --config.sources.<domain>.split)")
    wanted = _split_range(splits[split], split, self.path)
    return [r for r in self._episodes if r.index in wanted]

  def step_fields(self) -> dict[str, Field]:
    return dict(self._fields)

  def episode_fields(self) -> dict[str, Field]:
    return {"episode_index": Field((), "int64", "episode"), "tasks": Field((None,), "string", "episode")}

  def info(self) -> dict[str, Any]:
    return {"version": self.version, "fps": self.fps, "robot_type": self._info.get("robot_type"),
            "video_keys": list(self._video_keys)}

  def episode_lengths(self, split: str) -> list[int]:
    return [r.length for r in self._split_records(split)]

  # --- Reading ------------------------------------------------------------------------------

  def episodes(self, split: str, keys: Sequence[str], max_episodes: int = 0) -> Iterator[Episode]:
    records = self._split_records(split)[:max_episodes or None]
    where = f"{self.path} [{split}]"
    columns = [k for k in keys if self._fields[k].feature != "video"]
    videos: dict[str, VideoFile] = {}
    table_file, table = None, None
    try:
      for record in records:
        if record.data_file != table_file:  # v3.0: the next file; episodes are read in order
          table, table_file = self._read_data(record.data_file, columns), record.data_file
        rows = self._rows_of(table, record, where)
        timestamps = self._timestamps(rows, record, where)
        steps = {k: self._column(rows, k, record, where) for k in columns}
        for key in keys:
          if self._fields[key].feature == "video":
            file = record.videos[key][0]
            if key not in videos or videos[key].path != file:
              if key in videos:
                videos[key].close()
              videos[key] = VideoFile(file)
            steps[key] = self._video_frames(videos[key], record, key, timestamps, where)
        metadata = {"episode_index": record.index, **record.extra}
        if record.tasks:
          metadata["task"] = record.tasks[0] if len(record.tasks) == 1 else "; ".join(record.tasks)
        yield Episode(steps=steps, metadata=metadata, index=record.index)
    finally:
      for video in videos.values():
        video.close()

  def _read_data(self, file: str, columns: list[str]):
    try:
      return self._pq.read_table(file, columns=sorted({*columns, "episode_index", "timestamp"}))
    except (OSError, ValueError, KeyError) as e:  # pyarrow: ArrowInvalid is a ValueError
      raise DatasetError(f"{file}: cannot read the data file: {e}") from e

  def _rows_of(self, table, record: _EpisodeRecord, where: str):
    episode_index = np.asarray(table.column("episode_index").to_numpy())
    picked = np.flatnonzero(episode_index == record.index)
    if len(picked) != record.length:
      raise DatasetError(f"{where}: episode {record.index}: the metadata says {record.length} steps but "
                         f"{os.path.relpath(record.data_file, self.path)} holds {len(picked)} rows of it")
    return table.take(picked)

  def _timestamps(self, rows, record: _EpisodeRecord, where: str) -> np.ndarray:
    ts = np.asarray(rows.column("timestamp").to_numpy(zero_copy_only=False), np.float64).reshape(-1)
    back = np.flatnonzero(np.diff(ts) <= 0)
    if len(back):
      t = int(back[0]) + 1
      raise DatasetError(f"{where}: episode {record.index}, field 'timestamp': timestamps out of order at step "
                         f"{t} ({ts[t - 1]:.6g} s, then {ts[t]:.6g} s)")
    return ts

  def _column(self, rows, key: str, record: _EpisodeRecord, where: str) -> np.ndarray:
    field, column = self._fields[key], rows.column(key)
    prefix = f"{where}: episode {record.index}, field {key!r}"
    if field.feature == "image":  # encoded images (PNG/JPEG) in the parquet: {bytes, path} structs
      return np.stack([self._decode_image(x, prefix, t) for t, x in enumerate(column.to_pylist())]) \
          if len(column) else np.zeros((0, *field.shape), np.uint8)
    x = self._to_numpy(column, prefix)
    if field.dtype != "string":
      try:
        x = x.astype(field.dtype, copy=False)
      except (TypeError, ValueError) as e:
        raise DatasetError(f"{prefix}: its rows are not {field.dtype} as meta/info.json says ({e})") from e
    per_step = tuple(x.shape[1:])
    if per_step != field.shape and not (field.shape == (1,) and per_step == ()):
      raise DatasetError(f"{prefix}: rows of shape {list(per_step)}, but meta/info.json declares "
                         f"{list(field.shape)}")
    return x.reshape(len(x), *field.shape) if field.shape == (1,) else x

  @staticmethod
  def _to_numpy(column, prefix: str) -> np.ndarray:
    """A parquet column -> (T, ...) array: list columns of equal lengths become a 2-d array
    without going through Python lists (the fast path for states and actions)."""
    import pyarrow as pa  # pylint: disable=g-import-not-at-top
    column = column.combine_chunks()
    if column.null_count:
      t = int(np.flatnonzero(np.asarray(column.is_null()))[0])
      raise DatasetError(f"{prefix}: step {t} holds no value (null)")
    if pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
      lengths = np.asarray(column.value_lengths()) if not pa.types.is_fixed_size_list(column.type) else \
          np.full(len(column), column.type.list_size)
      if len(column) == 0:
        return np.zeros((0, column.type.list_size if pa.types.is_fixed_size_list(column.type) else 0))
      flat = column.flatten()
      if len(set(lengths.tolist())) > 1:
        t = int(np.flatnonzero(lengths != lengths[0])[0])
        raise DatasetError(f"{prefix}: step {t} holds {lengths[t]} values, step 0 holds {lengths[0]}")
      if pa.types.is_list(flat.type) or pa.types.is_fixed_size_list(flat.type):  # 2-d features
        return np.asarray(column.to_pylist())
      return flat.to_numpy(zero_copy_only=False).reshape(len(column), -1)
    return column.to_numpy(zero_copy_only=False)

  @staticmethod
  def _decode_image(cell, prefix: str, t: int) -> np.ndarray:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    data = cell.get("bytes") if isinstance(cell, dict) else None
    if not data:
      raise DatasetError(f"{prefix}: step {t} holds no encoded image bytes")
    try:
      return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except OSError as e:
      raise DatasetError(f"{prefix}: step {t}: cannot decode the image: {e}") from e

  def _video_frames(self, video: VideoFile, record: _EpisodeRecord, key: str, timestamps: np.ndarray,
                    where: str) -> np.ndarray:
    _, start, stop = record.videos[key]
    tolerance = 0.5 / self.fps
    prefix = f"{where}: episode {record.index}, field {key!r}"
    wanted = start + timestamps
    if len(wanted) == 0:  # an empty episode: the shared checks say so
      return np.zeros((0, *self._fields[key].shape), np.uint8)
    times, frames = video.frames(start, max(stop, wanted[-1] + tolerance if len(wanted) else stop), tolerance)
    if len(times) == 0:
      raise DatasetError(f"{prefix}: the video {os.path.relpath(video.path, self.path)} holds no frame for the "
                         f"episode's {len(wanted)} parquet rows (from {start:.3f} s): the video is shorter "
                         "than its parquet rows")
    nearest = np.clip(np.searchsorted(times, wanted), 1, len(times) - 1) if len(times) > 1 else np.zeros(len(wanted), int)
    if len(times) > 1:
      left = nearest - 1
      nearest = np.where(np.abs(times[left] - wanted) <= np.abs(times[nearest] - wanted), left, nearest)
    off = np.abs(times[nearest] - wanted)
    bad = np.flatnonzero(off > tolerance)
    if len(bad):
      t = int(bad[0])
      if wanted[t] > times[-1] + tolerance:
        raise DatasetError(f"{prefix}: the video {os.path.relpath(video.path, self.path)} holds {len(times)} "
                           f"frames for the episode but its parquet has {len(wanted)} rows: the video is shorter "
                           f"than its parquet rows (no frame at {wanted[t]:.3f} s, step {t})")
      raise DatasetError(f"{prefix}: step {t} (timestamp {timestamps[t]:.4f} s) has no video frame within "
                         f"{tolerance:.4f} s (the nearest is {off[t]:.4f} s away)")
    shape = self._fields[key].shape
    if frames.shape[1:] != tuple(shape):
      raise DatasetError(f"{prefix}: video frames of shape {list(frames.shape[1:])}, but meta/info.json declares "
                         f"{list(shape)}")
    return frames[nearest]
