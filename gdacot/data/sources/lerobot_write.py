"""Writes episodes as a LeRobot v3.0 dataset (what `tools.make_demos --format=lerobot` writes).

The layout is LeRobot's (sources/lerobot.py reads it): meta/info.json, meta/stats.json,
meta/tasks.parquet, meta/episodes/chunk-000/file-000.parquet, data/chunk-XXX/file-YYY.parquet
(`episodes_per_file` episodes per file, `chunks_size` files per chunk directory) and, for each
camera, videos/<key>/chunk-XXX/file-YYY.mp4 holding the same episodes one after another.
States and actions are stored as float32 exactly; images go through H.264 (lossy, see
BUILD_NOTES, "LeRobot and robomimic datasets ... (issue 17)", for the error). The dataset is written into a temporary directory next to the
target and renamed into place at the end: a failure leaves nothing half-written, and an
existing target is never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gdacot.data.sources.lerobot import GDACOT_PREFIX, _pq
from gdacot.data.sources.validate import DatasetError
from gdacot.data.sources.video import write_mp4

DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


def _stats(x: np.ndarray, axes: tuple[int, ...]) -> dict[str, Any]:
  """LeRobot's per-feature statistics over `axes` (min, max, mean, std, count, quantiles)."""
  if x.shape[0] == 0:  # an empty episode (only the readers' tests write one): zeros, count 0
    x = np.zeros((1, *x.shape[1:]), x.dtype)
    return dict(_stats(x, axes), count=[0])
  low, high = x.min(axes), x.max(axes)  # integer features keep integer bounds, as LeRobot's do
  x = x.astype(np.float64)
  out = {"min": low, "max": high, "mean": x.mean(axes), "std": x.std(axes)}
  out.update({f"q{round(q * 100):02d}": np.quantile(x, q, axis=axes) for q in QUANTILES})
  out = {k: np.asarray(v).tolist() for k, v in out.items()}
  out["count"] = [int(x.shape[0])]
  return out


def _image_stats(frames: np.ndarray) -> dict[str, Any]:
  """Per channel, on LeRobot's [0, 1] scale, shaped (C, 1, 1) as LeRobot stores them."""
  per_channel = frames.reshape(-1, frames.shape[-1]).astype(np.float64) / 255.0
  stats = _stats(per_channel, (0,))
  return {k: (v if k == "count" else [[[c]] for c in v]) for k, v in stats.items()}


def _feature_stats(states, actions, frame_index, episode_index, index, task_index, images, fps) -> dict:
  """LeRobot's statistics of every feature, over the given frames (a whole dataset for
  meta/stats.json, one episode for its `stats/<feature>/<stat>` columns in meta/episodes)."""
  column = lambda x: np.asarray(x)[:, None]
  stats = {"observation.state": _stats(states, (0,)), "action": _stats(actions, (0,)),
           "timestamp": _stats(column(frame_index) / fps, (0,)), "frame_index": _stats(column(frame_index), (0,)),
           "episode_index": _stats(column(episode_index), (0,)), "index": _stats(column(index), (0,)),
           "task_index": _stats(column(task_index), (0,))}
  stats.update({key: _image_stats(frames) for key, frames in images.items()})
  return stats


