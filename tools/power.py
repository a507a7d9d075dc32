r"""How many seeds a method comparison needs, from the spread of a measured method table.

  python -m tools.power experiments/results/method_table_physics/method_table.json
  python -m tools.power TABLE.json [TABLE2.json ...] --a=uot_joint --b=cotrain --delta=0.10 \
      --pairs=real:ood,real:in [--alpha=0.05 --power=0.8] [--out=power.json]
  python -m tools.power SEEDS_0_4.json SEEDS_5_15.json --pool   # one table run in parts

With --pool the tables are one experiment run in parts (the same cells, other seeds, e.g.
`--config.seed=5 --config.num_seeds=11` after seeds 0-4): each cell's per-seed rates are
joined, and a seed that two tables both hold is refused.

For each table, gap and evaluation pair holding both methods: the per-seed differences a - b
(paired by seed, as the tables' claims are; cells a rerun skipped count, their results kept), their mean and standard deviation, and the seeds a
two-sided paired t-test needs to detect a true difference of `delta` with the given power
(`gdacot.stats.seeds_to_detect`). Prints a Markdown table; --out also writes it as JSON (an
existing file is refused). Exit code 2 with `error: ...` on a bad flag or an unreadable table.

Arguments:
  TABLE.json          one or more method_table.json files (experiments.method_table's)
  --a=METHOD          the method compared (default uot_joint)
  --b=METHOD          the method it is compared against (default cotrain)
  --delta=D           the true difference in success rate to detect (default 0.10)
  --pairs=P,...       evaluation pairs domain:region (default real:ood,real:in)
  --alpha=A           the test's level (default 0.05)
  --power=P           the power wanted (default 0.8)
  --out=FILE.json     also write the result as JSON (an existing file is refused)
  --pool              the tables are one experiment in parts: join their seeds
  -h, --help          this text
"""

from __future__ import annotations

import json
import os
import statistics
import sys

from gdacot import io, stats

USAGE = ("usage: python -m tools.power TABLE.json [...] [--a=uot_joint] [--b=cotrain] [--delta=0.10] "
         "[--pairs=real:ood,real:in] [--alpha=0.05] [--power=0.8] [--out=FILE.json] [--pool]")
DEFAULTS = {"a": "uot_joint", "b": "cotrain", "delta": "0.10", "pairs": "real:ood,real:in", "alpha": "0.05",
            "power": "0.8", "out": "", "pool": False}


def rows_of(record: dict, a: str, b: str, pairs: list[str], delta: float, alpha: float, power: float) -> list[dict]:
  """One row per (gap, pair) of a method_table record in which both methods ran."""
  by_cell = {(c["labels"].get("gap"), c["labels"]["method"]): c for c in record["cells"] if c.get("success")}
  rows = []
  for gap in sorted({g for g, _ in by_cell}, key=str):
    if (gap, a) not in by_cell or (gap, b) not in by_cell:
      continue
    for pair in pairs:
      sa, sb = by_cell[(gap, a)]["success"].get(pair), by_cell[(gap, b)]["success"].get(pair)
      if sa is None or sb is None:
        continue
      diff = stats.paired_difference(dict(zip(sa["seeds"], sa["per_seed"])), dict(zip(sb["seeds"], sb["per_seed"])))
      d = diff["per_seed_diff"]
      sd = statistics.stdev(d) if len(d) > 1 else None
      # No spread (every seed the same difference, e.g. both saturated at 1.0) says nothing of
      # the noise: no count is given for it.
      needed = None if not sd else stats.seeds_to_detect(sd, delta, alpha, power)
      rows.append({"gap": gap, "pair": pair, "seeds": diff["seeds"], "mean_diff": diff["mean_diff"],
                   "ci95": diff["ci95"], "sd_diff": sd, "seeds_needed": needed, "verdict": diff["verdict"]})
  return rows


