"""What a sweep's cells hold, read from their workdirs however they ran (this process, SLURM
jobs, printed commands run elsewhere): each cell's state, its record, and the statistics.

A cell's state: `done` (WORKDIR/runs/<cell>/eval.json exists), `running` (a run holds the
cell's lock, gdacot.train.workdir.lock_holder), `started` (its workdir exists, nobody runs it:
stopped or failed; rerunning resumes it from its checkpoint) or `missing` (never started).
"""

from __future__ import annotations

import json
import os
import shlex

from gdacot import stats
from gdacot.sweep.cells import Cell, cell_overrides, command
from gdacot.train.workdir import lock_holder


def run_dir(workdir: str, cell: Cell) -> str:
  return os.path.join(workdir, "runs", cell.name)


def log_path(workdir: str, cell: Cell) -> str:
  return os.path.join(workdir, "logs", f"{cell.name}.log")


def timing_path(workdir: str, cell: Cell) -> str:
  """Where the cell's command, status and wall time (summed over its runs) are kept."""
  return os.path.join(workdir, "logs", f"{cell.name}.json")


def cell_state(workdir: str, cell: Cell) -> tuple[str, str]:
  """(state, what it means) of a cell; see the module doc."""
  d = run_dir(workdir, cell)
  if os.path.exists(os.path.join(d, "eval.json")):
    return "done", "eval.json written"
  holder = lock_holder(d) if os.path.isdir(d) else None
  if holder:
    return "running", f"held by {holder}"
  if os.path.isdir(d):
    return "started", "not running, no eval.json: stopped or failed; a rerun resumes it"
  return "missing", "never started"


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


def summarise_success(results: list[dict]) -> dict:
  """eval.json result entries (every seed of one cell) -> {"real:in": row, ...}: mean over seeds,
  95% t-interval over seeds (null for one seed), pooled Wilson interval and the per-seed rates."""
  out = {}
  for row in stats.aggregate_over_seeds(results):
    pair = f"{row['domain']}:{row['region']}"
    by_seed = {e["seed"]: e for e in results if (e["domain"], e["region"]) == (row["domain"], row["region"])}
    row = dict(row, per_seed=[by_seed[s]["success_rate"] for s in row["seeds"]],
               per_seed_successes=[by_seed[s]["successes"] for s in row["seeds"]],
               per_seed_episodes=[by_seed[s]["episodes"] for s in row["seeds"]])
    if len(row["seeds"]) < 2:
      row["seed_ci95"] = None  # one seed: no interval over seeds
    out[pair] = row
  return out


def shown_interval(row: dict) -> tuple[float, float]:
  """The interval the tables and plots show: the t-interval over seeds, or the pooled Wilson
  interval where that one says nothing (one seed) or collapses (every seed scored the same)."""
  if row["seed_ci95"] is None or stats.all_equal(row["per_seed"]):
    return tuple(row["pooled_wilson95"])
  return tuple(row["seed_ci95"])


def interval_note(num_seeds: int) -> str:
  if num_seeds == 1:
    return "95% Wilson interval (one seed)"
  return "95% t-interval over seeds (†: every seed scored the same, 95% pooled Wilson interval)"


def fmt(row: dict) -> str:
  lo, hi = shown_interval(row)
  return f"{row['mean']:.2f} [{lo:.2f}, {hi:.2f}]" + ("†" if stats.all_equal(row["per_seed"]) else "")


def cell_record(cell: Cell, cfg, workdir: str, status: str) -> dict:
  """A done cell's record: its config, command, per-pair success over seeds, alignment numbers."""
  d = run_dir(workdir, cell)
  ev = read_json(os.path.join(d, "eval.json"))
  timing = read_json(timing_path(workdir, cell)) if os.path.exists(timing_path(workdir, cell)) else {}
  alignment = ev.get("alignment")
  alignment = [] if alignment is None else [alignment] if isinstance(alignment, dict) else alignment
  return {
      "cell": cell.name, "labels": cell.labels, "variant": cell.variant, "overrides": cell_overrides(cell, cfg),
      "command": shlex.join(command(cell, cfg, d)), "workdir": d, "status": status,
      "wall_time_s": timing.get("wall_time_s"), "cotrain_wall_time_s": ev.get("wall_time_s"),
      "seeds": sorted({e["seed"] for e in ev["results"]}), "demos": ev.get("demos"),
      "cotrain_config": read_json(os.path.join(d, "config.json")),  # what the run trained with
      "success": summarise_success(ev["results"]), "results": ev["results"],
      "alignment": {k: stats.mean_interval([a[k] for a in alignment]) for k in ("wasserstein", "discernibility")}
                   if alignment else None,
      "alignment_per_seed": alignment,
  }


def outcome(record: dict) -> str:
  """A cell's results on one line: mean success per pair, W2, wall time."""
  parts = [f"{pair.replace(':', '/')} {row['mean']:.2f}" for pair, row in record["success"].items()]
  if record["alignment"]:
    parts.append(f"W2 {record['alignment']['wasserstein']['mean']:.3g}")
  took = record["wall_time_s"]
  return ", ".join(parts) + (f" ({took:.0f}s)" if took is not None else "")


def find(records: list[dict], **labels) -> dict | None:
  """The cell record whose labels include `labels`, or None."""
  for r in records:
    if all(r["labels"].get(k) == v for k, v in labels.items()):
      return r
  return None
