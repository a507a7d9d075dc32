"""A workdir belongs to one run: resume it when the config matches, refuse otherwise."""

from __future__ import annotations

import json
import os

CONFIG_FILE = "config.json"
# Config blocks that may change between a run and its resumption (they do not affect training).
RESUMABLE_DIFFERENCES = ("eval",)


class WorkdirError(ValueError):
  pass


def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flatten(v, key + "."))
    else:
      out[key] = v
  return out


def prepare_workdir(workdir: str, config: dict) -> bool:
  """Creates the workdir, or checks that it holds this same run. Returns True to resume."""
  path = os.path.join(workdir, CONFIG_FILE)
  config = json.loads(json.dumps(config))  # normalise tuples to lists
  if os.path.exists(path):
    try:
      with open(path) as f:
        saved = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
      raise WorkdirError(f"{path} is unreadable ({e}); refusing to touch {workdir}") from e
    from gdacot.train.config import ConfigError, complete_saved_config  # pylint: disable=g-import-not-at-top
    try:  # a run started by an older gdacot lacks the fields added since: they take their defaults
      saved = complete_saved_config(saved)
    except ConfigError as e:
      raise WorkdirError(f"{path} is not a config this version can resume ({e}); refusing to touch {workdir}") from e
    a, b = _flatten(saved), _flatten(config)
    diff = sorted(
        k for k in set(a) | set(b)
        if a.get(k) != b.get(k) and k.split(".")[0] not in RESUMABLE_DIFFERENCES
    )
    if diff:
      shown = ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in diff[:8])
      raise WorkdirError(
          f"workdir {workdir} holds another run (config differs in {shown}). "
          "Use a new --workdir, or the same config to resume."
      )
    return True
  if os.path.isdir(workdir) and os.listdir(workdir):
    raise WorkdirError(
        f"workdir {workdir} is not empty and has no {CONFIG_FILE}: it is not a gdacot run; "
        "refusing to write into it"
    )
  os.makedirs(workdir, exist_ok=True)
  with open(path, "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)
  return False
