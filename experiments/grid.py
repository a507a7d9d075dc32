r"""The runner the experiment modules share: a grid of `experiments.cotrain` runs, one per cell.

Used by experiments.method_table, mixing_sweep, sim_scaling and alignment_analysis. A cell is one
cotrain config (a config variant plus field overrides, e.g. method=uot_joint, w=0.2) whose seeds
all train in ONE program (`--config.num_seeds=S`, vmapped over seeds). The grid

  1. builds every cell's cotrain config in this process and runs cotrain's own checks on it, so a
     bad grid is refused (exit 2) before anything trains;
  2. claims the workdir: a new or empty one, or one that holds this experiment with this same
     config (WORKDIR/experiment.json); anything else is refused and left untouched;
  3. runs the cells as `python -m experiments.cotrain --workdir=WORKDIR/runs/<cell>` (output in
     WORKDIR/logs/<cell>.log), one progress line per cell, one at a time or `--parallel=N` at once
     (a GPU is mostly idle under one small cell: its MJX rollouts and compiles are latency- and
     CPU-bound, so several cells share it well). A cell whose eval.json exists
     is skipped, and an interrupted one resumes from its checkpoint, so rerunning the same command
     continues an interrupted sweep. SIGTERM to the sweep (Kubernetes and Slurm signal only the
     main process) is passed on to the running cell, which saves a checkpoint and stops; the sweep
     then exits 75 (as a preempted run) and says that a rerun continues;
  4. summarises each cell's eval.json per (domain, region): the mean success over seeds with its
     95% t-interval over seeds and the pooled Wilson interval (gdacot.stats.aggregate_over_seeds),
     the per-seed rates, and per seed the final alignment numbers (W2, discernibility).

The experiment config carries the fields every grid reads: num_seeds, seed (the first seed),
eval_pairs, cotrain_variant and cotrain_overrides ("FIELD=VALUE" strings set on every cell).
The modules turn the cell records into tables, claims and plots (statistics from gdacot.stats) and
write them with `write_outputs`: WORKDIR/<name>.json (every number, per seed too, the config, the
commands, the machine, wall times), WORKDIR/<name>.md and PNGs.

The command-line process never touches an accelerator (`main` pins its JAX to the CPU): the cells
get it.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

from absl import app, flags
from ml_collections import config_flags

from gdacot import io, machine, stats
from gdacot.exit_codes import PREEMPTED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COTRAIN_CONFIG = os.path.join(ROOT, "experiments", "configs", "cotrain.py")
MARKER = "experiment.json"  # names the experiment and config a workdir holds
# cotrain fields the grid sets on every cell from the experiment config.
_GRID_FIELDS = ("num_seeds", "seed", "eval.pairs")


class GridError(ValueError):
  """A bad experiment config or workdir: reported before any training, exit code 2."""


class CellFailed(RuntimeError):
  """A cell's cotrain run failed; its log says why. Rerunning resumes the sweep (exit code 1)."""


class Interrupted(Exception):
  """SIGTERM stopped the sweep cleanly, its running cell checkpointed: a rerun continues (exit 75,
  as a preempted training run's)."""


@dataclasses.dataclass(frozen=True)
class Cell:
  name: str  # the run's directory under WORKDIR/runs
  labels: dict  # its coordinates in the experiment, e.g. {"method": "cotrain", "w": 0.1}
  overrides: dict  # dotted cotrain field -> value, e.g. {"method": "cotrain", "w": 0.1}
  variant: str = ""  # cotrain config variant, e.g. "image,smoke"


# --- Checks and cotrain configs, before any work. ----------------------------------------------

def check_common(cfg) -> list[str]:
  """Problems with the fields every grid reads (the modules add their own)."""
  problems = []
  if isinstance(cfg.num_seeds, bool) or not isinstance(cfg.num_seeds, int) or cfg.num_seeds < 1:
    problems.append(f"num_seeds must be a positive integer, got {cfg.num_seeds!r}")
  if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
    problems.append(f"seed (the first seed) must be an integer >= 0, got {cfg.seed!r}")
  if not tuple(cfg.eval_pairs):
    problems.append("eval_pairs is empty")
  for item in cfg.cotrain_overrides:
    key = item.split("=", 1)[0].strip()
    if "=" not in item or not key:
      problems.append(f"cotrain_overrides: {item!r} is not FIELD=VALUE")
    elif key in _GRID_FIELDS:
      problems.append(f"cotrain_overrides: {key} is set by the experiment config "
                      f"({'eval_pairs' if key == 'eval.pairs' else key}); set it there")
  return problems


