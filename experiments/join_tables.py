r"""One method table from tables that ran the same experiment for different methods.

  python -m experiments.join_tables OUT_DIR A/method_table.json B/method_table.json [...]

A method table grows in parts when its cells take hours: seven methods in one workdir, three
more later in another (`--config.methods=...` differs, so gdacot.sweep keeps them apart).
This joins their cells into one record. The claims (uot_joint - cotrain and - mmd, cfg_adda
minus the best other method, Pearson r(W2, success) over the methods) are recomputed over all of
them by experiments.method_table, as if one command had run every cell. Writes
OUT_DIR/method_table.json, .md and .png (an existing non-empty OUT_DIR is refused).

Refused, with `error: ...` and exit code 2, before anything is written: tables whose configs
differ in anything but `methods` (gaps, seeds, the cotrain variant and overrides, evaluation
pairs), a (gap, method) cell that two tables both hold, and cells that trained on different
numbers of demo frames.

Arguments:
  OUT_DIR         an empty or missing directory for the joined method_table.json, .md and .png
  TABLE.json      two or more method_table.json files of the same experiment
  -h, --help      this text
"""

from __future__ import annotations

import json
import os
import sys

import ml_collections

from experiments import method_table
from gdacot import sweep

USAGE = "usage: python -m experiments.join_tables OUT_DIR TABLE.json TABLE.json [...]"


class JoinError(ValueError):
  pass


def _read(path: str) -> dict:
  try:
    with open(path) as f:
      record = json.load(f)
  except (OSError, ValueError) as e:
    raise JoinError(f"cannot read {path}: {e}") from None
  if not isinstance(record, dict) or record.get("experiment") != method_table.NAME or "cells" not in record:
    raise JoinError(f"{path} is not a {method_table.NAME}.json (no experiment {method_table.NAME!r} with cells)")
  return record


def join(records: list[dict], paths: list[str]) -> tuple[dict, dict]:
  """(config, record) of one method table holding every cell of `records`."""
  first = records[0]["config"]
  rest = lambda cfg: {k: v for k, v in cfg.items() if k != "methods"}
  for record, path in zip(records[1:], paths[1:]):
    if rest(record["config"]) != rest(first):
      a, b = rest(first), rest(record["config"])
      diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
      raise JoinError(f"{path} ran another experiment than {paths[0]}: its config differs in "
                      + ", ".join(f"{k} ({a.get(k)!r} there, {b.get(k)!r} here)" for k in diff))
  cells, owner = [], {}
  for record, path in zip(records, paths):
    for cell in record["cells"]:
      key = (cell["labels"].get("gap"), cell["labels"]["method"])
      if key in owner:
        raise JoinError(f"the cell {key[1]} ({key[0]} gap) is in {owner[key]} and in {path}")
      owner[key] = path
      cells.append(cell)
  frames = {json.dumps(c.get("demos"), sort_keys=True) for c in cells if c.get("demos")}
  if len(frames) > 1:
    raise JoinError(f"the cells trained on different demos (frames): {sorted(frames)}")
  methods = []
  for record in records:
    methods += [m for m in record["config"]["methods"] if m not in methods]
  config = dict(first, methods=methods)
  cfg = ml_collections.ConfigDict(config)
  record = {
      **{k: v for k, v in records[0].items() if k not in ("config", "cells", "claims", "outputs")},
      "config": config, "cells": cells,
      # Each table's own wall time counts only its last invocation (a rerun skips finished
      # cells); the cells' times add up to the compute the joined table took.
      "wall_time_s": sum(c.get("wall_time_s") or 0.0 for c in cells),
      "cells_run": len(cells), "cells_skipped": 0,
      "joined_from": [os.path.abspath(p) for p in paths],
  }
  record["claims"] = method_table.claims(cfg, cells)
  return cfg, record


def main(argv: list[str]) -> int:
  args = argv[1:]
  if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in args):
    print(__doc__)
    return 0
  if len(args) < 3 or any(a.startswith("-") for a in args):
    print(f"error: expected an output directory and at least two tables\n{USAGE}", file=sys.stderr)
    return 2
  out, paths = args[0], args[1:]
  try:
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
      raise JoinError(f"{out} exists and is not an empty directory; refusing to write into it")
    records = [_read(p) for p in paths]
    cfg, record = join(records, paths)
  except JoinError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  os.makedirs(out, exist_ok=True)
  name = method_table.NAME
  sweep.write_outputs(out, name, record, method_table.markdown(cfg, record),
                     {f"{name}.png": method_table.plot(cfg, record)})
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
