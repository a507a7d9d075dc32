"""The checks every dataset passes before anything is trained on it, whatever its format.

A reader hands over each episode as plain arrays ({'/'-joined step key: (T, ...) array});
`check_episode` turns them into the policy's float32 state and action vectors and uint8
images, or raises `DatasetError`. Every message names the dataset (its path and split), the
episode index and the field, so a user can find the bad record. Loading checks every episode
before it builds any array, so a bad dataset is refused whole: nothing is half-loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class DatasetError(ValueError):
  """A dataset that cannot be trained on, with the episode and field that make it so."""


def parse_slice(text: str, name: str) -> slice:
  """'' -> all, '2:5' -> slice(2, 5), '3' -> slice(3, 4); Python slice syntax on the last axis."""
  text = str(text).strip()
  if not text:
    return slice(None)
  parts = text.split(":")
  try:
    nums = [int(p) if p.strip() else None for p in parts]
  except ValueError:
    raise DatasetError(f"{name}={text!r} is not a slice; write START:STOP, e.g. '0:3'") from None
  if len(nums) == 1:
    if nums[0] is None:
      raise DatasetError(f"{name}={text!r} is not a slice; write START:STOP, e.g. '0:3'")
    return slice(nums[0], nums[0] + 1 if nums[0] != -1 else None)
  if len(nums) > 3:
    raise DatasetError(f"{name}={text!r} is not a slice; write START:STOP[:STEP]")
  return slice(*nums)


def sliced_size(sl: slice, size: int, name: str, text: str) -> int:
  """Dimensions a slice keeps of a vector of `size`; refuses a slice that reaches outside it."""
  for bound in (sl.start, sl.stop):
    if bound is not None and not -size <= bound <= size:
      raise DatasetError(f"{name}={text!r} reaches outside the field's {size} dimensions")
  kept = len(range(size)[sl])
  if kept == 0:
    raise DatasetError(f"{name}={text!r} keeps none of the field's {size} dimensions")
  return kept


def check_step_keys(where: str, keys: Sequence[str], available: Mapping[str, object]) -> None:
  """Refuses keys the dataset's steps lack (checked once, on the format's feature list)."""
  for key in keys:
    if key not in available:
      raise DatasetError(
          f"{where}: episode 0 (and every other): missing field {key!r}; the steps hold "
          f"{sorted(available)}. Set the key map (--config.sources.<domain>.state_key / action_key / "
          "image_keys) to fields that exist")


def _first_bad(x: np.ndarray) -> str | None:
  bad = ~np.isfinite(x)
  if not bad.any():
    return None
  t = int(np.argwhere(bad)[0][0])
  kind = "NaN" if np.isnan(x[t]).any() else "Inf"
  return f"{kind} at step {t}"


def check_vector(where: str, episode: int, key: str, x: np.ndarray, sl: slice, slice_text: str,
                 slice_name: str) -> np.ndarray:
  """A (T, D) float field -> its (T, D') float32 slice, or a DatasetError naming what is wrong."""
  prefix = f"{where}: episode {episode}, field {key!r}"
  if x.dtype.kind != "f":
    raise DatasetError(f"{prefix}: dtype {x.dtype} does not fit the policy, which takes "
                       "floating-point vectors")
  if x.ndim != 2:
    raise DatasetError(f"{prefix}: each step holds shape {tuple(x.shape[1:])}, but the policy takes "
                       "a flat vector per step (rank 1)")
  sliced_size(sl, x.shape[1], f"{where}: {slice_name}", slice_text)
  bad = _first_bad(x)
  if bad:
    raise DatasetError(f"{prefix}: {bad}")
  return np.asarray(x[:, sl], np.float32)


def check_image(where: str, episode: int, key: str, x: np.ndarray) -> np.ndarray:
  prefix = f"{where}: episode {episode}, field {key!r}"
  if x.dtype != np.uint8:
    raise DatasetError(f"{prefix}: dtype {x.dtype} is not an image's uint8 (an encoded or "
                       "non-image field?)")
  if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
    raise DatasetError(f"{prefix}: each step holds shape {tuple(x.shape[1:])}, not an image "
                       "(height, width, 1/3/4 channels)")
  return x


def check_length(where: str, episode: int, steps: Mapping[str, np.ndarray], min_length: int) -> int:
  lengths = {k: len(v) for k, v in steps.items()}
  length = max(lengths.values(), default=0)
  for key, n in lengths.items():
    if n != length:
      raise DatasetError(f"{where}: episode {episode}, field {key!r}: {n} steps, but other fields "
                         f"have {length}")
  if length == 0:
    raise DatasetError(f"{where}: episode {episode} is empty (0 steps)")
  if length < min_length:
    raise DatasetError(f"{where}: episode {episode} has {length} steps, fewer than the action chunk "
                       f"({min_length}); field 'steps' is too short to train a chunk on")
  return length


def check_same_shape(where: str, episode: int, key: str, shape: tuple, first: tuple) -> None:
  if shape != first:
    raise DatasetError(f"{where}: episode {episode}, field {key!r}: per-step shape {shape} differs "
                       f"from episode 0's {first}")


def check_episode(where: str, episode: int, steps: Mapping[str, np.ndarray], key_map, *, min_length: int,
                  first_shapes: dict[str, tuple]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
  """One episode's raw fields -> (state (T, S), action (T, A), {image key: (T, H, W, C)}).

  `steps` holds every key the key map names; `first_shapes` carries the per-step shapes of
  the first episode across calls, so that every episode of a dataset has the same ones.
  """
  fields = {k: np.asarray(steps[k]) for k in (key_map.state_key, key_map.action_key, *key_map.image_keys)}
  check_length(where, episode, fields, min_length)
  for key, x in fields.items():
    check_same_shape(where, episode, key, x.shape[1:], first_shapes.setdefault(key, x.shape[1:]))
  state = check_vector(where, episode, key_map.state_key, fields[key_map.state_key],
                       parse_slice(key_map.state_slice, "state_slice"), key_map.state_slice, "state_slice")
  action = check_vector(where, episode, key_map.action_key, fields[key_map.action_key],
                        parse_slice(key_map.action_slice, "action_slice"), key_map.action_slice, "action_slice")
  images = {k: check_image(where, episode, k, fields[k]) for k in key_map.image_keys}
  return state, action, images


def check_domains_fit(specs: Mapping[str, tuple[int, int]], sources: Mapping[str, str]) -> None:
  """All domains must give the policy the same observation and action sizes.

  `specs` maps a domain name to (obs_size, action_size) after the key map; `sources` says
  where each came from (a dataset path or the MJX task), for the message.
  """
  names = list(specs)
  for other in names[1:]:
    (o0, a0), (o1, a1) = specs[names[0]], specs[other]
    if a0 != a1:
      raise DatasetError(
          f"action dimension differs between {names[0]} (actions of shape ({a0},), from "
          f"{sources[names[0]]}) and {other} (actions of shape ({a1},), from {sources[other]}) and no "
          "mapping is given: set --config.sources.<domain>.action_slice so both have the same size")
    if o0 != o1:
      raise DatasetError(
          f"observation (state) size differs between {names[0]} (states of shape ({o0},), from "
          f"{sources[names[0]]}) and {other} (states of shape ({o1},), from {sources[other]}): set "
          "--config.sources.<domain>.state_slice so both have the same size")


def _camera_name(key: str) -> str:
  """A camera key's last part: 'observation.images.front' -> 'front', 'obs/agentview_image' -> 'agentview_image'."""
  return key.replace("/", ".").rsplit(".", 1)[-1]


def check_cameras_fit(cameras: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
  """Every domain must show the policy the same number of cameras, in the same order.

  `cameras` maps a domain to (verb, camera names): ("has", dataset image keys) or ("renders",
  the MJX task's views). Names differ between datasets and tasks, so the order is checked only
  where a camera's name says which view it is (a key ending in a rendered view's name).
  """
  names = list(cameras)
  describe = lambda n: (f"{n} {cameras[n][0]} {len(cameras[n][1])} camera{'s' if len(cameras[n][1]) != 1 else ''} "
                        f"({', '.join(cameras[n][1])})")
  for other in names[1:]:
    a, b = cameras[names[0]][1], cameras[other][1]
    if len(a) != len(b):
      raise DatasetError(f"{describe(names[0])}, {describe(other)}: both domains must show the policy the same "
                         "cameras; set sources.<domain>.image_keys (dataset cameras, in view order) or render.views")
    short_a, short_b = [_camera_name(k) for k in a], [_camera_name(k) for k in b]
    for i, (x, y) in enumerate(zip(short_a, short_b)):
      if x != y and x in short_b and y in short_a:
        raise DatasetError(f"{describe(names[0])}, {describe(other)}: camera {i + 1} is {x!r} in one and {y!r} in "
                           "the other; list image_keys in the order of render.views")


def check_strided_length(where: str, episode: int, length: int, stride: int, min_length: int) -> None:
  if length < min_length:
    raise DatasetError(f"{where}: episode {episode} keeps {length} steps at frame_stride={stride}, fewer than "
                       f"the action chunk ({min_length}); field 'steps' is too short to train a chunk on")


def check_rates_fit(rates: Mapping[str, tuple[float | None, str, bool]], tolerance: float = 0.02) -> None:
  """Every domain must step at the same rate, where both rates are known.

  `rates` maps a domain to (steps per second or None, where its data come from, whether a
  frame_stride can lower it: a dataset's can, an MJX task's control rate cannot).
  """
  known = {n: r for n, r in rates.items() if r[0]}
  names = list(known)
  for other in names[1:]:
    (a, origin_a, _), (b, origin_b, _) = known[names[0]], known[other]
    if abs(a - b) <= tolerance * max(a, b):
      continue
    fast, slow = (names[0], other) if a > b else (other, names[0])
    ratio = known[fast][0] / known[slow][0]
    way = (f"set sources.{fast}.frame_stride={round(ratio)} (keeps one step in {round(ratio)} of {fast}'s recording)"
           if known[fast][2] and abs(ratio - round(ratio)) < tolerance * ratio else
           "record the data at the same rate (a frame_stride keeps every k-th step of a dataset: only a whole "
           "multiple of the other rate can be matched)")
    raise DatasetError(f"{names[0]} steps at {a:g} per second ({origin_a}), {other} at {b:g} per second "
                       f"({origin_b}): one policy would see time pass at two speeds; {way}")