def check_methods(methods) -> list[str]:
  """Problems with a grid's `methods`: none, unknown or repeated ones."""
  from gdacot.align import METHODS  # pylint: disable=g-import-not-at-top
  methods = tuple(methods)
  problems = [] if methods else ["methods is empty: the grid has no cells"]
  problems += [f"unknown method {m!r}; known: {list(METHODS)}" for m in methods if m not in METHODS]
  if len(set(methods)) != len(methods):
    problems.append(f"methods repeat: {methods}")
  return problems


def parse_overrides(items, variant: str = "") -> dict:
  """FIELD=VALUE strings -> {field: typed value}. A value is read as a Python literal unless the
  field holds a string (so --config.cotrain_overrides="('gap=physics','steps=300')" works)."""
  base = _cotrain_config(variant)
  out = {}
  for item in items:
    key, raw = (s.strip() for s in item.split("=", 1))
    try:
      current = _lookup(base, key)
    except KeyError as e:
      raise GridError(f"cotrain_overrides: {e.args[0]}") from None
    try:
      value = raw if isinstance(current, str) else ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      value = raw
    out[key] = value
  return out


def _cotrain_config(variant: str):
  from experiments.configs import cotrain as cotrain_configs  # pylint: disable=g-import-not-at-top
  try:
    return cotrain_configs.get_config(variant)
  except ValueError as e:
    raise GridError(f"cotrain config variant {variant!r}: {e}") from None


def _lookup(cfg, key: str):
  """The value of dotted field `key`; KeyError naming it if the config has no such field."""
  node = cfg
  for part in key.split("."):
    if not hasattr(node, "keys") or part not in node:
      raise KeyError(f"the cotrain config has no field {key!r}")
    node = node[part]
  return node


def cell_overrides(cell: Cell, cfg) -> dict:
  """Everything a cell sets on its cotrain config: the experiment's overrides, the cell's own,
  and the seeds and evaluation pairs. The cell's own fields may not also be set by the user."""
  common = parse_overrides(cfg.cotrain_overrides, cell.variant)
  clash = sorted(set(common) & set(cell.overrides))
  if clash:
    raise GridError(f"cotrain_overrides set {', '.join(clash)}, which this experiment sets per cell; "
                    "use the experiment's own config field instead")
  return {**common, **cell.overrides, "num_seeds": cfg.num_seeds, "seed": cfg.seed,
          "eval.pairs": tuple(cfg.eval_pairs)}


def resolve(cell: Cell, cfg):
  """The cell's full cotrain config, checked as cotrain checks it (GridError naming the cell)."""
  from gdacot.train.config import ConfigError, validate_config  # pylint: disable=g-import-not-at-top
  c = _cotrain_config(cell.variant)
  for key, value in cell_overrides(cell, cfg).items():
    *path, leaf = key.split(".")
    try:
      _lookup(c, key)  # the field exists
      node = _lookup(c, ".".join(path)) if path else c
      node[leaf] = value
    except (KeyError, TypeError) as e:
      raise GridError(f"cell {cell.name}: {key}={value!r}: {e.args[0]}") from None
  try:
    validate_config(c)
  except ConfigError as e:
    raise GridError(f"cell {cell.name}: {e}") from None
  return c


def _flag(value) -> str:
  """A typed value as cotrain's config flags parse it back."""
  if isinstance(value, (tuple, list)):
    return repr(tuple(value))
  return value if isinstance(value, str) else repr(value)


