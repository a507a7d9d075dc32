"""run_grid: a sweep from its cells to its record, on any executor.

  1. checks every cell's cotrain config in this process (cotrain's own checks), so a bad grid
     is refused (GridError, exit 2) before anything trains;
  2. claims the workdir (gdacot.sweep.claim): new, or this experiment with this config;
  3. hands the cells not yet done to the executor: `local` (subprocesses here, `parallel` at a
     time), `slurm` (a submitit job array) or `print` (one command per cell on stdout, for any
     other scheduler); with `collect` it runs nothing;
  4. reads every cell's eval.json into its record (gdacot.sweep.summary), which the modules
     turn into tables, claims and plots.
A cell whose eval.json exists is skipped and an interrupted one resumes from its checkpoint, so
rerunning the same command continues a sweep, whichever executor ran its cells before.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time

from gdacot import machine
from gdacot.sweep.cell_run import CellRun
from gdacot.sweep.cells import ROOT, Cell, GridError, check_cells
from gdacot.sweep.claim import check_claim, check_root, claim_workdir, update_marker
from gdacot.sweep.local import run_local
from gdacot.sweep.slurm import SlurmOptions, run_slurm
from gdacot.sweep.summary import cell_record, cell_state, interval_note, outcome

EXECUTORS = ("local", "slurm", "print")


class Submitted(Exception):
  """The cells' commands were printed for another scheduler to run; --collect writes the
  summary once they are done (exit 0)."""


class Incomplete(Exception):
  """Cells are not done (missing, running elsewhere, or stopped): no summary yet (exit 1)."""


@dataclasses.dataclass(frozen=True)
class Options:
  executor: str = "local"
  parallel: int = 1  # local: cells at once
  collect: bool = False  # run nothing: summarise the cells' workdirs, or say which are not done
  slurm: SlurmOptions = SlurmOptions()

  def check(self, name: str) -> None:
    problems = [] if self.executor in EXECUTORS else [f"executor must be one of {EXECUTORS}, got {self.executor!r}"]
    if isinstance(self.parallel, bool) or not isinstance(self.parallel, int) or self.parallel < 1:
      problems.append(f"parallel must be a positive integer, got {self.parallel!r}")
    if self.executor == "slurm":
      problems += self.slurm.problems()
    if problems:
      raise GridError(f"{name}: " + "; ".join(problems))


def run_grid(name: str, cfg, cells: list[Cell], workdir: str, options: Options | None = None,
             summary_fields=()) -> dict:
  """Checks every cell, claims the workdir, runs (or skips) the cells on `options.executor`
  (default: the command line's --executor, --parallel, --collect, --slurm_*, else Options()) and
  returns the record: {"experiment", "config", "cells": [per-cell record, in the grid's order],
  "machine", "wall_time_s", ...}. Raises Submitted (print executor), Incomplete (cells not done),
  Interrupted (SIGTERM stopped the sweep's cells at their checkpoints) or CellFailed.
  `summary_fields`: config fields no cell reads (gdacot.sweep.claim), free to change on a rerun."""
  if options is None:
    from gdacot.sweep.main import options_from_flags  # pylint: disable=g-import-not-at-top
    options = options_from_flags()
  options.check(name)
  check_cells(name, cfg, cells)
  check_root(workdir)  # before abspath, which would make gs://b/x a local path
  workdir = os.path.abspath(workdir)  # the cells run from the repository root
  t_start = time.perf_counter()
  # Printed commands own stdout; the sweep's own lines go to stderr then.
  out = sys.stderr if options.executor == "print" and not options.collect else sys.stdout
  say = lambda line: print(line, file=out, flush=True)
  tags = {c.name: f"[{i + 1}/{len(cells)}] {c.name}" for i, c in enumerate(cells)}
  by_name = {c.name: c for c in cells}
  if options.collect:
    if not check_claim(workdir, name, cfg, summary_fields):
      raise GridError(f"workdir {workdir} holds no {name} sweep to collect (no experiment.json)")
    update_marker(workdir, name, cfg)
    not_done = [(c, *cell_state(workdir, c)) for c in cells]
    not_done = [(c, state, why) for c, state, why in not_done if state != "done"]
    say(f"{name}: collecting {len(cells)} cells from {workdir}: {len(cells) - len(not_done)} done")
    if not_done:
      raise Incomplete(f"{name}: {len(not_done)} of {len(cells)} cells not done, no summary written:\n" +
                       "\n".join(f"  {tags[c.name]}: {state} ({why})" for c, state, why in not_done) +
                       "\nrun them (rerun the sweep without --collect), or wait for the running ones; then "
                       "--collect again")
    ran = set()
  else:
    resuming = claim_workdir(workdir, name, cfg, summary_fields)
    os.makedirs(os.path.join(workdir, "runs"), exist_ok=True)
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    at_once = f", {options.parallel} at a time" if options.parallel > 1 else ""
    say(f"{name}: {len(cells)} cells x {cfg.num_seeds} seed(s) (one program per cell{at_once}, executor "
        f"{options.executor}), workdir {workdir}{' (resuming)' if resuming else ''}")
    pending, elsewhere, ran = [], [], set()
    for cell in cells:
      state, why = cell_state(workdir, cell)
      if state == "done":
        say(f"{tags[cell.name]}: skipped (finished: eval.json exists): "
            f"{outcome(cell_record(cell, cfg, workdir, 'skipped'))}")
      elif state == "running":
        say(f"{tags[cell.name]}: running elsewhere ({why}); not started again")
        elsewhere.append(cell.name)
      else:
        pending.append((tags[cell.name], CellRun.of(cell, cfg, workdir)))

    def done(tag: str, run: CellRun) -> None:
      ran.add(run.name)
      say(f"{tag}: {outcome(cell_record(by_name[run.name], cfg, workdir, 'ran'))}")

    if pending and options.executor == "local":
      run_local(pending, options.parallel, done)
    elif pending and options.executor == "slurm":
      run_slurm(pending, options.slurm, os.path.join(workdir, "slurm"), name, done)
    elif pending:
      for _, run in pending:
        print(f"cd {shlex.quote(ROOT)} && {shlex.join(run.command)}", flush=True)
      raise Submitted(f"{name}: the commands of {len(pending)} cell(s) are on stdout, one a line; run them where "
                      f"{workdir} can be reached (each resumes its cell from its workdir), then rerun this "
                      "command with --collect for the summary")
    if elsewhere:
      raise Incomplete(f"{name}: cells {', '.join(elsewhere)} are running elsewhere; rerun with --collect "
                       "when they are done")
  records = [cell_record(c, cfg, workdir, "ran" if c.name in ran else "skipped") for c in cells]
  return {"experiment": name, "config": cfg.to_dict(), "num_seeds": cfg.num_seeds,
          "seeds": list(range(cfg.seed, cfg.seed + cfg.num_seeds)), "interval_note": interval_note(cfg.num_seeds),
          "cells": records, "machine": machine.describe_in_subprocess(cwd=ROOT),
          "wall_time_s": time.perf_counter() - t_start,
          "cells_run": sum(r["status"] == "ran" for r in records),
          "cells_skipped": sum(r["status"] == "skipped" for r in records)}
