"""robomimic HDF5 datasets (what robomimic, robosuite and MimicGen write), read with h5py.

Layout: one .hdf5 file; `data/demo_N/{obs/<key>, actions, rewards, dones, states}` per demo
(plus `next_obs/` and others, all readable), `data` attributes `total` (steps) and `env_args`
(JSON), and optionally `mask/<split>`: lists of demo names (robomimic's `train`, `valid`).

Keys are '/'-joined paths inside a demo: 'obs/robot0_eef_pos' (proprioception),
'obs/agentview_image' (uint8 images), 'actions'. Splits: 'all' (every demo) and one per mask.
Demos are read in the order of their number N (demo_2 before demo_10), a mask's demos too.
PATH is the .hdf5 file itself, or a directory holding exactly one.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gdacot.data.sources.base import Episode, Field, Reader
from gdacot.data.sources.validate import DatasetError

SUFFIXES = (".hdf5", ".h5")
ALL = "all"


def _h5py():
  if importlib.util.find_spec("h5py") is None:
    raise DatasetError("reading robomimic HDF5 files needs h5py: pip install 'gdacot[formats]'")
  import h5py  # pylint: disable=g-import-not-at-top
  return h5py


def _files(path: str) -> list[str]:
  if os.path.isfile(path):
    return [path] if path.endswith(SUFFIXES) else []
  return sorted(f for s in SUFFIXES for f in glob.glob(os.path.join(path, f"*{s}")))


def _demo_number(name: str) -> tuple[int, str]:
  match = re.fullmatch(r"demo_(\d+)", name)
  return (int(match.group(1)), name) if match else (1 << 62, name)


def _text(x) -> str:
  return x.decode() if isinstance(x, bytes | np.bytes_) else str(x)


class RobomimicReader(Reader):
  """One robomimic HDF5 file."""

  looks_for = "robomimic: an .hdf5 file with data/demo_N groups (robomimic, robosuite, MimicGen), or a directory holding one"

  @classmethod
  def detect(cls, path: str) -> bool:
    files = _files(path)
    if len(files) != 1:
      return False
    try:
      with _h5py().File(files[0], "r") as f:
        return "data" in f
    except (OSError, DatasetError):
      return False

  def __init__(self, path: str):
    path = os.path.abspath(os.path.expanduser(str(path)))
    files = _files(path)
    if len(files) != 1:
      what = f"several: {[os.path.basename(f) for f in files]}" if files else "none"
      raise DatasetError(f"{path}: not a robomimic HDF5 file, nor a directory holding exactly one .hdf5 file "
                         f"({what})")
    super().__init__(files[0])
    h5py = _h5py()
    try:
      self._file = h5py.File(self.path, "r")
    except OSError as e:
      raise DatasetError(f"{self.path}: cannot open the HDF5 file: {e}") from e
    if "data" not in self._file:
      raise DatasetError(f"{self.path}: no 'data' group; a robomimic file holds data/demo_N (it has "
                         f"{sorted(self._file)})")
    data = self._file["data"]
    self._demos = sorted((n for n in data if isinstance(data[n], h5py.Group)), key=_demo_number)
    if not self._demos:
      raise DatasetError(f"{self.path}: data/ holds no demo groups")
    self._masks = {}
    if "mask" in self._file:
      for split, names in self._file["mask"].items():
        names = sorted((_text(n) for n in np.asarray(names).reshape(-1)), key=_demo_number)
        unknown = [n for n in names if n not in data]
        if unknown:
          raise DatasetError(f"{self.path}: mask/{split} names demos that data/ lacks: {unknown[:5]}")
        self._masks[split] = names
    self._fields = self._collect_fields(data[self._demos[0]])

  def __del__(self):
    file = getattr(self, "_file", None)
    if file is not None:
      file.close()

  def _collect_fields(self, demo) -> dict[str, Field]:
    """Every dataset inside the first demo, by '/'-joined path, with its per-step shape."""
    h5py = _h5py()
    out = {}

    def visit(name, node):
      if isinstance(node, h5py.Dataset) and node.ndim >= 1:
        kind = "image" if node.dtype == np.uint8 and node.ndim == 4 else "dataset"
        out[name] = Field(shape=tuple(int(d) for d in node.shape[1:]), dtype=node.dtype.name, feature=kind)

    demo.visititems(visit)
    return out

  @property
  def file_format(self) -> str:
    return "hdf5"

  def splits(self) -> list[str]:
    return [ALL, *self._masks]

  def _split_demos(self, split: str) -> list[str]:
    if split == ALL:
      return list(self._demos)
    if split not in self._masks:
      raise DatasetError(f"{self.path}: no split {split!r}; the file has {self.splits()} ('all': every demo, "
                         "the others from mask/<split>; set --config.sources.<domain>.split)")
    return self._masks[split]

  def step_fields(self) -> dict[str, Field]:
    return dict(self._fields)

  def episode_fields(self) -> dict[str, Field]:
    return {"num_samples": Field((), "int64", "attribute")}

  def info(self) -> dict[str, Any]:
    attrs = self._file["data"].attrs
    env_args = attrs.get("env_args")
    try:
      env = json.loads(_text(env_args)) if env_args is not None else None
    except json.JSONDecodeError:
      env = _text(env_args)
    kwargs = env.get("env_kwargs") if isinstance(env, dict) else None
    fps = kwargs.get("control_freq") if isinstance(kwargs, dict) else None  # robosuite's control rate
    return {"total": int(attrs["total"]) if "total" in attrs else None,
            "env_name": env.get("env_name") if isinstance(env, dict) else None, "env_args": env,
            "fps": float(fps) if isinstance(fps, int | float) else None}

  def episode_lengths(self, split: str) -> list[int]:
    data = self._file["data"]
    return [self._length(data[n]) for n in self._split_demos(split)]

  @staticmethod
  def _length(demo) -> int:
    if "num_samples" in demo.attrs:
      return int(demo.attrs["num_samples"])
    return int(demo["actions"].shape[0]) if "actions" in demo else 0

  def episodes(self, split: str, keys: Sequence[str], max_episodes: int = 0) -> Iterator[Episode]:
    data = self._file["data"]
    for name in self._split_demos(split)[:max_episodes or None]:
      demo = data[name]
      steps = {}
      for key in keys:
        if key not in demo:
          present = sorted(k for k in self._collect_fields(demo))
          raise DatasetError(f"{self.path} [{split}]: episode {name}, field {key!r} is missing; this demo holds "
                             f"{present}")
        steps[key] = np.asarray(demo[key])
      yield Episode(steps=steps, metadata={"demo": name, "num_samples": self._length(demo)},
                    index=_demo_number(name)[0] if _demo_number(name)[0] < (1 << 62) else None)
