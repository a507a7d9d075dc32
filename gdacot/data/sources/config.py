"""The data-source block of the co-training config, its checks, and the old `rlds.*` names.

The config reads (paths stay where they were: `real_data`, `sim_data`; "" generates in MJX):

  sources.<domain>.format        "" detects the format from the directory; else a registered name
  sources.<domain>.split         and the other key-map fields (base.KeyMap): state_key,
                                 action_key, image_keys, state_slice, action_slice, max_episodes,
                                 frame_stride
  sources.<domain>.val_episodes  the domain's last N episodes held out to score checkpoints
  sources.<domain>.mixture       () reads `<domain>_data` alone; else several datasets, each a dict
                                 {"path": ..., "weight": ..., and optionally "name", "format" and any
                                 key-map field, which default to sources.<domain>'s}

Mixture weights are PER SAMPLE (as octo's sample_weights): dataset i supplies a share
weight_i / sum(weights) of the domain's samples in every batch, whatever its size (a dataset
of 10 episodes with weight 0.5 supplies half the samples, as one of 10000 would). `datasets`
resolves either form into a list of `DatasetSpec`s, the one place that does.

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
import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any

import ml_collections
from ml_collections.config_dict import placeholder

from gdacot.data.sources.base import KeyMap
from gdacot.data.sources.registry import SOURCES, detect_format
from gdacot.data.sources.validate import DatasetError, parse_slice

DOMAINS = ("sim", "real")
# The key-map fields and their types: base.KeyMap's, listed there only.
KEY_MAP_FIELDS: dict[str, type] = {f.name: type(f.default) for f in dataclasses.fields(KeyMap)}


def sources_config() -> ml_collections.ConfigDict:
  """The `sources` block: per domain, the format and the key map (base.KeyMap's fields and
  defaults), the mixture and the held-out episodes."""

  def domain():
    return ml_collections.ConfigDict({
        "format": "",  # "" detects it from the directory; else a registered name, e.g. "rlds"
        **dataclasses.asdict(KeyMap()),
        # () reads <domain>_data alone; else a weighted mixture: ({"path": ..., "weight": ...}, ...)
        "mixture": (),
        # The domain's last N episodes are held out of training and score checkpoints
        # (val/<domain>/bc_loss, val/<domain>/action_mse; gdacot/train/validation.py).
        "val_episodes": 0,
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


# What a mixture entry may hold besides the key-map fields.
ENTRY_FIELDS = ("path", "weight", "name", "format")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """One dataset a domain reads: where, in which format, through which key map, at what weight."""

  name: str  # unique within the domain: what its logged share is called (share/<domain>/<name>)
  path: str
  format: str  # "" detects it
  key_map: KeyMap
  weight: float  # per sample, before normalising over the domain's datasets


def _default_name(path: str) -> str:
  """A dataset's name from its path: the last component, with the one above a version
  directory (bridge_dataset/1.0.0 -> bridge_dataset), and no file suffix."""
  parts = os.path.normpath(os.path.expanduser(str(path))).split(os.sep)
  name = parts[-1]
  if re.fullmatch(r"v?\d+(\.\d+)*", name) and len(parts) > 1:
    name = parts[-2]
  return os.path.splitext(name)[0] if "." in name and not name.startswith(".") else name


def _entry_problems(where: str, entry: Any) -> list[str]:
  if not isinstance(entry, Mapping):
    return [f"{where} must be a dict such as {{'path': ..., 'weight': ...}}, got {entry!r}"]
  problems = []
  unknown = sorted(set(entry) - set(ENTRY_FIELDS) - set(KEY_MAP_FIELDS))
  if unknown:
    problems.append(f"{where}: unknown field(s) {unknown}; an entry holds {list(ENTRY_FIELDS)} and the key-map "
                    f"fields {list(KEY_MAP_FIELDS)}")
  if not str(entry.get("path") or ""):
    problems.append(f"{where}: 'path' must name a dataset")
  weight = entry.get("weight")
  if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
    problems.append(f"{where}: 'weight' must be a positive number (a share of the domain's samples), got {weight!r}")
  return problems


def datasets(cfg, problems: list[str] | None = None) -> dict[str, list[DatasetSpec]]:
  """Per domain that reads datasets, its datasets: `<domain>_data` alone (weight 1), or the
  entries of `sources.<domain>.mixture`. Domains generated in MJX are left out.

  Malformed entries are appended to `problems` (and left out) when it is given, else they
  raise DatasetError.
  """
  out, found = {}, []
  for name, fields in configured_sources(cfg).items():
    path, mixture = str(cfg.get(f"{name}_data") or ""), tuple(fields.get("mixture") or ())
    base = {k: fields[k] for k in ("format", *KEY_MAP_FIELDS)}
    if path and mixture:
      found.append(f"{name}_data and sources.{name}.mixture are both set: give the domain's datasets in one "
                   f"place (a one-entry mixture, or {name}_data alone)")
      continue
    entries = [{"path": path, "weight": 1.0}] if path else list(mixture)
    specs, names = [], set()
    for i, entry in enumerate(entries):
      bad = _entry_problems(f"sources.{name}.mixture[{i}]", entry) if mixture else []
      if bad:
        found += bad
        continue
      merged = {**base, **{k: v for k, v in entry.items() if k in base}}
      label = str(entry.get("name") or _default_name(entry["path"]))
      unique, n = label, 2
      while unique in names:
        unique, n = f"{label}#{n}", n + 1
      names.add(unique)
      specs.append(DatasetSpec(name=unique, path=str(entry["path"]), format=str(merged["format"] or ""),
                               key_map=KeyMap.from_config(merged), weight=float(entry["weight"])))
    if specs:
      out[name] = specs
  if found and problems is None:
    raise DatasetError("; ".join(found))
  if problems is not None:
    problems += found
  return out


def reads_datasets(cfg) -> bool:
  """Whether either domain reads a dataset instead of generating demos in MJX."""
  return any(str(cfg.get(f"{name}_data") or "") or tuple(cfg.sources[name].get("mixture") or ())
             for name in DOMAINS)


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
  observation = cfg.get("observation", "state")
  read = datasets(cfg, problems)
  for name, fields in configured_sources(cfg).items():
    held = fields.get("val_episodes", 0)
    if isinstance(held, bool) or not isinstance(held, int) or held < 0:
      problems.append(f"sources.{name}.val_episodes must be an integer >= 0, got {held!r}")
    elif held and tuple(fields.get("mixture") or ()):
      problems.append(f"sources.{name}.val_episodes={held} with a mixture: held-out episodes are taken from one "
                      f"dataset; hold them out of {name}_data alone, or keep a split for validation")
    elif held and name not in read and held >= cfg.data[f"num_{name}_demos"]:
      problems.append(f"sources.{name}.val_episodes={held} leaves no {name} demo to train on "
                      f"(data.num_{name}_demos={cfg.data[f'num_{name}_demos']})")
  for name, fields in configured_sources(cfg).items():
    if name not in read:  # generated in MJX; the key map is still checked (a later <domain>_data uses it)
      _check_dataset("", str(fields["format"] or ""), fields, f"sources.{name}", f"{name}_data", observation,
                     problems)
      continue
    mixture = bool(tuple(fields.get("mixture") or ()))
    for i, spec in enumerate(read[name]):
      where = f"sources.{name}.mixture[{i}]" if mixture else f"sources.{name}"
      _check_dataset(spec.path, spec.format, dataclasses.asdict(spec.key_map), where,
                     f"{where}.path" if mixture else f"{name}_data", observation, problems)


def _check_dataset(path: str, fmt: str, fields: Mapping[str, Any], where: str, origin: str, observation: str,
                   problems: list[str]) -> None:
  """One dataset's path, format and key map, appended to `problems`."""
  if fmt and fmt not in SOURCES:
    problems.append(f"{where}.format: unknown format {fmt!r}; known: {sorted(SOURCES)} "
                    "('' detects it from the directory)")
  if path and not os.path.exists(os.path.expanduser(path)):
    problems.append(f"{origin}: {path!r} does not exist (give a dataset directory, or a robomimic .hdf5 file)")
  elif path and not fmt:
    try:
      detect_format(path)
    except DatasetError as e:
      problems.append(f"{origin}: {e}")
  if not str(fields["split"] or ""):
    problems.append(f"{where}.split must name a split, e.g. 'train'")
  if not isinstance(fields["max_episodes"], int) or fields["max_episodes"] < 0:
    problems.append(f"{where}.max_episodes must be an integer >= 0 (0: all), got {fields['max_episodes']!r}")
  stride = fields.get("frame_stride", 1)
  if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
    problems.append(f"{where}.frame_stride must be an integer >= 1 (1: every step), got {stride!r}")
  for field in ("state_slice", "action_slice"):
    try:
      parse_slice(fields[field], f"{where}.{field}")
    except DatasetError as e:
      problems.append(str(e))
  # A state policy would drop the cameras silently.
  if path and tuple(fields["image_keys"] or ()) and observation != "image":
    problems.append(f"{where}.image_keys={tuple(fields['image_keys'])}: observation={observation!r} trains on "
                    "the state vector alone; set observation='image' (the :image config variant) to train on "
                    "the cameras, or leave image_keys empty")


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
  out["sources"] = {name: {"format": "", **old[name], "mixture": []} for name in old}
  out["rlds"] = {name: {field: None for field in KEY_MAP_FIELDS} for name in old}
  return out