def command(cell: Cell, cfg, run_dir: str) -> list[str]:
  config = COTRAIN_CONFIG + (f":{cell.variant}" if cell.variant else "")
  return [sys.executable, "-m", "experiments.cotrain", f"--workdir={run_dir}", f"--config={config}",
          *(f"--config.{k}={_flag(v)}" for k, v in cell_overrides(cell, cfg).items())]


# --- The workdir. ------------------------------------------------------------------------------

def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def claim_workdir(workdir: str, name: str, cfg) -> bool:
  """Creates the workdir, or accepts one holding this experiment with this config (returns True:
  resuming). Anything else is refused, and nothing is written."""
  mine = json.loads(json.dumps({"experiment": name, "config": cfg.to_dict()}))
  marker = os.path.join(workdir, MARKER)
  if os.path.isfile(marker):
    with open(marker) as f:
      theirs = json.load(f)
    if theirs.get("experiment") != name:
      raise GridError(f"workdir {workdir} holds experiment {theirs.get('experiment')!r}, not {name!r}; "
                      "use a new --workdir")
    if theirs.get("config") != mine["config"]:
      a, b = _flatten(theirs.get("config", {})), _flatten(mine["config"])
      diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
      raise GridError(f"workdir {workdir} holds {name} results of a different config (differs in: "
                      f"{', '.join(f'{k}: {a.get(k)!r} there, {b.get(k)!r} here' for k in diff)}); rerun "
                      "with that config to resume it, or use a new --workdir")
    return True
  if os.path.exists(workdir) and (not os.path.isdir(workdir) or os.listdir(workdir)):
    raise GridError(f"workdir {workdir} exists, is not empty and holds no {MARKER}: not an experiment "
                    "workdir; refusing to write into it (use a new --workdir)")
  os.makedirs(workdir, exist_ok=True)
  io.write_json(marker, mine)
  return False


# --- Statistics. -------------------------------------------------------------------------------

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


# --- Running the grid. -------------------------------------------------------------------------

def _read_json(path: str):
  with open(path) as f:
    return json.load(f)


def _timing_path(workdir: str, cell: Cell) -> str:
  """Where the cell's command, status and wall time (summed over its runs) are kept."""
  return os.path.join(workdir, "logs", f"{cell.name}.json")


def _cell_record(cell: Cell, cfg, workdir: str, status: str) -> dict:
  run_dir = os.path.join(workdir, "runs", cell.name)
  ev = _read_json(os.path.join(run_dir, "eval.json"))
  timing_path = _timing_path(workdir, cell)
  timing = _read_json(timing_path) if os.path.exists(timing_path) else {}
  alignment = ev.get("alignment")
  alignment = [] if alignment is None else [alignment] if isinstance(alignment, dict) else alignment
  success = summarise_success(ev["results"])
  return {
      "cell": cell.name, "labels": cell.labels, "variant": cell.variant, "overrides": cell_overrides(cell, cfg),
      "command": shlex.join(command(cell, cfg, run_dir)), "workdir": run_dir, "status": status,
      "wall_time_s": timing.get("wall_time_s"), "cotrain_wall_time_s": ev.get("wall_time_s"),
      "seeds": sorted({e["seed"] for e in ev["results"]}), "demos": ev.get("demos"),
      "cotrain_config": _read_json(os.path.join(run_dir, "config.json")),  # what the run trained with
      "success": success, "results": ev["results"],
      "alignment": {k: stats.mean_interval([a[k] for a in alignment]) for k in ("wasserstein", "discernibility")}
                   if alignment else None,
      "alignment_per_seed": alignment,
  }


def _outcome(record: dict) -> str:
  """A cell's results on one line: mean success per pair, W2, wall time."""
  parts = [f"{pair.replace(':', '/')} {row['mean']:.2f}" for pair, row in record["success"].items()]
  if record["alignment"]:
    parts.append(f"W2 {record['alignment']['wasserstein']['mean']:.3g}")
  took = record["wall_time_s"]
  return ", ".join(parts) + (f" ({took:.0f}s)" if took is not None else "")


