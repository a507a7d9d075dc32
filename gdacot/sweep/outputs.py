"""A sweep's outputs: WORKDIR/<name>.json (every number), <name>.md and PNG figures, written
portable: no machine's paths or hostname (tests/test_results_portable.py)."""

from __future__ import annotations

import math
import os
import re

from gdacot import io
from gdacot.sweep.cells import ROOT
from gdacot.sweep.summary import shown_interval


def json_safe(x):
  """NaN and infinities -> null (strict JSON)."""
  if isinstance(x, float):
    return x if math.isfinite(x) else None
  if isinstance(x, dict):
    return {k: json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [json_safe(v) for v in x]
  return x


# A record names no machine: commands and paths relative to the repository root (the cells run
# from it), `python` for the interpreter, and no hostname.
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
  """A mean against x with its interval as a band, one row per x: success rows (their shown
  interval) or a per-seed metric's `stats.mean_interval` (its t-interval; none for one seed)."""
  lo, hi = zip(*(_band(r) for r in rows))
  line, = ax.plot(xs, [r["mean"] for r in rows], "o-", **style)
  ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())


def _band(row: dict) -> tuple[float, float]:
  if "pooled_wilson95" in row:
    return shown_interval(row)
  return tuple(row["ci95"]) if row["ci95"] else (row["mean"], row["mean"])


def log_x_ticks(ax, xs) -> None:
  """A log x axis labelled at the grid's own values."""
  ax.set_xscale("log")
  ax.set_xticks(list(xs), [f"{x:g}" for x in xs])
  ax.minorticks_off()


def success_axes(ax, xs, pair: str, num_seeds: int, xlabel: str) -> None:
  """A success panel over a log axis of the grid's values: its limits, labels, title and legend."""
  log_x_ticks(ax, xs)
  ax.set_ylim(0, 1)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(f"success rate, {pair.replace(':', '/')}")
  ax.set_title(f"{pair.replace(':', '/')}: mean of {num_seeds} seed(s) with 95% intervals", fontsize=9)
  ax.legend(fontsize=7)


def cells_wall_time(record: dict) -> str:
  """The cells' own training time, however and whenever they ran (a --collect, or the print
  executor, writes the summary seconds after cells that took hours): the sum of each cell's
  eval.json wall time, for the footer; "" where the record has no cells that give one."""
  walls = [c.get("cotrain_wall_time_s") for c in record.get("cells", ())]
  walls = [w for w in walls if w is not None]
  if not walls:
    return ""
  return (f" The {len(walls)} cells' own runs took {sum(walls):.0f} s in all ({min(walls):.0f}-"
          f"{max(walls):.0f} s a cell: training and evaluation, as each eval.json records them for "
          "the process that finished the cell).")


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
            f"{m['cpu_count']} CPUs).{cells_wall_time(record)}\n")
  io.write_text(os.path.join(workdir, f"{name}.md"), portable_text(markdown + footer))
  io.write_json(os.path.join(workdir, f"{name}.json"), portable(json_safe(record)))
  print(markdown + footer, flush=True)
  print(f"wrote {', '.join(os.path.join(workdir, o) for o in record['outputs'])}", flush=True)
