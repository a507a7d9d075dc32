r"""Success against the number of sim demos and against the number of real demos, per method.

  python -m experiments.sim_scaling --workdir=runs/scaling
  python -m experiments.sim_scaling --workdir=runs/scaling_smoke --config=experiments/configs/sim_scaling.py:smoke

Two axes: the sim demos vary over `num_sim_demos` with the real demos fixed at
`fixed_real_demos`, and the real demos over `num_real_demos` with the sim demos fixed at
`fixed_sim_demos`. One cell per (method, sim demos, real demos), its seeds in one cotrain program
(gdacot.sweep: rerunning the command on the same workdir skips finished cells); the cell at
both fixed counts serves both axes. The mixing ratio w stays the config's (per sample), so
more demos mean more distinct samples, not a larger share. Writes sim_scaling.json (every number,
per seed too, and each cell's demo frames), sim_scaling.md, sim_scaling_sim.png and
sim_scaling_real.png (success against the count with 95% bands, one panel per evaluation pair).
"""

from __future__ import annotations

import os

from gdacot import sweep

NAME = "sim_scaling"
_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "sim_scaling.py")
# axis -> (the counts it varies, the field held fixed, its label)
AXES = {"sim": ("num_sim_demos", "fixed_real_demos", "sim demos"),
        "real": ("num_real_demos", "fixed_sim_demos", "real demos")}


def _positive_int(x) -> bool:
  return isinstance(x, int) and not isinstance(x, bool) and x > 0


def validate(cfg) -> None:
  problems = sweep.check_common(cfg)
  for field in ("num_sim_demos", "num_real_demos"):
    counts = tuple(cfg[field])
    if not counts:
      problems.append(f"{field} is empty: that axis has no cells")
    if not all(_positive_int(n) for n in counts):
      problems.append(f"{field} must hold positive integers, got {counts}")
    if len(set(counts)) != len(counts):
      problems.append(f"{field} repeats: {counts}")
  for field in ("fixed_sim_demos", "fixed_real_demos"):
    if not _positive_int(cfg[field]):
      problems.append(f"{field} must be a positive integer, got {cfg[field]!r}")
  problems += sweep.check_methods(cfg.methods)
  if problems:
    raise sweep.GridError(f"bad {NAME} config: " + "; ".join(problems))


def axis_points(cfg, axis: str) -> list[tuple[int, int]]:
  """(sim demos, real demos) of the cells along one axis."""
  if axis == "sim":
    return [(n, cfg.fixed_real_demos) for n in cfg.num_sim_demos]
  return [(cfg.fixed_sim_demos, n) for n in cfg.num_real_demos]


def make_cells(cfg) -> list[sweep.Cell]:
  cells = {}
  for method in cfg.methods:
    for axis in AXES:
      for sim, real in axis_points(cfg, axis):
        cells.setdefault((method, sim, real), sweep.Cell(
            name=f"{method}-sim{sim}-real{real}",
            labels={"method": method, "num_sim_demos": sim, "num_real_demos": real},
            overrides={"method": method, "data.num_sim_demos": sim, "data.num_real_demos": real},
            variant=cfg.cotrain_variant))
  return list(cells.values())


def axis_cells(cfg, records, axis: str, method: str) -> list[dict]:
  return [sweep.find(records, method=method, num_sim_demos=sim, num_real_demos=real)
          for sim, real in axis_points(cfg, axis)]


def markdown(cfg, record: dict) -> str:
  cols = [(m, p) for m in cfg.methods for p in cfg.eval_pairs]
  lines = ["# Sim scaling: success rate against the number of sim demos and of real demos", "",
           f"Mean success over seeds {record['seeds']}, in brackets its {record['interval_note']}; cotrain config "
           f"variant '{cfg.cotrain_variant}'. Frames: the demos' frames (sim M, real N).", ""]
  for axis, (field, fixed, label) in AXES.items():
    lines += [f"## Against {label} ({fixed.replace('_', ' ')} = {cfg[fixed]})", "",
              f"| {label} | frames (M, N) | " + " | ".join(f"{m} {p.replace(':', '/')}" for m, p in cols) + " |",
              "|---" * (len(cols) + 2) + "|"]
    for i, count in enumerate(cfg[field]):
      cells = {m: axis_cells(cfg, record["cells"], axis, m)[i] for m in cfg.methods}
      demos = next(iter(cells.values()))["demos"]
      lines.append(f"| {count} | {demos['sim_frames']}, {demos['real_frames']} | " +
                   " | ".join(sweep.fmt(cells[m]["success"][p]) for m, p in cols) + " |")
    lines.append("")
  return "\n".join(lines)


def plot(cfg, record: dict, axis: str):
  plt = sweep.pyplot()
  field, fixed, label = AXES[axis]
  pairs = list(cfg.eval_pairs)
  fig, axes = plt.subplots(1, len(pairs), figsize=(5.5 * len(pairs), 4.2), squeeze=False)
  for ax, pair in zip(axes[0], pairs):
    for method in cfg.methods:
      cells = axis_cells(cfg, record["cells"], axis, method)
      sweep.plot_curve(ax, list(cfg[field]), [c["success"][pair] for c in cells], label=method)
    sweep.success_axes(ax, cfg[field], pair, record["num_seeds"],
                       f"number of {label} (log; {fixed.replace('_', ' ')} = {cfg[fixed]})")
  fig.tight_layout()
  return fig


def run(cfg, workdir: str) -> dict:
  validate(cfg)
  record = sweep.run_grid(NAME, cfg, make_cells(cfg), workdir)
  record["axes"] = {axis: {"varies": field, "fixed": {fixed: cfg[fixed]}, "counts": list(cfg[field]),
                           "cells": {m: [c["cell"] for c in axis_cells(cfg, record["cells"], axis, m)]
                                     for m in cfg.methods}}
                    for axis, (field, fixed, _) in AXES.items()}
  sweep.write_outputs(workdir, NAME, record, markdown(cfg, record),
                     {f"{NAME}_{axis}.png": plot(cfg, record, axis) for axis in AXES})
  return record


if __name__ == "__main__":
  sweep.main(run, _CONFIG_DEFAULT)