class _ForwardSigterm:
  """While active, SIGTERM to the sweep is noted and passed on to the running cells' processes.

  Schedulers (Kubernetes, Slurm) signal only the main process of a job: without this the sweep
  would die and leave its training children running unsignalled, to be killed without a checkpoint
  when the grace period ends. A cotrain run that gets SIGTERM saves a checkpoint at its next chunk
  boundary and exits 0; the sweep waits for that, then stops."""

  def __init__(self):
    self.requested = False
    self._children = set()
    self._lock = threading.Lock()  # cells run from worker threads with --parallel

  def __enter__(self) -> "_ForwardSigterm":
    self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    signal.signal(signal.SIGTERM, self._previous)

  def _handle(self, signum, frame) -> None:
    self.requested = True
    with self._lock:
      for child in self._children:
        child.send_signal(signal.SIGTERM)  # a no-op once the child has been waited for

  def wait(self, proc: subprocess.Popen) -> int:
    """Waits for proc, forwarding SIGTERM to it, also one that came while it was starting."""
    with self._lock:
      self._children.add(proc)
      if self.requested:
        proc.send_signal(signal.SIGTERM)
    try:
      return proc.wait()
    finally:
      with self._lock:
        self._children.discard(proc)


def cell_environment(parallel: int) -> dict:
  """The cells' environment. Cells sharing one GPU must not each take JAX's default 75% of its
  memory up front: with --parallel=N each gets a 1/N share unless the user set the allocator."""
  env = dict(os.environ)
  if parallel > 1 and not {"XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE",
                           "XLA_PYTHON_CLIENT_ALLOCATOR"} & set(env):
    # Rounded down: 0.9 / 7 printed as 0.129 would hand out 90.3%.
    env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{math.floor(900 / parallel) / 1000:.3f}"
  return env


def _run_cell(cell: Cell, cfg, workdir: str, tag: str, sigterm: _ForwardSigterm, env: dict) -> None:
  """Runs the cell's cotrain program to its eval.json; raises Interrupted if SIGTERM stopped it
  (at its latest checkpoint) and CellFailed if it failed."""
  run_dir = os.path.join(workdir, "runs", cell.name)
  log_path = os.path.join(workdir, "logs", f"{cell.name}.log")
  timing_path = _timing_path(workdir, cell)
  earlier = _read_json(timing_path) if os.path.exists(timing_path) else {}
  cmd = command(cell, cfg, run_dir)
  print(f"{tag}: running{' (resuming its checkpoint)' if os.path.isdir(run_dir) else ''}, log {log_path}",
        flush=True)
  t0 = time.perf_counter()
  with open(log_path, "a") as log:
    log.write(f"$ {shlex.join(cmd)}\n")
    log.flush()
    code = sigterm.wait(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env))
  finished = code == 0 and os.path.exists(os.path.join(run_dir, "eval.json"))
  # Killed by the forwarded signal before it could set its own handler: it resumes all the same.
  interrupted = not finished and sigterm.requested and code in (PREEMPTED, -signal.SIGTERM)
  status = "ran" if finished else "interrupted" if interrupted else "failed"
  io.write_json(timing_path, {"command": shlex.join(cmd), "status": status, "runs": earlier.get("runs", 0) + 1,
                              "wall_time_s": earlier.get("wall_time_s", 0.0) + time.perf_counter() - t0})
  if interrupted:
    with open(log_path, "a") as log:
      log.write(f"--- the sweep got SIGTERM and passed it on (exit code {code}); rerun the sweep to continue\n")
    raise Interrupted(f"{tag}: interrupted by SIGTERM, passed on to the cell, which stopped at its latest "
                      "checkpoint; rerun the same command to continue the sweep")
  if not finished:
    with open(log_path) as f:
      tail = "".join(f.readlines()[-25:])
    raise CellFailed(f"cell {cell.name} failed (exit code {code}, no eval.json); the end of "
                     f"{log_path}:\n{tail}\nrerun the same command to resume the sweep")


