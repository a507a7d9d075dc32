"""RLDS datasets (the TFDS episode format of Open X-Embodiment) in and out.

Reading takes any RLDS dataset directory: TFRecord shards (most of Open X-Embodiment; needs
TensorFlow, the `[rlds]` extra) or array_record shards (no TensorFlow). A `KeyMap` says which
step fields are the state, the action and the images, and how to slice state and action.
Every episode is checked (`rlds_validate`) before any array is built, then the episodes
become the same padded `Demos(obs, actions, lengths)` that generated demos are, so
`Normalizer.fit` and `Dataset.create` take them unchanged.

Writing stores demos as array_record through tensorflow_datasets' builder, which works
without TensorFlow for plain tensor features (not for image features, whose encoders
import TensorFlow); gdacot's observations are flat state vectors, so that is all it needs.

Loading is host-side numpy: it runs once, before training.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from gdacot.data import rlds_validate as v
from gdacot.data.demos import Demos
from gdacot.data.rlds_validate import DatasetError

RLDS_FLAGS = ("is_first", "is_last", "is_terminal")


@dataclasses.dataclass(frozen=True)
class KeyMap:
  """Which step fields feed the policy. Keys are '/'-joined paths inside a step."""

  state_key: str = "observation/state"
  action_key: str = "action"
  image_keys: tuple[str, ...] = ()  # read and checked; the MLP encoder cannot consume them yet
  state_slice: str = ""  # START:STOP on the last axis; '' keeps all
  action_slice: str = ""
  split: str = "train"
  max_episodes: int = 0  # 0: every episode of the split

  @classmethod
  def from_config(cls, c) -> "KeyMap":
    return cls(state_key=str(c.state_key), action_key=str(c.action_key),
               image_keys=tuple(str(k) for k in c.image_keys), state_slice=str(c.state_slice),
               action_slice=str(c.action_slice), split=str(c.split), max_episodes=int(c.max_episodes))


@dataclasses.dataclass
class RLDSData:
  """A loaded split: padded demos for the trainer plus what was read alongside."""

  demos: Demos
  images: dict[str, np.ndarray]  # image key -> (E, T, H, W, C) uint8, padded like demos
  metadata: list[dict[str, Any]]  # per episode, from episode_metadata (bytes decoded)
  path: str
  split: str
  file_format: str

  @property
  def obs_size(self) -> int:
    return int(self.demos.obs.shape[-1])

  @property
  def action_size(self) -> int:
    return int(self.demos.actions.shape[-1])

  @property
  def task(self) -> str | None:
    """The task every episode names in its metadata (gdacot-written data), else None."""
    tasks = {m.get("task") for m in self.metadata}
    return tasks.pop() if len(tasks) == 1 else None


# --- Finding and describing a dataset -------------------------------------------------------


def resolve_dataset_dir(path: str) -> str:
  """The version directory (holding dataset_info.json) at or below `path`.

  Accepts the version directory itself (`.../bridge_dataset/1.0.0`) or a directory with
  exactly one dataset below it (what `tools.make_demos --out_dir` writes).
  """
  path = os.path.abspath(os.path.expanduser(str(path)))
  if not os.path.isdir(path):
    raise DatasetError(f"{path}: no such directory")
  if os.path.isfile(os.path.join(path, "dataset_info.json")):
    return path
  found = sorted(glob.glob(os.path.join(path, "*", "dataset_info.json"))
                 + glob.glob(os.path.join(path, "*", "*", "dataset_info.json")))
  if len(found) != 1:
    what = f"several datasets: {[os.path.dirname(f) for f in found]}" if found else "no dataset_info.json"
    raise DatasetError(f"{path}: not an RLDS dataset directory ({what}); give the directory that "
                       "holds dataset_info.json, e.g. .../bridge_dataset/1.0.0")
  return os.path.dirname(found[0])


def _tfds():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def _builder(path: str):
  try:
    return _tfds().builder_from_directory(path)
  except Exception as e:  # tfds raises many kinds here; the user needs the path and the reason
    raise DatasetError(f"{path}: cannot read the dataset's metadata: {e}") from e


def _file_format(builder) -> str:
  return str(getattr(builder.info.file_format, "value", builder.info.file_format) or "tfrecord")


def _flat_features(feature, prefix: str = "") -> dict[str, Any]:
  """'/'-joined path -> leaf feature connector, through nested FeaturesDicts."""
  tfds = _tfds()
  if isinstance(feature, tfds.features.FeaturesDict):
    out = {}
    for name, sub in feature.items():
      out.update(_flat_features(sub, f"{prefix}{name}/"))
    return out
  return {prefix.rstrip("/"): feature}


def _step_and_episode_features(builder) -> tuple[dict[str, Any], dict[str, Any]]:
  tfds = _tfds()
  top = builder.info.features
  if "steps" not in top or not isinstance(top["steps"], tfds.features.Dataset):
    raise DatasetError(f"{builder.data_dir}: not an RLDS dataset: no 'steps' sequence in its "
                       f"features (it has {sorted(top.keys())})")
  episode = {k: f for k, f in _flat_features(top).items() if not k.startswith("steps")}
  return _flat_features(top["steps"].feature), episode


def _describe(feature) -> dict[str, Any]:
  dtype = feature.np_dtype
  return {"shape": [None if d is None else int(d) for d in feature.shape],
          "dtype": "string" if dtype == np.object_ else np.dtype(dtype).name,
          "feature": type(feature).__name__}


def dataset_summary(path: str) -> dict[str, Any]:
  """Episodes and steps per split, and every feature's shape and dtype (tools.rlds_info)."""
  path = resolve_dataset_dir(path)
  builder = _builder(path)
  steps, episode = _step_and_episode_features(builder)
  splits = {}
  for split in builder.info.splits:
    lengths = [len(next(iter(ep.values()))) for ep in _read_split(builder, path, split, [], 0)]
    splits[split] = {"episodes": len(lengths), "steps": int(sum(lengths)),
                     "episode_length": {"min": min(lengths, default=0), "max": max(lengths, default=0)}}
  return {"path": path, "name": builder.info.name, "version": str(builder.info.version),
          "file_format": _file_format(builder), "splits": splits,
          "features": {"steps": {k: _describe(f) for k, f in steps.items()},
                       "episode": {k: _describe(f) for k, f in episode.items()}}}


