"""A sweep's workdir belongs to one experiment and config: WORKDIR/experiment.json says which.

A new or empty directory is claimed (the marker written); one holding this experiment with this
config is resumed; anything else is refused and left untouched. The comparison of configs is
gdacot.train.workdir's, as a run's own workdir is checked. An experiment may name
`summary_fields`: config fields only its summary reads (a choice rule, say), never a cell. A
change there is accepted, so finished cells are summarised again under it without training
anything, and the marker is rewritten to the config the new summary used.
"""

from __future__ import annotations

import json
import os

from gdacot import io
from gdacot.sweep.cells import GridError
from gdacot.train.workdir import WorkdirError, check_posix_path, differences

MARKER = "experiment.json"  # names the experiment and config a workdir holds


def _marker(name: str, cfg) -> dict:
  """What experiment.json holds: the experiment's name and its config, as JSON reads it back."""
  return json.loads(json.dumps({"experiment": name, "config": cfg.to_dict()}))


def check_root(workdir: str) -> None:
  """A sweep's root is a POSIX path, as every cell's workdir under it must be (GridError)."""
  try:
    check_posix_path(workdir)  # a gs:// root: every cell's lock and atomic writes would fail
  except WorkdirError as e:
    raise GridError(str(e)) from None


def check_claim(workdir: str, name: str, cfg, summary_fields=()) -> bool:
  """True when the workdir holds this experiment with this config (up to `summary_fields`),
  False when it is new or empty; GridError for anything else. Writes nothing."""
  check_root(workdir)
  mine = _marker(name, cfg)
  marker = os.path.join(workdir, MARKER)
  if os.path.isfile(marker):
    with open(marker) as f:
      theirs = json.load(f)
    if theirs.get("experiment") != name:
      raise GridError(f"workdir {workdir} holds experiment {theirs.get('experiment')!r}, not {name!r}; "
                      "use a new --workdir")
    saved, given = theirs.get("config", {}), mine["config"]
    diff = [f"{k}: {there!r} there, {here!r} here"
            for k, there, here in differences(saved, given, ignore=summary_fields)]
    if diff:
      raise GridError(f"workdir {workdir} holds {name} results of a different config (differs in: "
                      f"{', '.join(diff)}); rerun with that config to resume it, or use a new --workdir")
    return True
  if os.path.exists(workdir) and (not os.path.isdir(workdir) or os.listdir(workdir)):
    raise GridError(f"workdir {workdir} exists, is not empty and holds no {MARKER}: not an experiment "
                    "workdir; refusing to write into it (use a new --workdir)")
  return False


def claim_workdir(workdir: str, name: str, cfg, summary_fields=()) -> bool:
  """Creates the workdir with its marker, or accepts one holding this experiment with this
  config up to `summary_fields` (returns True: resuming; the marker then holds this config).
  Anything else is refused, and nothing is written."""
  if check_claim(workdir, name, cfg, summary_fields):
    update_marker(workdir, name, cfg)
    return True
  os.makedirs(workdir, exist_ok=True)
  io.write_json(os.path.join(workdir, MARKER), _marker(name, cfg))
  return False


def update_marker(workdir: str, name: str, cfg) -> None:
  """Rewrites the marker of a claimed workdir where its summary fields changed (atomic; a marker
  that already holds this config is left as it is)."""
  path = os.path.join(workdir, MARKER)
  with open(path) as f:
    if json.load(f) == _marker(name, cfg):
      return
  io.write_json(path, _marker(name, cfg))