def run_grid(name: str, cfg, cells: list[Cell], workdir: str, parallel: int | None = None) -> dict:
  """Checks every cell, claims the workdir, runs (or skips) the cells, `parallel` at a time
  (default: the --parallel flag, else 1), and returns the record: {"experiment", "config", "cells":
  [per-cell record, in the grid's order], "machine", "wall_time_s", ...}. Raises Interrupted when
  SIGTERM stopped it (see _ForwardSigterm), after the cells already running have stopped."""
  workdir = os.path.abspath(workdir)  # the cells run from the repository root
  if parallel is None:
    parallel = flags.FLAGS.parallel if "parallel" in flags.FLAGS and flags.FLAGS.is_parsed() else 1
  if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
    raise GridError(f"{name}: parallel must be a positive integer, got {parallel!r}")
  if not cells:
    raise GridError(f"{name}: the grid has no cells")
  names = [c.name for c in cells]
  if len(set(names)) != len(names):
    raise GridError(f"{name}: cell names repeat: {sorted({n for n in names if names.count(n) > 1})}")
  for cell in cells:
    resolve(cell, cfg)
  t_start = time.perf_counter()
  resuming = claim_workdir(workdir, name, cfg)
  os.makedirs(os.path.join(workdir, "runs"), exist_ok=True)
  os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
  print(f"{name}: {len(cells)} cells x {cfg.num_seeds} seed(s) (one program per cell"
        f"{f', {parallel} at a time' if parallel > 1 else ''}), workdir {workdir}"
        f"{' (resuming)' if resuming else ''}", flush=True)
  env = cell_environment(parallel)
  records = [None] * len(cells)
  failed = threading.Event()  # with --parallel: after a failed cell, start no other

  def run_one(i: int, cell: Cell, sigterm: _ForwardSigterm) -> None:
    tag = f"[{i + 1}/{len(cells)}] {cell.name}"
    if failed.is_set():
      return
    if os.path.exists(os.path.join(workdir, "runs", cell.name, "eval.json")):
      records[i] = _cell_record(cell, cfg, workdir, "skipped")
      print(f"{tag}: skipped (finished: eval.json exists): {_outcome(records[i])}", flush=True)
    elif sigterm.requested:  # SIGTERM before this cell started: start no other
      raise Interrupted(f"{tag}: not started (SIGTERM); rerun the same command to continue the sweep")
    else:
      try:
        _run_cell(cell, cfg, workdir, tag, sigterm, env)
      except CellFailed:
        failed.set()
        raise
      records[i] = _cell_record(cell, cfg, workdir, "ran")
      print(f"{tag}: {_outcome(records[i])}", flush=True)

  with _ForwardSigterm() as sigterm:
    if parallel == 1:
      for i, cell in enumerate(cells):
        run_one(i, cell, sigterm)
    else:
      with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futures = [pool.submit(run_one, i, cell, sigterm) for i, cell in enumerate(cells)]
        pending = set(futures)
        while pending:  # short waits: the main thread must stay free to take SIGTERM
          _, pending = concurrent.futures.wait(pending, timeout=1.0)
      errors = [f.exception() for f in futures if f.exception() is not None]
      # A failed cell outranks an interruption; every cell still running was waited for.
      for kind in (CellFailed, Interrupted, BaseException):
        for e in errors:
          if isinstance(e, kind):
            raise e
  return {"experiment": name, "config": cfg.to_dict(), "num_seeds": cfg.num_seeds,
          "seeds": list(range(cfg.seed, cfg.seed + cfg.num_seeds)), "interval_note": interval_note(cfg.num_seeds),
          "cells": records, "machine": machine.describe_in_subprocess(cwd=ROOT),
          "wall_time_s": time.perf_counter() - t_start,
          "cells_run": sum(r["status"] == "ran" for r in records),
          "cells_skipped": sum(r["status"] == "skipped" for r in records)}


def find(records: list[dict], **labels) -> dict | None:
  """The cell record whose labels include `labels`, or None."""
  for r in records:
    if all(r["labels"].get(k) == v for k, v in labels.items()):
      return r
  return None


# --- Outputs. ----------------------------------------------------------------------------------

def _json_safe(x):
  """NaN and infinities -> null (strict JSON)."""
  if isinstance(x, float):
    return x if math.isfinite(x) else None
  if isinstance(x, dict):
    return {k: _json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_json_safe(v) for v in x]
  return x