# --- Reading ----------------------------------------------------------------------------


def _read_split(builder, path: str, split: str, keys: Sequence[str], max_episodes: int
                ) -> Iterator[dict[str, np.ndarray]]:
  """Yields each episode as {step key: (T, ...) array} plus 'episode_metadata/...' entries.

  With `keys` empty it yields one scalar field only (to count steps cheaply).
  """
  steps, _ = _step_and_episode_features(builder)
  keys = list(keys) or [next((k for k in RLDS_FLAGS if k in steps), next(iter(steps)))]
  if split not in builder.info.splits:
    raise DatasetError(f"{path}: no split {split!r}; it has {sorted(builder.info.splits)}")
  if _file_format(builder) == "array_record":
    yield from _read_array_record(builder, split, keys, steps, max_episodes)
  else:
    yield from _read_tfrecord(builder, path, split, keys, steps, max_episodes)


def _read_array_record(builder, split, keys, steps, max_episodes):
  source = builder.as_data_source(split=split)
  n = len(source) if not max_episodes else min(max_episodes, len(source))
  for i in range(n):
    try:
      episode = source[i]
      frames = list(episode["steps"])  # decodes step by step (tfds' numpy path)
    except Exception as e:  # tfds' decoders raise anything; name the episode (and its message the field)
      raise DatasetError(f"{builder.data_dir} [{split}]: episode {i}: cannot decode it: {e}") from e
    out = {}
    for key in keys:
      column = [_get(f, key) for f in frames]
      spec = steps[key]
      out[key] = (np.stack(column) if column else
                  np.zeros((0, *[d or 0 for d in spec.shape]), spec.np_dtype))
    for key, value in _flat_dict(episode.get("episode_metadata", {}), "episode_metadata/").items():
      out[key] = value
    yield out


def _read_tfrecord(builder, path, split, keys, steps, max_episodes):
  if importlib.util.find_spec("tensorflow") is None:
    raise DatasetError(f"{path}: a TFRecord dataset; reading it needs TensorFlow: "
                       "pip install 'gdacot[rlds]' (tensorflow-cpu). array_record datasets need none")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tfds = _tfds()
  # SkipDecoding on `steps` hands over each episode's steps as whole (T, ...) tensors instead of
  # a nested tf.data.Dataset (which costs ~60 ms per episode to re-batch); then only the asked
  # fields are decoded, as batches (JPEG images included).
  ds = builder.as_dataset(split=split, decoders={"steps": tfds.decode.SkipDecoding()}, shuffle_files=False)
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
      raise DatasetError(f"{path} [{split}]: episode {i}: cannot decode it: {e.message}") from e
    yield {**episode["steps"], **_flat_dict(episode["episode_metadata"], "episode_metadata/")}


def _get(tree, key: str):
  for part in key.split("/"):
    tree = tree[part]
  return tree


def _flat_dict(tree, prefix: str) -> dict[str, Any]:
  out = {}
  for k, x in dict(tree).items():
    if isinstance(x, Mapping):
      out.update(_flat_dict(x, f"{prefix}{k}/"))
    else:
      out[f"{prefix}{k}"] = x
  return out


def _pad(arrays: Sequence[np.ndarray], length: int) -> np.ndarray:
  # Padding repeats the last frame: Dataset never samples it, and it stays finite.
  return np.stack([np.pad(a, [(0, length - len(a))] + [(0, 0)] * (a.ndim - 1), mode="edge")
                   for a in arrays])


