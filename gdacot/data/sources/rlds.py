"""RLDS datasets (the TFDS episode format of Open X-Embodiment) in and out.

Reading takes any RLDS dataset directory: TFRecord shards (most of Open X-Embodiment; needs
TensorFlow, the `[rlds]` extra) or array_record shards (no TensorFlow). `RLDSReader` yields
the asked step fields of each episode as whole (T, ...) arrays, and the episode_metadata as
plain values; the shared loader (sources/__init__.py) checks and pads them.

Writing stores demos as array_record through tensorflow_datasets' builder, which works
without TensorFlow for plain tensor features (not for image features, whose encoders
import TensorFlow); gdacot's observations are flat state vectors, so that is all it needs.
"""

from __future__ import annotations

import glob
import importlib.util
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gdacot.data.demos import Demos
from gdacot.data.sources.base import Episode, Field, Reader
from gdacot.data.sources.validate import DatasetError

RLDS_FLAGS = ("is_first", "is_last", "is_terminal")


# --- Finding a dataset ----------------------------------------------------------------------


def _dataset_infos(path: str) -> list[str]:
  """dataset_info.json files at, or one or two levels below, `path`."""
  here = os.path.join(path, "dataset_info.json")
  if os.path.isfile(here):
    return [here]
  return sorted(glob.glob(os.path.join(path, "*", "dataset_info.json"))
                + glob.glob(os.path.join(path, "*", "*", "dataset_info.json")))


def resolve_dataset_dir(path: str) -> str:
  """The version directory (holding dataset_info.json) at or below `path`.

  Accepts the version directory itself (`.../bridge_dataset/1.0.0`) or a directory with
  exactly one dataset below it (what `tools.make_demos --out_dir` writes).
  """
  path = os.path.abspath(os.path.expanduser(str(path)))
  if not os.path.isdir(path):
    raise DatasetError(f"{path}: no such directory")
  found = _dataset_infos(path)
  if len(found) != 1:
    what = f"several datasets: {[os.path.dirname(f) for f in found]}" if found else "no dataset_info.json"
    raise DatasetError(f"{path}: not an RLDS dataset directory ({what}); give the directory that "
                       "holds dataset_info.json, e.g. .../bridge_dataset/1.0.0")
  return os.path.dirname(found[0])


def _tfds():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def _flat_features(feature, prefix: str = "") -> dict[str, Any]:
  """'/'-joined path -> leaf feature connector, through nested FeaturesDicts."""
  tfds = _tfds()
  if isinstance(feature, tfds.features.FeaturesDict):
    out = {}
    for name, sub in feature.items():
      out.update(_flat_features(sub, f"{prefix}{name}/"))
    return out
  return {prefix.rstrip("/"): feature}


def _field(feature) -> Field:
  dtype = feature.np_dtype
  return Field(shape=tuple(None if d is None else int(d) for d in feature.shape),
               dtype="string" if dtype == np.object_ else np.dtype(dtype).name,
               feature=type(feature).__name__)


# --- Reading ----------------------------------------------------------------------------


