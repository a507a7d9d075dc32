"""The grid engine: a sweep of `experiments.cotrain` runs, one per cell, on any executor, and
its summary, statistics and plots. The experiment modules (experiments.method_table,
mixing_sweep, sim_scaling, alignment_analysis, dose_response, decisive, dataset_roundtrip) are
its clients.

  cells.py     Cell; the experiment config's checks; each cell's cotrain config and command
  claim.py     the sweep's workdir: WORKDIR/experiment.json names the experiment and config
  summary.py   each cell's state (done, running, started, missing) and record; the statistics
  cell_run.py  one cell's cotrain process: its log, status, wall time and exit code's meaning
  local.py     executor `local`: subprocesses, --parallel at once, SIGTERM passed on
  slurm.py     executor `slurm`: a SLURM job array through submitit, preempted cells requeued
  grid.py      run_grid: check, claim, run what is not done (or print it, or --collect)
  outputs.py   the JSON, Markdown and PNGs, portable (no machine's paths)
  main.py      the command line the modules share

A sweep's workdir: experiment.json, runs/<cell>/ (each cell's cotrain workdir), logs/<cell>.log
and .json (output; status and wall time), slurm/ (submitit's files), and the module's outputs.
"""

from gdacot.sweep.cell_run import CellFailed, CellRun, Interrupted
from gdacot.sweep.cells import (COTRAIN_CONFIG, ROOT, Cell, GridError, cell_overrides, check_cells, check_common,
                                check_methods, command, parse_overrides, resolve,
                                sweep_config)
from gdacot.sweep.claim import MARKER, check_claim, claim_workdir
from gdacot.sweep.grid import EXECUTORS, Incomplete, Options, Submitted, run_grid
from gdacot.sweep.local import cell_environment
from gdacot.sweep.main import main
from gdacot.sweep.outputs import (json_safe, log_x_ticks, plot_curve, portable, portable_text, pyplot, success_axes,
                                  write_outputs)
from gdacot.sweep.slurm import SlurmOptions
from gdacot.sweep.summary import cell_record, cell_state, find, fmt, interval_note, shown_interval, summarise_success

__all__ = [
    "COTRAIN_CONFIG", "EXECUTORS", "MARKER", "ROOT", "Cell", "CellFailed", "CellRun", "GridError", "Incomplete",
    "Interrupted", "Options", "SlurmOptions", "Submitted", "cell_environment", "cell_overrides", "cell_record",
    "cell_state", "check_cells", "check_claim", "check_common", "check_methods", "claim_workdir", "command", "find",
    "fmt", "interval_note", "json_safe", "log_x_ticks", "main", "parse_overrides", "plot_curve", "portable",
    "portable_text", "pyplot", "resolve", "run_grid", "shown_interval", "summarise_success", "success_axes", "sweep_config", "write_outputs",
]