def _metadata(episode: Mapping[str, Any]) -> dict[str, Any]:
  out = {}
  for key, x in episode.items():
    if key.startswith("episode_metadata/"):
      x = x.item() if isinstance(x, np.ndarray | np.generic) else x
      out[key[len("episode_metadata/"):]] = x.decode() if isinstance(x, bytes) else x
  return out


def load_rlds(path: str, key_map: KeyMap = KeyMap(), *, min_length: int = 1) -> RLDSData:
  """Reads and checks one split into padded `Demos`; raises `DatasetError` on the first problem.

  `min_length` is the action chunk: shorter episodes are refused, not silently padded.
  """
  path = resolve_dataset_dir(path)
  builder = _builder(path)
  where = f"{path} [{key_map.split}]"
  steps, _ = _step_and_episode_features(builder)
  keys = [key_map.state_key, key_map.action_key, *key_map.image_keys]
  v.check_step_keys(where, keys, steps)
  state_sl = v.parse_slice(key_map.state_slice, "state_slice")
  action_sl = v.parse_slice(key_map.action_slice, "action_slice")

  obs, actions, images, metadata, first = [], [], {k: [] for k in key_map.image_keys}, [], {}
  for e, episode in enumerate(_read_split(builder, path, key_map.split, keys, key_map.max_episodes)):
    fields = {k: np.asarray(episode[k]) for k in keys}
    v.check_length(where, e, fields, min_length)
    for key, x in fields.items():
      v.check_same_shape(where, e, key, x.shape[1:], first.setdefault(key, x.shape[1:]))
    obs.append(v.check_vector(where, e, key_map.state_key, fields[key_map.state_key], state_sl,
                              key_map.state_slice, "state_slice"))
    actions.append(v.check_vector(where, e, key_map.action_key, fields[key_map.action_key], action_sl,
                                  key_map.action_slice, "action_slice"))
    for key in key_map.image_keys:
      images[key].append(v.check_image(where, e, key, fields[key]))
    metadata.append(_metadata(episode))
  if not obs:
    raise DatasetError(f"{where}: the split holds no episodes")

  lengths = np.array([len(o) for o in obs], np.int32)
  horizon = int(lengths.max())
  demos = Demos(obs=jnp.asarray(_pad(obs, horizon)), actions=jnp.asarray(_pad(actions, horizon)),
                lengths=jnp.asarray(lengths))
  return RLDSData(demos=demos, images={k: _pad(x, horizon) for k, x in images.items()},
                  metadata=metadata, path=path, split=key_map.split, file_format=_file_format(builder))


def load_domains(paths: Mapping[str, str], key_maps: Mapping[str, KeyMap], *, min_length: int,
                 generated: Mapping[str, tuple[int, int]] = {}, generated_by: str = "the MJX task"
                 ) -> dict[str, RLDSData]:
  """Loads each domain given by path and checks that every domain fits one policy.

  `generated` gives (obs_size, action_size) of domains whose demos will be generated instead.
  """
  loaded = {name: load_rlds(path, key_maps[name], min_length=min_length) for name, path in paths.items()}
  specs = {n: (d.obs_size, d.action_size) for n, d in loaded.items()}
  sources = {n: f"{d.path} [{d.split}]" for n, d in loaded.items()}
  for name, spec in generated.items():
    specs[name], sources[name] = spec, generated_by
  v.check_domains_fit(specs, sources)
  return loaded


def load_configured(cfg, task_obs_size: int, task_action_size: int) -> dict[str, RLDSData]:
  """The domains a co-training config reads from datasets (`cfg.sim_data`, `cfg.real_data`).

  Domains without a path are generated in MJX with the task's sizes, so a dataset that is
  read must then fit those; two datasets must fit each other (after the key maps).
  """
  names = ("sim", "real")
  paths = {n: str(cfg[f"{n}_data"]) for n in names if str(cfg[f"{n}_data"])}
  generated = {n: (task_obs_size, task_action_size) for n in names if n not in paths}
  return load_domains(paths, {n: KeyMap.from_config(cfg.rlds[n]) for n in paths}, min_length=cfg.chunk,
                      generated=generated, generated_by=f"generated in MJX by task {cfg.task!r}")


def eval_skips(pairs: Sequence[str], loaded: Mapping[str, RLDSData], task: str,
               policy_spec: tuple[int, int], task_spec: tuple[int, int]) -> dict[str, str]:
  """Eval pairs ('domain:region') MJX cannot evaluate, each with the reason.

  A policy whose (obs, action) sizes differ from the task's cannot run in MJX at all; a
  domain read from a dataset of another task (its metadata says so) has no MJX twin.
  """
  skips = {}
  for pair in pairs:
    name = str(pair).partition(":")[0]
    if policy_spec != task_spec:
      skips[pair] = (f"the policy's (obs, action) sizes {policy_spec}, from the datasets, differ from "
                     f"those of task {task!r} {task_spec}: MJX cannot run it")
    elif name in loaded and loaded[name].task not in (None, task):
      skips[pair] = f"{name} data come from task {loaded[name].task!r}, not {task!r}"
  return skips


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
