"""The data-source block of the co-training config, its checks, and the old `rlds.*` names.

The config reads (paths stay where they were: `real_data`, `sim_data`; "" generates in MJX):

  sources.<domain>.format        "" detects the format from the directory; else a registered name
  sources.<domain>.split         and the other key-map fields (base.KeyMap): state_key,
                                 action_key, image_keys, state_slice, action_slice, max_episodes

Legacy alias. Before the registry the key map lived at `rlds.<domain>.<field>`, and the README
shows `--config.rlds.sim.split=val`. That block stays, every field unset (None); a field set
there overrides `sources.<domain>.<field>`. `apply_legacy_rlds` is the one place that resolves
it: it moves each set field into `sources`, resets it to None and prints a deprecation note,
so that the config a run saves and compares on resume holds the key map in one place only.
`configured_sources` reads the same resolution without changing the config (for checks).
`upgrade_saved_config` turns a config.json written before this change into the new shape.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import ml_collections
from ml_collections.config_dict import placeholder

from gdacot.data.sources.base import KeyMap
from gdacot.data.sources.registry import SOURCES, detect_format
from gdacot.data.sources.validate import DatasetError, parse_slice

DOMAINS = ("sim", "real")
# The key-map fields, their types and defaults (those of base.KeyMap).
KEY_MAP_FIELDS: dict[str, type] = {"split": str, "state_key": str, "action_key": str, "image_keys": tuple,
                                   "state_slice": str, "action_slice": str, "max_episodes": int}


def sources_config() -> ml_collections.ConfigDict:
  """The `sources` block: per domain, the format and the key map, with their defaults."""
  defaults = KeyMap()

  def domain():
    return ml_collections.ConfigDict({
        "format": "",  # "" detects it from the directory; else a registered name, e.g. "rlds"
        "split": defaults.split,
        "state_key": defaults.state_key,  # '/'-joined path inside a step
        "action_key": defaults.action_key,
        "image_keys": defaults.image_keys,  # read and checked; the MLP encoder cannot consume images (refused)
        "state_slice": defaults.state_slice,  # START:STOP on the last axis, e.g. "0:3"; "" keeps all
        "action_slice": defaults.action_slice,
        "max_episodes": defaults.max_episodes,  # 0: every episode of the split
    })

  return ml_collections.ConfigDict({name: domain() for name in DOMAINS})


def legacy_rlds_config() -> ml_collections.ConfigDict:
  """The old `rlds` block, every key-map field unset: a set one overrides `sources` (deprecated)."""
  return ml_collections.ConfigDict(
      {name: {field: placeholder(kind) for field, kind in KEY_MAP_FIELDS.items()} for name in DOMAINS})


def _legacy_overrides(cfg) -> list[tuple[str, str, Any]]:
  """(domain, field, value) of every `rlds.<domain>.<field>` that is set."""
  legacy = cfg.get("rlds") or {}
  return [(name, field, legacy[name][field]) for name in DOMAINS if name in legacy
          for field in KEY_MAP_FIELDS if legacy[name].get(field) is not None]


def configured_sources(cfg) -> dict[str, dict[str, Any]]:
  """Per domain, the effective `sources` fields (format and key map), legacy overrides applied."""
  out = {name: dict(cfg.sources[name]) for name in DOMAINS}
  for name, field, value in _legacy_overrides(cfg):
    out[name][field] = value
  return out


def apply_legacy_rlds(cfg) -> ml_collections.ConfigDict:
  """Moves every set `rlds.<domain>.<field>` into `sources` (in place), with a deprecation note.

  Call it once, on the config as the user gave it, before checking or saving it. Running it
  again changes nothing. Returns `cfg`.
  """
  for name, field, value in _legacy_overrides(cfg):
    cfg.sources[name][field] = value
    cfg.rlds[name][field] = None
    print(f"note: rlds.{name}.{field} is the old name of sources.{name}.{field}; set it as "
          f"--config.sources.{name}.{field}={value!r} (the rlds.* names will go)")
  return cfg


def check_sources(cfg, problems: list[str]) -> None:
  """Dataset paths, formats and key maps, appended to `problems`; the data themselves are
  checked when they are read (DatasetError), still before the workdir is touched."""
  # Imported here: the data package sits below the models in the import chain.
  from gdacot.models import ENCODERS  # pylint: disable=g-import-not-at-top

  for name, fields in configured_sources(cfg).items():
    path, fmt = str(cfg.get(f"{name}_data") or ""), str(fields["format"] or "")
    where = f"sources.{name}"
    if fmt and fmt not in SOURCES:
      problems.append(f"{where}.format: unknown format {fmt!r}; known: {sorted(SOURCES)} "
                      "('' detects it from the directory)")
    if path and not os.path.isdir(os.path.expanduser(path)):
      problems.append(f"{name}_data: {path!r} is not a directory")
    elif path and not fmt:
      try:
        detect_format(path)
      except DatasetError as e:
        problems.append(f"{name}_data: {e}")
    if not str(fields["split"] or ""):
      problems.append(f"{where}.split must name a split, e.g. 'train'")
    if not isinstance(fields["max_episodes"], int) or fields["max_episodes"] < 0:
      problems.append(f"{where}.max_episodes must be an integer >= 0 (0: all), got {fields['max_episodes']!r}")
    for field in ("state_slice", "action_slice"):
      try:
        parse_slice(fields[field], f"{where}.{field}")
      except DatasetError as e:
        problems.append(str(e))
    # The trainer feeds the encoder a flat state vector; images would be dropped silently.
    encoder = ENCODERS.get(cfg.model.encoder)
    if path and tuple(fields["image_keys"] or ()) and not getattr(encoder, "consumes_images", False):
      problems.append(f"{where}.image_keys={tuple(fields['image_keys'])}: encoder {cfg.model.encoder!r} "
                      "takes a flat state vector and cannot consume images; leave image_keys empty "
                      "(tools.dataset_info and gdacot.data.sources.load read and check images already)")


def upgrade_saved_config(saved: dict) -> dict:
  """A config.json dict written before the `sources` block -> the same run in the new shape.

  Old: rlds.<domain>.<field> holds the key map. New: sources.<domain> holds it (format ""),
  rlds.<domain>.<field> is None. A dict already in the new shape (or older than the rlds
  block) comes back unchanged, as a copy.
  """
  out = copy.deepcopy(saved)
  if "sources" in out or not isinstance(out.get("rlds"), dict):
    return out
  old = out["rlds"]
  out["sources"] = {name: {"format": "", **old[name]} for name in old}
  out["rlds"] = {name: {field: None for field in KEY_MAP_FIELDS} for name in old}
  return out
