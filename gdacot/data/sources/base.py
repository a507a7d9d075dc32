"""What every dataset format shares: the key map, the reader interface and the loaded record.

A format is a `Reader` subclass in its own module (sources/rlds.py is the first). The reader
only reads: it lists the step fields and splits, and yields each episode as plain numpy
arrays. Everything after that (the checks in validate.py, padding into `Demos`, the key
map's slices) is shared, so every format is checked and shaped the same way.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gdacot.data import observations
from gdacot.data.demos import Demos


@dataclasses.dataclass(frozen=True)
class KeyMap:
  """Which step fields feed the policy. Keys are '/'-joined paths inside a step, in any format
  (an RLDS 'observation/state', a robomimic 'obs/robot0_eef_pos', a LeRobot column name)."""

  state_key: str = "observation/state"
  action_key: str = "action"
  image_keys: tuple[str, ...] = ()  # cameras, in the order of the policy's views (render.views)
  state_slice: str = ""  # START:STOP on the last axis; '' keeps all
  action_slice: str = ""
  split: str = "train"
  max_episodes: int = 0  # 0: every episode of the split
  # Keep every k-th step: a recording faster than the other domain's control rate is refused
  # unless this brings it to that rate (actions are kept as recorded at those steps).
  frame_stride: int = 1

  @classmethod
  def from_config(cls, c) -> "KeyMap":
    """From a config block or dict with these fields (extra ones, such as `format`, are ignored;
    a missing one, such as frame_stride in a config saved before it, takes its default)."""
    values = {}
    for f in dataclasses.fields(cls):
      v = c.get(f.name, f.default)
      values[f.name] = tuple(str(k) for k in v) if isinstance(f.default, tuple) else type(f.default)(v)
    return cls(**values)

  @property
  def keys(self) -> list[str]:
    """Every step field this map reads."""
    return [self.state_key, self.action_key, *self.image_keys]


@dataclasses.dataclass(frozen=True)
class Field:
  """A step or episode field as the format declares it (for checks and `summary`)."""

  shape: tuple[int | None, ...]  # per step; None: varies
  dtype: str  # numpy dtype name, or "string"
  feature: str  # the format's own kind of field (TFDS 'Tensor', 'Image', ...; LeRobot 'video', ...)

  def describe(self) -> dict[str, Any]:
    return {"shape": list(self.shape), "dtype": self.dtype, "feature": self.feature}


@dataclasses.dataclass
class Episode:
  """One episode as a reader hands it over."""

  steps: dict[str, np.ndarray]  # every asked step key -> (T, ...) array
  metadata: dict[str, Any]  # plain Python values (str, int, float, bool), e.g. {"task": "push_cube"}
  index: int | None = None  # the format's own episode number (for messages); None: its position in the split


class Reader(abc.ABC):
  """One opened dataset of one format: `Reader(path)` opens it, or raises `DatasetError`.

  To add a format: subclass this in sources/<format>.py, implement the methods below, and
  register the class with `register_source(name, cls)` in sources/__init__.py.
  """

  # One line for the message shown when no format recognises a directory.
  looks_for: str = ""

  def __init__(self, path: str):
    self.path = path  # the dataset's own directory, once resolved (subclasses may change it)

  @classmethod
  @abc.abstractmethod
  def detect(cls, path: str) -> bool:
    """Whether the directory `path` holds a dataset of this format. Cheap: look at files only."""

  @property
  @abc.abstractmethod
  def file_format(self) -> str:
    """The storage below the format (RLDS: 'tfrecord' or 'array_record'), recorded with the data."""

  @abc.abstractmethod
  def splits(self) -> list[str]:
    """Names of the dataset's splits."""

  @abc.abstractmethod
  def step_fields(self) -> dict[str, Field]:
    """Every step field, by '/'-joined key."""

  def episode_fields(self) -> dict[str, Field]:
    """Per-episode fields (metadata), by key; none by default."""
    return {}

  def info(self) -> dict[str, Any]:
    """Format-specific facts for `summary` (name, version, fps, ...)."""
    return {}

  @abc.abstractmethod
  def episode_lengths(self, split: str) -> list[int]:
    """Steps of each episode of the split, in order."""

  @abc.abstractmethod
  def episodes(self, split: str, keys: Sequence[str], max_episodes: int = 0) -> Iterator[Episode]:
    """The split's episodes in order (the first `max_episodes`; 0: all), each holding `keys`.

    Raises `DatasetError` naming the episode when one cannot be decoded, and for an unknown
    split (listing the known ones).
    """


@dataclasses.dataclass(frozen=True)
class Part:
  """One dataset of a domain's mixture, as loaded."""

  name: str
  path: str
  format: str
  episodes: int
  frames: int
  share: float  # its share of the domain's samples: weight / sum of the domain's weights (per sample)


@dataclasses.dataclass
class SourceData:
  """A loaded split of one dataset: padded demos for the trainer plus what was read alongside."""

  demos: Demos
  images: dict[str, np.ndarray]  # image key -> (E, T, H, W, C) uint8, padded like demos
  metadata: list[dict[str, Any]]  # per episode
  path: str
  split: str
  format: str  # the registered name of the reader, e.g. 'rlds'
  file_format: str  # the storage below it, e.g. 'tfrecord'
  # A domain's weighted mixture of several datasets (load.load_mixture): one Part per dataset, in
  # order, its episodes consecutive in `demos`. Empty for a single dataset.
  parts: tuple["Part", ...] = ()
  cameras: tuple[str, ...] = ()  # the image keys read, in the order of the policy's views
  fps: float | None = None  # steps per second as loaded (after frame_stride), where the format states it

  @property
  def obs_size(self) -> int:
    return int(observations.state_of(self.demos.obs).shape[-1])

  @property
  def action_size(self) -> int:
    return int(self.demos.actions.shape[-1])

  @property
  def task(self) -> str | None:
    """The task every episode names in its metadata (gdacot-written data), else None."""
    tasks = {m.get("task") for m in self.metadata}
    return tasks.pop() if len(tasks) == 1 else None
