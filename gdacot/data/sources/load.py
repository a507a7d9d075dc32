"""Datasets of any registered format -> checked, padded `Demos`, the same for every format.

Loading is host-side numpy: it runs once, before training. Every episode is checked
(validate.py) before any array is built, so a bad dataset is refused whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdacot.data import observations
from gdacot.data.demos import Demos
from gdacot.data.sources import validate as v
from gdacot.data.sources.base import KeyMap, Part, SourceData
from gdacot.data.sources.config import DatasetSpec, datasets
from gdacot.data.sources.images import policy_image
from gdacot.data.sources.registry import open_source
from gdacot.data.sources.validate import DatasetError


def _pad(arrays: Sequence[np.ndarray], length: int) -> np.ndarray:
  # Padding repeats the last frame: Dataset never samples it, and it stays finite.
  return np.stack([np.pad(a, [(0, length - len(a))] + [(0, 0)] * (a.ndim - 1), mode="edge")
                   for a in arrays])


def load(path: str, key_map: KeyMap = KeyMap(), format: str | None = None, *,  # pylint: disable=redefined-builtin
         min_length: int = 1, image_size: tuple[int, int] | None = None) -> SourceData:
  """Reads and checks one split into padded `Demos`; raises `DatasetError` on the first problem.

  `format` names a registered format; None or '' detects it from the directory. `min_length`
  is the action chunk: shorter episodes are refused, not silently padded. `image_size`
  (height, width) makes the key map's cameras part of the observation, as the policy takes
  them (images.py: resized, side by side): `demos.obs` is then {"state", "image"} and
  `images` is empty. Without it the cameras are kept as read, in `images`.
  """
  format, reader = open_source(path, format)
  where = f"{reader.path} [{key_map.split}]"
  v.check_step_keys(where, key_map.keys, reader.step_fields())
  for text, name in ((key_map.state_slice, "state_slice"), (key_map.action_slice, "action_slice")):
    v.parse_slice(text, name)  # a bad slice is refused before any episode is read

  to_policy = bool(image_size and key_map.image_keys)
  stride = max(int(key_map.frame_stride), 1)
  obs, actions, metadata, first_shapes = [], [], [], {}
  images = {k: [] for k in key_map.image_keys} if not to_policy else {}
  policy_images = []
  for e, episode in enumerate(reader.episodes(key_map.split, key_map.keys, key_map.max_episodes)):
    number = e if episode.index is None else episode.index  # the format's own episode number, for messages
    state, action, frames = v.check_episode(where, number, episode.steps, key_map,
                                            min_length=1 if stride > 1 else min_length, first_shapes=first_shapes)
    if stride > 1:  # every stride-th step, from the first
      state, action, frames = state[::stride], action[::stride], {k: x[::stride] for k, x in frames.items()}
      v.check_strided_length(where, number, len(state), stride, min_length)
    obs.append(state)
    actions.append(action)
    if to_policy:  # resized per episode: full-size frames are never all held at once
      policy_images.append(policy_image(frames, key_map.image_keys, *image_size))
    for key, x in images.items():
      x.append(frames[key])
    metadata.append(episode.metadata)
  if not obs:
    raise DatasetError(f"{where}: the split holds no episodes")

  lengths = np.array([len(o) for o in obs], np.int32)
  horizon = int(lengths.max())
  state = _pad(obs, horizon)
  # Images stay on the host until the run has checked that they fit the device (and puts them there).
  demos = Demos(obs={"state": jnp.asarray(state), "image": _pad(policy_images, horizon)} if to_policy
                else jnp.asarray(state),
                actions=jnp.asarray(_pad(actions, horizon)), lengths=jnp.asarray(lengths))
  return SourceData(demos=demos, images={k: _pad(x, horizon) for k, x in images.items()}, metadata=metadata,
                    path=reader.path, split=key_map.split, format=format, file_format=reader.file_format,
                    cameras=tuple(key_map.image_keys), fps=_rate(reader.info().get("fps"), stride))


def load_mixture(specs: Sequence[DatasetSpec], *, min_length: int, domain: str = "",
                 image_size: tuple[int, int] | None = None) -> SourceData:
  """Loads a domain's datasets and joins them into one `SourceData` whose `parts` say which
  episodes came from which dataset and at what share of the samples (weights per sample).

  Every dataset must give the same state, action and image sizes (after its key map): a
  mismatch is refused naming both datasets and the field. One dataset loads as `load` does.
  """
  loaded = [load(s.path, s.key_map, s.format, min_length=min_length, image_size=image_size) for s in specs]
  if len(loaded) == 1:
    return loaded[0]
  first, origin = loaded[0], lambda i: f"{loaded[i].path} [{loaded[i].split}] ({specs[i].name})"
  label = f"{domain} " if domain else ""
  for i, d in enumerate(loaded[1:], 1):
    for what, a, b, key_a, key_b in (("state size", first.obs_size, d.obs_size, specs[0].key_map.state_key,
                                      specs[i].key_map.state_key),
                                     ("action size", first.action_size, d.action_size, specs[0].key_map.action_key,
                                      specs[i].key_map.action_key)):
      if a != b:
        raise DatasetError(f"the {label}datasets differ in {what}: {origin(0)} gives {a} (field {key_a!r}) but "
                           f"{origin(i)} gives {b} (field {key_b!r}); every dataset of a domain must fit one "
                           "policy: set the entries' state_slice / action_slice so that they match")
    shapes = _camera_shapes(first), _camera_shapes(d)
    if shapes[0] != shapes[1]:
      raise DatasetError(f"the {label}datasets differ in images: {origin(0)} gives {shapes[0]} (fields "
                         f"{list(first.cameras)}) but {origin(i)} gives {shapes[1]} (fields {list(d.cameras)}); list "
                         "the same number of cameras, of the same shapes, in the same order, in every entry's "
                         "image_keys")
  horizon = max(int(np.asarray(d.demos.lengths).max()) for d in loaded)
  grow = lambda x: np.pad(np.asarray(x), [(0, 0), (0, horizon - x.shape[1])] + [(0, 0)] * (x.ndim - 2), mode="edge")
  join = lambda *xs: np.concatenate([grow(x) for x in xs])
  obs = jax.tree.map(join, *[d.demos.obs for d in loaded])
  demos = Demos(obs=observations.with_state(obs, jnp.asarray(observations.state_of(obs))),
                actions=jnp.asarray(join(*[d.demos.actions for d in loaded])),
                lengths=jnp.asarray(np.concatenate([np.asarray(d.demos.lengths) for d in loaded])))
  images = {key: np.concatenate([grow(list(d.images.values())[k]) for d in loaded])
            for k, key in enumerate(first.images)}
  rates = {d.fps for d in loaded if d.fps}
  if len(rates) > 1:  # never mixed silently: one domain, one rate
    steps = ", ".join(f"{origin(i)} {d.fps:g}" for i, d in enumerate(loaded) if d.fps)
    raise DatasetError(f"the {label}datasets step at different rates (per second: {steps}); set the entries' "
                       "frame_stride so that they match, or leave one out")
  total = sum(s.weight for s in specs)
  parts = tuple(Part(name=s.name, path=d.path, format=d.format, episodes=d.demos.num_episodes,
                     frames=d.demos.num_frames, share=s.weight / total) for s, d in zip(specs, loaded))
  return SourceData(demos=demos, images=images, metadata=[m for d in loaded for m in d.metadata],
                    path=", ".join(d.path for d in loaded), split=", ".join(sorted({d.split for d in loaded})),
                    format="+".join(dict.fromkeys(d.format for d in loaded)),
                    file_format="+".join(dict.fromkeys(d.file_format for d in loaded)), parts=parts,
                    cameras=first.cameras, fps=rates.pop() if rates else None)


def _rate(fps, stride: int) -> float | None:
  return float(fps) / stride if isinstance(fps, int | float) and fps > 0 else None


def _camera_shapes(d: SourceData) -> list[tuple]:
  """Each camera's per-step frame shape: as read, or as the policy takes it (resized)."""
  if d.images or not d.cameras:
    return [tuple(x.shape[2:]) for x in d.images.values()]
  image = observations.image_of(d.demos.obs)
  return [(image.shape[2], image.shape[3] // len(d.cameras), image.shape[4])] * len(d.cameras)


def load_domains(paths: Mapping[str, str | Sequence[DatasetSpec]], key_maps: Mapping[str, KeyMap] = {}, *,
                 min_length: int, formats: Mapping[str, str] = {}, generated: Mapping[str, tuple[int, int]] = {},
                 generated_by: str = "the MJX task", image_size: tuple[int, int] | None = None,
                 rendered_views: tuple[str, ...] = (), generated_rate: float | None = None) -> dict[str, SourceData]:
  """Loads each domain given by a path (read through `key_maps[domain]`) or by its list of
  `DatasetSpec`s (a mixture), and checks that every domain fits one policy.

  `formats` names a path domain's format (missing or '': detected). `generated` gives
  (obs_size, action_size) of domains whose demos will be generated instead. `image_size`
  (height, width) trains on the datasets' cameras (`load`); the generated domains then render
  `rendered_views`, and every domain must show the policy as many cameras. Domains whose rates
  are known (a dataset's fps after its frame_stride, the generated domains' `generated_rate`)
  must step at the same rate.
  """
  if image_size:  # before any episode is read: a dataset without cameras cannot feed the image policy
    for name, source in paths.items():
      for spec in ([source] if isinstance(source, str) else source):
        keys = key_maps[name].image_keys if isinstance(spec, str) else spec.key_map.image_keys
        if not keys:
          where = f"sources.{name}" + ("" if isinstance(spec, str) or len(source) == 1 else f" entry {spec.name!r}")
          raise DatasetError(f"{where}: the policy takes camera images (observation='image') but image_keys "
                             f"names none for {spec if isinstance(spec, str) else spec.path}; list the "
                             "dataset's cameras in the order of render.views (tools.dataset_info shows them)")
  loaded = {}
  for name, source in paths.items():
    specs = source if not isinstance(source, str) else [
        DatasetSpec(name=name, path=source, format=formats.get(name, ""), key_map=key_maps[name], weight=1.0)]
    loaded[name] = load_mixture(specs, min_length=min_length, domain=name, image_size=image_size)
  specs = {n: (d.obs_size, d.action_size) for n, d in loaded.items()}
  origins = {n: f"{d.path} [{d.split}]" for n, d in loaded.items()}
  for name, spec in generated.items():
    specs[name], origins[name] = spec, generated_by
  v.check_domains_fit(specs, origins)
  rates = {n: (d.fps, origins[n], True) for n, d in loaded.items()}
  rates.update({n: (generated_rate, generated_by, False) for n in generated})
  v.check_rates_fit(rates)
  if image_size:
    cameras = {n: ("has", d.cameras) for n, d in loaded.items()}
    cameras.update({n: ("renders", tuple(rendered_views)) for n in generated})
    v.check_cameras_fit(cameras)
  return loaded


def load_configured(cfg, task_obs_size: int, task_action_size: int,
                    task_views: tuple[str, ...] = (), task_rate: float | None = None) -> dict[str, SourceData]:
  """The domains a co-training config reads from datasets (`cfg.<domain>_data`, or the weighted
  mixture `cfg.sources.<domain>.mixture`).

  Domains without datasets are generated in MJX with the task's sizes (and, for image
  observations, its camera `task_views`) at its control rate `task_rate` (steps per second), so
  a dataset that is read must then fit those; two
  domains must fit each other (after the key maps). Formats and key maps come from
  `cfg.sources` (with the legacy `cfg.rlds` overrides, config.py). With
  `observation='image'` the datasets' cameras are resized to `render.height` x `render.width`.
  """
  specs = datasets(cfg)
  generated = {n: (task_obs_size, task_action_size) for n in ("sim", "real") if n not in specs}
  image_size = (int(cfg.render.height), int(cfg.render.width)) if cfg.get("observation") == "image" else None
  return load_domains(specs, min_length=cfg.chunk, generated=generated,
                      generated_by=f"generated in MJX by task {cfg.task!r}", image_size=image_size,
                      rendered_views=task_views, generated_rate=task_rate)


def eval_skips(pairs: Sequence[str], loaded: Mapping[str, SourceData], task: str,
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


def summary(path: str, format: str | None = None) -> dict[str, Any]:  # pylint: disable=redefined-builtin
  """Episodes and steps per split, and every feature's shape and dtype (tools.dataset_info)."""
  format, reader = open_source(path, format)
  splits = {}
  for split in reader.splits():
    lengths = reader.episode_lengths(split)
    splits[split] = {"episodes": len(lengths), "steps": int(sum(lengths)),
                     "episode_length": {"min": min(lengths, default=0), "max": max(lengths, default=0)}}
  return {"path": reader.path, "format": format, **reader.info(), "file_format": reader.file_format,
          "splits": splits, "features": {"steps": {k: f.describe() for k, f in reader.step_fields().items()},
                                         "episode": {k: f.describe() for k, f in reader.episode_fields().items()}}}