def pool(records: list[dict]) -> dict:
  """One method_table record from several runs of the same cells on disjoint seeds."""
  cells = {}
  for record in records:
    for c in record["cells"]:
      if not c.get("success"):
        continue
      key = (c["labels"].get("gap"), c["labels"]["method"])
      merged = cells.setdefault(key, {"labels": c["labels"], "success": {}})
      for pair, s in c["success"].items():
        seeds = merged["success"].setdefault(pair, {"seeds": [], "per_seed": []})
        twice = sorted(set(seeds["seeds"]) & set(s["seeds"]))
        if twice:
          raise ValueError(f"seed(s) {twice} of {key[1]} ({key[0]} gap, {pair}) are in two tables")
        seeds["seeds"] += s["seeds"]
        seeds["per_seed"] += s["per_seed"]
  return {"cells": list(cells.values())}


def main(argv: list[str]) -> int:
  if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv):
    print(__doc__)
    return 0
  flags, tables = dict(DEFAULTS), []
  for arg in argv:
    if arg.startswith("--"):
      name, eq, value = arg[2:].partition("=")
      if name == "pool":  # a switch: --pool, never --pool=...
        if eq:
          return _error(f"--pool takes no value, got {arg!r}")
        flags["pool"] = True
      elif name in flags and eq:
        flags[name] = value
      else:
        return _error(f"unknown flag {arg!r}")
    else:
      tables.append(arg)
  if not tables:
    return _error("name at least one method_table JSON")
  try:
    delta, alpha, power = float(flags["delta"]), float(flags["alpha"]), float(flags["power"])
  except ValueError as e:
    return _error(f"--delta, --alpha and --power take numbers: {e}")
  if not (delta > 0 and 0 < alpha < 1 and 0 < power < 1):
    return _error(f"need delta > 0 and alpha, power in (0, 1); got {delta}, {alpha}, {power}")
  pairs = [p for p in flags["pairs"].split(",") if p]
  if flags["out"] and os.path.exists(flags["out"]):
    return _error(f"{flags['out']} exists; choose another --out")
  result = {"a": flags["a"], "b": flags["b"], "delta": delta, "alpha": alpha, "power": power, "tables": []}
  records = []
  for path in tables:
    try:
      with open(path) as f:
        records.append(json.load(f))
      rows = rows_of(records[-1], flags["a"], flags["b"], pairs, delta, alpha, power)
    except (OSError, ValueError, KeyError, TypeError) as e:
      return _error(f"{path} is not a readable method_table JSON: {e!r}")
    if not flags["pool"]:
      result["tables"].append({"path": path, "rows": rows})
  if flags["pool"]:
    try:
      rows = rows_of(pool(records), flags["a"], flags["b"], pairs, delta, alpha, power)
    except (ValueError, KeyError, TypeError) as e:
      return _error(f"cannot pool the tables: {e!r}")
    result["tables"].append({"path": " + ".join(tables), "rows": rows})
  print(markdown(result))
  if flags["out"]:
    try:
      io.write_json(flags["out"], result, overwrite=False)
    except OSError as e:  # appeared meanwhile, or an unwritable directory
      return _error(f"cannot write {flags['out']}: {e}")
  return 0


def markdown(result: dict) -> str:
  lines = [f"{result['a']} - {result['b']}: seeds for a two-sided paired t-test (alpha {result['alpha']}) to detect "
           f"a difference of {result['delta']:.2f} with power {result['power']}", "",
           "| table | gap | pair | seeds | mean diff [95% CI] | sd of diffs | seeds needed |", "|---|---|---|---|---|---|---|"]
  for table in result["tables"]:
    for r in table["rows"]:
      ci = "" if r["ci95"] is None else f" [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]"
      sd = "-" if r["sd_diff"] is None else f"{r['sd_diff']:.3f}"
      need = ("- (no spread)" if not r["sd_diff"] else r["seeds_needed"] or "over 1000")
      lines.append(f"| {table['path']} | {r['gap']} | {r['pair']} | {len(r['seeds'])} | {r['mean_diff']:+.3f}{ci} "
                   f"| {sd} | {need} |")
  return "\n".join(lines)


def _error(message: str) -> int:
  print(f"error: {message}\n{USAGE}", file=sys.stderr)
  return 2


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