# A record names no machine: commands and paths relative to the repository root (the cells run
# from it), `python` for the interpreter, and no hostname (tests/test_results_portable.py).
_INTERPRETER = re.compile(r"(?<![\w.-])/[^\s\"']*/bin/python[\d.]*(?![\w.-])")


def portable_text(text: str, roots=(ROOT,)) -> str:
  """`text` with the interpreter's absolute path as `python` and `roots` (checkouts of this
  repository) cut off the paths under them."""
  text = _INTERPRETER.sub("python", text)
  for root in roots:
    root = root.rstrip("/")
    text = re.sub(re.escape(root) + r"(/|(?![\w.-]))", lambda m: "" if m.group(1) else ".", text)
  return text


def portable(x, roots=(ROOT,)):
  """A JSON-able record made portable: every string through portable_text, hostnames dropped."""
  if isinstance(x, str):
    return portable_text(x, roots)
  if isinstance(x, dict):
    return {k: portable(v, roots) for k, v in x.items() if k != "hostname"}
  if isinstance(x, (list, tuple)):
    return [portable(v, roots) for v in x]
  return x


def pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_curve(ax, xs, rows, **style) -> None:
  """Mean success against x with its interval as a band (rows: one success row per x)."""
  lo, hi = zip(*(shown_interval(r) for r in rows))
  line, = ax.plot(xs, [r["mean"] for r in rows], "o-", **style)
  ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())


def log_x_ticks(ax, xs) -> None:
  """A log x axis labelled at the grid's own values."""
  ax.set_xscale("log")
  ax.set_xticks(list(xs), [f"{x:g}" for x in xs])
  ax.minorticks_off()


def write_outputs(workdir: str, name: str, record: dict, markdown: str, figures: dict, also=()) -> None:
  """WORKDIR/<name>.json, <name>.md and each figure (file name -> matplotlib figure) as PNG;
  `also` lists other files the module wrote (relative to the workdir), for the record."""
  plt = pyplot()
  for filename, fig in figures.items():
    with io.replacing(os.path.join(workdir, filename)) as tmp:
      fig.savefig(tmp, dpi=120)
    plt.close(fig)
  record = dict(record, outputs=[f"{name}.json", f"{name}.md", *figures, *also])
  m = record["machine"]
  footer = (f"\nWall time {record['wall_time_s']:.0f} s ({record['cells_run']} cells run, "
            f"{record['cells_skipped']} already done) on {m['platform']} ({m.get('jax_backend')}, "
            f"{m['cpu_count']} CPUs).\n")
  io.write_text(os.path.join(workdir, f"{name}.md"), portable_text(markdown + footer))
  io.write_json(os.path.join(workdir, f"{name}.json"), portable(_json_safe(record)))
  print(markdown + footer, flush=True)
  print(f"wrote {', '.join(os.path.join(workdir, o) for o in record['outputs'])}", flush=True)


# --- The command line every module shares. -----------------------------------------------------

def main(run, config_default: str) -> None:
  """Entry point of a module: --workdir and --config flags, errors to stderr with exit codes."""
  import jax  # pylint: disable=g-import-not-at-top
  # This process only checks configs (tiny models) and writes reports: the cells get the devices.
  jax.config.update("jax_platforms", "cpu")
  from gdacot import cli  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("workdir", None, "Directory of the experiment (new, or this experiment's to resume).")
  flags.DEFINE_integer("parallel", 1, "Cells run at once (their results do not depend on it): on a GPU, "
                       "several small cells share the device.")
  config_flags.DEFINE_config_file("config", config_default, "Config file [:variant].")
  cli.define_print_config()
  cli.key_flags_of_main("workdir", "parallel", "config")  # defined here, listed in the module's --help

  def _main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if flags.FLAGS.print_config:
      print(cli.config_json(flags.FLAGS.config))
      return
    try:
      run(flags.FLAGS.config, flags.FLAGS.workdir)
    except GridError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
    except CellFailed as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)
    except Interrupted as e:  # a clean stop, as a preempted training run's
      print(e, flush=True)
      sys.exit(PREEMPTED)

  app.run(_main)