def _tasks_table(tasks: Sequence[str]):
  """meta/tasks.parquet as LeRobot writes it: a pandas frame indexed by the task string."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  pandas_meta = {"index_columns": ["__index_level_0__"],
                 "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "str",
                                     "metadata": {"encoding": "UTF-8"}}],
                 "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                              "numpy_type": "int64", "metadata": None},
                             {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode",
                              "numpy_type": "object", "metadata": None}],
                 "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__}}
  table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()),
                    "__index_level_0__": pa.array(list(tasks), pa.string())})
  return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def write_lerobot(path: str, *, states: Sequence[np.ndarray], actions: Sequence[np.ndarray],
                  tasks: Sequence[str], fps: int, images: Mapping[str, Sequence[np.ndarray]] | None = None,
                  metadata: Sequence[Mapping[str, Any]] | None = None, robot_type: str = "gdacot",
                  episodes_per_file: int = 500, chunks_size: int = 1000, codec: str = "libx264") -> str:
  """Writes episodes (per episode: states (T, S), actions (T, A), images {key: (T, H, W, 3) uint8})
  as a LeRobot v3.0 dataset at `path` (never overwritten); returns `path`.

  `tasks[e]` is episode e's task (LeRobot's language instruction); `metadata[e]` holds plain
  values kept per episode as `gdacot/<key>` columns of meta/episodes. Image keys are LeRobot
  feature names, e.g. 'observation.images.camera'.
  """
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  pq = _pq()
  path = os.path.abspath(os.path.expanduser(str(path)))
  if os.path.exists(path):
    raise DatasetError(f"{path} exists; writing never overwrites: choose another out_dir or name")
  images = dict(images or {})
  num = len(states)
  metadata = list(metadata) if metadata is not None else [{} for _ in range(num)]
  if not (len(actions) == len(tasks) == len(metadata) == num) or any(len(x) != num for x in images.values()):
    raise ValueError("states, actions, tasks, metadata and every image key need one entry per episode")
  if num == 0:
    raise ValueError("no episodes to write")
  lengths = [len(s) for s in states]
  state_size, action_size = np.shape(states[0])[-1], np.shape(actions[0])[-1]
  task_names = list(dict.fromkeys(tasks))  # in first-seen order
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path))
  try:
    episode_rows = []
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for file_number, first in enumerate(range(0, num, episodes_per_file)):
      chunk_index, file_index = divmod(file_number, chunks_size)
      group = range(first, min(first + episodes_per_file, num))
      # Data: every step of the group's episodes.
      frame_index = np.concatenate([np.arange(lengths[e]) for e in group])
      columns = {
          "observation.state": np.concatenate([np.asarray(states[e], np.float32) for e in group]),
          "action": np.concatenate([np.asarray(actions[e], np.float32) for e in group]),
      }
      table = pa.table({
          **{k: pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1]) for k, v in columns.items()},
          "timestamp": pa.array((frame_index / fps).astype(np.float32)),
          "frame_index": pa.array(frame_index.astype(np.int64)),
          "episode_index": pa.array(np.repeat(np.arange(group.start, group.stop), [lengths[e] for e in group])),
          "index": pa.array(np.arange(starts[group.start], starts[group.stop], dtype=np.int64)),
          "task_index": pa.array(np.repeat([task_names.index(tasks[e]) for e in group],
                                           [lengths[e] for e in group]).astype(np.int64)),
      })
      data_file = os.path.join(tmp, DATA_PATH.format(chunk_index=chunk_index, file_index=file_index))
      os.makedirs(os.path.dirname(data_file), exist_ok=True)
      pq.write_table(table, data_file)
      # Videos: the group's episodes one after another, each from its own from_timestamp.
      video_info = {}
      for key, frames in images.items():
        video_file = os.path.join(tmp, VIDEO_PATH.format(video_key=key, chunk_index=chunk_index, file_index=file_index))
        os.makedirs(os.path.dirname(video_file), exist_ok=True)
        video_info[key] = write_mp4(video_file, np.concatenate([np.asarray(frames[e]) for e in group]), fps,
                                    codec=codec)
      offset = 0
      for e in group:
        row = {"episode_index": e, "tasks": [tasks[e]], "length": lengths[e], "data/chunk_index": chunk_index,
               "data/file_index": file_index, "dataset_from_index": int(starts[e]),
               "dataset_to_index": int(starts[e + 1])}
        for key in images:
          row.update({f"videos/{key}/chunk_index": chunk_index, f"videos/{key}/file_index": file_index,
                      f"videos/{key}/from_timestamp": offset / fps,
                      f"videos/{key}/to_timestamp": (offset + lengths[e]) / fps})
        n = lengths[e]
        episode_stats = _feature_stats(np.asarray(states[e]), np.asarray(actions[e]), np.arange(n), np.full(n, e),
                                       np.arange(starts[e], starts[e + 1]), np.full(n, task_names.index(tasks[e])),
                                       {key: np.asarray(frames[e]) for key, frames in images.items()}, fps)
        row.update({f"stats/{feature}/{name}": value for feature, values in episode_stats.items()
                    for name, value in values.items()})
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        row.update({f"{GDACOT_PREFIX}{k}": v for k, v in metadata[e].items()})
        episode_rows.append(row)
        offset += lengths[e]

    episodes_file = os.path.join(tmp, EPISODES_PATH)
    os.makedirs(os.path.dirname(episodes_file))
    pq.write_table(pa.Table.from_pylist(episode_rows), episodes_file)
    pq.write_table(_tasks_table(task_names), os.path.join(tmp, "meta", "tasks.parquet"))

    all_states, all_actions = np.concatenate(states), np.concatenate(actions)
    frame_index = np.concatenate([np.arange(n) for n in lengths])
    stats = _feature_stats(all_states, all_actions, frame_index, np.repeat(np.arange(num), lengths),
                           np.arange(starts[-1]), np.repeat([task_names.index(t) for t in tasks], lengths),
                           {key: np.concatenate(frames) for key, frames in images.items()}, fps)
    scalar = {"dtype": None, "shape": [1], "names": None}
    features = {
        "observation.state": {"dtype": "float32", "shape": [int(state_size)],
                              "names": [f"state_{i}" for i in range(state_size)]},
        "action": {"dtype": "float32", "shape": [int(action_size)], "names": [f"action_{i}" for i in range(action_size)]},
        **{key: {"dtype": "video", "shape": [info["video.height"], info["video.width"], 3],
                 "names": ["height", "width", "channels"], "info": info} for key, info in video_info.items()},
        "timestamp": dict(scalar, dtype="float32"),
        **{k: dict(scalar, dtype="int64") for k in ("frame_index", "episode_index", "index", "task_index")},
    }
    info = {"codebase_version": "v3.0", "robot_type": robot_type, "total_episodes": num,
            "total_frames": int(starts[-1]), "total_tasks": len(task_names), "chunks_size": chunks_size,
            "data_files_size_in_mb": 100, "video_files_size_in_mb": 200, "fps": int(fps),
            "splits": {"train": f"0:{num}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if images else None, "features": features}
    for name, content in (("info.json", info), ("stats.json", stats)):
      with open(os.path.join(tmp, "meta", name), "w") as f:
        json.dump(content, f, indent=4)
    os.rename(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return path


CAMERA_PREFIX = "observation.images."  # + a rendered view's name, as LeRobot names cameras


def write_demos(path: str, demos, metadata: Sequence[Mapping[str, Any]], *, fps: int, views: Sequence[str] = ()) -> str:
  """Padded `Demos` (state, or state + image observations) -> a LeRobot v3.0 dataset at `path`:
  valid frames only, one video per camera of `views` (rendered views lie side by side in the
  image, `Task.image_shape`), each episode's LeRobot task `metadata[e]["task"]`."""
  from gdacot.data.observations import image_of, state_of  # pylint: disable=g-import-not-at-top

  lengths = np.asarray(demos.lengths)
  cut = lambda x: [np.asarray(x[e, :n]) for e, n in enumerate(lengths)]  # padding is not data
  image = image_of(demos.obs)
  images = {}
  if image is not None:
    image = np.asarray(image)[..., :3]  # RGB (a depth channel is not video)
    width = image.shape[3] // len(views)
    images = {CAMERA_PREFIX + view: cut(image[:, :, :, i * width:(i + 1) * width]) for i, view in enumerate(views)}
  return write_lerobot(path, states=cut(np.asarray(state_of(demos.obs))), actions=cut(np.asarray(demos.actions)),
                       images=images, fps=fps, tasks=[m["task"] for m in metadata], metadata=metadata)