class RLDSReader(Reader):
  """An RLDS (TFDS) dataset: TFRecord or array_record shards and their dataset_info.json."""

  looks_for = "rlds: a TFDS directory holding dataset_info.json (e.g. .../bridge_dataset/1.0.0), or one below it"

  @classmethod
  def detect(cls, path: str) -> bool:
    return bool(_dataset_infos(path))

  def __init__(self, path: str):
    super().__init__(resolve_dataset_dir(path))
    try:
      self._builder = _tfds().builder_from_directory(self.path)
    except Exception as e:  # tfds raises many kinds here; the user needs the path and the reason
      raise DatasetError(f"{self.path}: cannot read the dataset's metadata: {e}") from e
    top = self._builder.info.features
    if "steps" not in top or not isinstance(top["steps"], _tfds().features.Dataset):
      raise DatasetError(f"{self.path}: not an RLDS dataset: no 'steps' sequence in its "
                         f"features (it has {sorted(top.keys())})")
    self._steps = _flat_features(top["steps"].feature)
    self._episode = {k: f for k, f in _flat_features(top).items() if not k.startswith("steps")}

  @property
  def file_format(self) -> str:
    fmt = self._builder.info.file_format
    return str(getattr(fmt, "value", fmt) or "tfrecord")

  def splits(self) -> list[str]:
    return list(self._builder.info.splits)

  def step_fields(self) -> dict[str, Field]:
    return {k: _field(f) for k, f in self._steps.items()}

  def episode_fields(self) -> dict[str, Field]:
    return {k: _field(f) for k, f in self._episode.items()}

  def info(self) -> dict[str, Any]:
    return {"name": self._builder.info.name, "version": str(self._builder.info.version)}

  def episode_lengths(self, split: str) -> list[int]:
    # One scalar field is enough to count steps, and cheap to decode.
    key = next((k for k in RLDS_FLAGS if k in self._steps), next(iter(self._steps)))
    return [len(ep.steps[key]) for ep in self.episodes(split, [key])]

  def episodes(self, split: str, keys: Sequence[str], max_episodes: int = 0) -> Iterator[Episode]:
    if split not in self._builder.info.splits:
      raise DatasetError(f"{self.path}: no split {split!r}; it has {sorted(self._builder.info.splits)}")
    read = self._read_array_record if self.file_format == "array_record" else self._read_tfrecord
    for raw in read(split, list(keys), max_episodes):
      steps = {k: raw[k] for k in keys}
      yield Episode(steps=steps, metadata=_metadata(raw.get("episode_metadata", {})))

  def _read_array_record(self, split, keys, max_episodes):
    source = self._builder.as_data_source(split=split)
    n = len(source) if not max_episodes else min(max_episodes, len(source))
    for i in range(n):
      try:
        episode = source[i]
        frames = list(episode["steps"])  # decodes step by step (tfds' numpy path)
      except Exception as e:  # tfds' decoders raise anything; name the episode (and its message the field)
        raise DatasetError(f"{self.path} [{split}]: episode {i}: cannot decode it: {e}") from e
      out = {}
      for key in keys:
        column = [_get(f, key) for f in frames]
        spec = self._steps[key]
        out[key] = (np.stack(column) if column else
                    np.zeros((0, *[d or 0 for d in spec.shape]), spec.np_dtype))
      out["episode_metadata"] = episode.get("episode_metadata", {})
      yield out

  def _read_tfrecord(self, split, keys, max_episodes):
    if importlib.util.find_spec("tensorflow") is None:
      raise DatasetError(f"{self.path}: a TFRecord dataset; reading it needs TensorFlow: "
                         "pip install 'gdacot[rlds]' (tensorflow-cpu). array_record datasets need none")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tfds = _tfds()
    steps = self._steps
    # SkipDecoding on `steps` hands over each episode's steps as whole (T, ...) tensors instead of
    # a nested tf.data.Dataset (which costs ~60 ms per episode to re-batch); then only the asked
    # fields are decoded, as batches (JPEG images included).
    ds = self._builder.as_dataset(split=split, decoders={"steps": tfds.decode.SkipDecoding()},
                                  shuffle_files=False)
    if max_episodes:
      ds = ds.take(max_episodes)

    def stack(episode):
      raw = episode["steps"]
      return {"steps": {k: steps[k].decode_batch_example(_get(raw, k)) for k in keys},
              "episode_metadata": episode.get("episode_metadata", {})}

    from absl import logging  # pylint: disable=g-import-not-at-top
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)  # tfds' image decoder warns of its own deprecated `dtype` use
    try:
      ds = ds.map(stack, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    finally:
      logging.set_verbosity(verbosity)
    episodes = iter(tfds.as_numpy(ds))
    for i in itertools.count():
      try:
        episode = next(episodes)
      except StopIteration:
        return
      except tf.errors.OpError as e:  # a corrupt record or an undecodable field
        raise DatasetError(f"{self.path} [{split}]: episode {i}: cannot decode it: {e.message}") from e
      yield {**episode["steps"], "episode_metadata": episode["episode_metadata"]}


def _get(tree, key: str):
  for part in key.split("/"):
    tree = tree[part]
  return tree


def _metadata(tree, prefix: str = "") -> dict[str, Any]:
  """episode_metadata as '/'-joined keys and plain values (numpy scalars unwrapped, bytes decoded)."""
  out = {}
  for k, x in dict(tree).items():
    if isinstance(x, Mapping):
      out.update(_metadata(x, f"{prefix}{k}/"))
      continue
    x = x.item() if isinstance(x, np.ndarray | np.generic) else x
    out[f"{prefix}{k}"] = x.decode() if isinstance(x, bytes) else x
  return out


# --- Writing ----------------------------------------------------------------------------


def _metadata_feature(example: Mapping[str, Any]):
  tfds = _tfds()
  spec = {}
  for key, x in example.items():
    if isinstance(x, str):
      spec[key] = tfds.features.Text()
    elif isinstance(x, bool | np.bool_):
      spec[key] = tfds.features.Scalar(dtype=np.bool_)
    elif isinstance(x, int | np.integer):
      spec[key] = tfds.features.Scalar(dtype=np.int64)
    elif isinstance(x, float | np.floating):
      spec[key] = tfds.features.Scalar(dtype=np.float32)  # tf.train.Example floats are 32-bit
    else:
      raise TypeError(f"episode metadata {key!r}: {type(x).__name__} is not str, bool, int or float")
  return tfds.features.FeaturesDict(spec)


def rlds_features(obs_size: int, action_size: int, metadata_example: Mapping[str, Any]):
  """The RLDS feature spec gdacot writes: flat state observation, chunk-free actions."""
  tfds = _tfds()
  scalar = lambda dtype: tfds.features.Scalar(dtype=dtype)
  return tfds.features.FeaturesDict({
      "steps": tfds.features.Dataset({
          "observation": tfds.features.FeaturesDict({
              "state": tfds.features.Tensor(shape=(obs_size,), dtype=np.float32),
          }),
          "action": tfds.features.Tensor(shape=(action_size,), dtype=np.float32),
          "reward": scalar(np.float32),
          "discount": scalar(np.float32),
          "is_first": scalar(np.bool_),
          "is_last": scalar(np.bool_),
          "is_terminal": scalar(np.bool_),
      }),
      "episode_metadata": _metadata_feature(metadata_example),
  })


def write_episodes(out_dir: str, name: str, features, episodes: Sequence[Mapping[str, Any]], *,
                   split: str = "train", version: str = "1.0.0", description: str = "",
                   file_format: str = "array_record") -> str:
  """Writes episodes (nested dicts matching `features`) at OUT_DIR/NAME/VERSION.

  Order is kept (shuffling off). array_record works without TensorFlow for tensor, scalar and
  text features; 'tfrecord' needs TensorFlow. Never overwrites; returns the version directory.
  """
  import tempfile  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.dataset_builders import adhoc_builder  # pylint: disable=g-import-not-at-top

  target = os.path.join(os.path.abspath(out_dir), name, version)
  if os.path.exists(target):
    raise DatasetError(f"{target} exists; writing never overwrites: choose another out_dir or name")

  class _Builder(adhoc_builder.AdhocBuilder, skip_registration=True):
    # AdhocBuilder checks `isinstance(x, tf.data.Dataset)`, which imports TensorFlow;
    # gdacot hands it plain (key, example) lists only.
    def _split_generators(self, dl_manager):
      return {s: iter(examples) for s, examples in self._split_datasets.items()}

  builder = _Builder(name=name, version=version, data_dir=os.path.abspath(out_dir), features=features,
                     split_datasets={split: list(enumerate(episodes))}, disable_shuffling=True,
                     description=description or "Written by gdacot.")
  with tempfile.TemporaryDirectory() as downloads:  # tfds wants one; nothing is downloaded
    builder.download_and_prepare(file_format=file_format, download_dir=downloads)
  return target


def write_rlds(out_dir: str, name: str, demos: Demos, metadata: Sequence[Mapping[str, Any]], *,
               split: str = "train", version: str = "1.0.0", description: str = "") -> str:
  """Writes demos as an array_record RLDS dataset at OUT_DIR/NAME/VERSION; returns that path.

  Each episode keeps its valid frames only (padding is not data). Every kept demo succeeded,
  so reward is 1 on the last step and that step is terminal. Works without TensorFlow.
  """
  obs, actions, lengths = (np.asarray(x) for x in (demos.obs, demos.actions, demos.lengths))
  if len(metadata) != len(lengths):
    raise ValueError(f"{len(metadata)} metadata entries for {len(lengths)} episodes")

  def episode(e, n):
    last = np.arange(n) == n - 1
    return {"steps": {"observation": {"state": obs[e, :n].astype(np.float32)},
                      "action": actions[e, :n].astype(np.float32),
                      "reward": last.astype(np.float32), "discount": np.ones(n, np.float32),
                      "is_first": np.arange(n) == 0, "is_last": last, "is_terminal": last},
            "episode_metadata": dict(metadata[e])}

  return write_episodes(out_dir, name, rlds_features(obs.shape[-1], actions.shape[-1], metadata[0]),
                        [episode(e, int(n)) for e, n in enumerate(lengths)], split=split, version=version,
                        description=description or "Demonstrations generated by gdacot (tools.make_demos).")
