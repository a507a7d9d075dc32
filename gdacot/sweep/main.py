"""The command line every sweep module shares (experiments.method_table, mixing_sweep, ...):
--workdir and --config, where the cells run (--executor, --parallel, --slurm_*), --collect,
and the exit codes: 0 done (or commands printed), 1 a cell failed or cells are not done yet,
2 bad input, 75 stopped by SIGTERM with every cell resumable (gdacot.exit_codes).

The command-line process never touches an accelerator (its JAX is pinned to the CPU): the
cells get it.
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from gdacot import cli, cli_common
from gdacot.exit_codes import FAILED, PREEMPTED
from gdacot.sweep.cell_run import CellFailed, Interrupted
from gdacot.sweep.cells import GridError
from gdacot.sweep.grid import EXECUTORS, Incomplete, Options, Submitted
from gdacot.sweep.slurm import CLUSTERS, SlurmOptions

_SLURM_FLAGS = {  # flag -> (SlurmOptions field, help)
    "slurm_partition": ("partition", "SLURM partition of the cells' jobs ('': the cluster's default)."),
    "slurm_gpus": ("gpus", "GPUs per cell."),
    "slurm_cpus": ("cpus", "CPUs per cell (0: the cluster's default)."),
    "slurm_mem_gb": ("mem_gb", "Memory per cell in GB (0: the cluster's default)."),
    "slurm_time_min": ("time_min", "Time limit per job in minutes; a cell that needs longer is stopped at a "
                       "checkpoint and requeued."),
    "slurm_max_requeues": ("max_requeues", "Requeues of a cell after its time limit (preemptions do not count)."),
    "slurm_max_running": ("max_running", "Cells running at once (0: as many as the cluster gives)."),
    "slurm_signal_delay_s": ("signal_delay_s", "Seconds before the time limit at which a cell is told to save "
                             "and stop."),
    "slurm_cluster": ("cluster", "slurm; or local / debug: submitit's stand-ins running the same code path on "
                      "this machine (tests)."),
}


def define_flags(config_default: str) -> None:
  flags.DEFINE_string("workdir", None, "Directory of the experiment (new, or this experiment's to resume).")
  flags.DEFINE_enum("executor", "local", EXECUTORS, "Where the cells run: local (subprocesses here, --parallel at "
                    "once), slurm (a SLURM job array through submitit, one cell per task; --slurm_*), print "
                    "(each cell's command on stdout, for xargs, GNU parallel, a Kubernetes Job...; then --collect).")
  flags.DEFINE_integer("parallel", 1, "With --executor=local: cells run at once (their results do not depend on "
                       "it); on a GPU, several small cells share the device.")
  flags.DEFINE_bool("collect", False, "Run nothing: write the summary from the cells' workdirs, however they ran, "
                    "or say which cells are missing or running.")
  defaults = SlurmOptions()
  for flag, (field, help_text) in _SLURM_FLAGS.items():
    default = getattr(defaults, field)
    if flag == "slurm_cluster":
      flags.DEFINE_enum(flag, default, CLUSTERS, help_text)
    elif isinstance(default, str):
      flags.DEFINE_string(flag, default, help_text)
    elif isinstance(default, float):
      flags.DEFINE_float(flag, default, help_text)
    else:
      flags.DEFINE_integer(flag, default, help_text)
  config_flags.DEFINE_config_file("config", config_default, "Config file [:variant].")
  cli.define_print_config()
  # Defined here, listed in the module's --help.
  cli.key_flags_of_main("workdir", "executor", "parallel", "collect", "config", *_SLURM_FLAGS)


def options_from_flags() -> Options:
  """The sweep options the command line gave, or the defaults where it defines none (a module's
  run() called from Python)."""
  f = flags.FLAGS
  if "executor" not in f or not f.is_parsed():
    return Options()
  slurm = SlurmOptions(**{field: f[flag].value for flag, (field, _) in _SLURM_FLAGS.items()})
  return Options(executor=f.executor, parallel=f.parallel, collect=f.collect, slurm=slurm)


def main(run, config_default: str) -> None:
  """Entry point of a sweep module: `run(config, workdir)` under the flags above."""
  import jax  # pylint: disable=g-import-not-at-top
  # This process only checks configs (tiny models) and writes reports: the cells get the devices.
  jax.config.update("jax_platforms", "cpu")
  define_flags(config_default)

  def run_to_exit_code(cfg, workdir: str) -> None:
    try:
      run(cfg, workdir)
    except CellFailed as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(FAILED)
    except Incomplete as e:
      print(e, file=sys.stderr)
      sys.exit(FAILED)
    except Submitted as e:  # the commands are on stdout; what to do next on stderr
      print(e, file=sys.stderr)
    except Interrupted as e:  # a clean stop, as a preempted training run's
      print(e, flush=True)
      sys.exit(PREEMPTED)

  cli_common.run(cli_common.config_main(run_to_exit_code), GridError)  # GridError: `error: ...`, exit 2
