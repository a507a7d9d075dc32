r"""Sim-and-real co-training on the built-in MJX benchmark, end to end.

  python -m experiments.cotrain --workdir=runs/demo
  python -m experiments.cotrain --workdir=runs/smoke --config=experiments/configs/cotrain.py:smoke
  python -m experiments.cotrain --workdir=runs/s3 --config.method=cotrain --config.seed=3
  python -m experiments.cotrain --workdir=runs/k4 --config.num_seeds=4      # 4 seeds, one program
  # several hosts (one process each; not needed where JAX detects the cluster: Slurm, Cloud TPU):
  python -m experiments.cotrain --workdir=/shared/run --coordinator_address=host0:1234 \
      --num_processes=2 --process_id=0     # and --process_id=1 on the second host

A thin command line around `gdacot.train.train(config, workdir)` (gdacot/train/loop.py),
which checks the config, claims the workdir, builds the run, trains (resuming from the newest
checkpoint if the workdir already holds this run; SIGTERM saves and exits 75), evaluates and
writes eval.json. Exit codes: 0 done; 2 bad input (`error: ...` on stderr, nothing lost); 75
stopped by SIGTERM with everything resumable (rerun the same command); 1 failed (README: "When a
run stops").

  python -m experiments.cotrain --print_config [--config=...:VARIANT] [--config.FIELD=VALUE ...]
prints the resolved config (file, variant and overrides, checked) as JSON and exits; nothing runs.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from gdacot import cli
from gdacot.exit_codes import BAD_INPUT, PREEMPTED

_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "cotrain.py")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run (created; resumed if it holds this run).")
try:  # ml_collections applies --config.FIELD overrides here, when the flag is defined
  _CONFIG = config_flags.DEFINE_config_file("config", _CONFIG_DEFAULT, "Config file [:variant].")
except (AttributeError, KeyError) as _e:  # an override naming no field: bad input, as every other
  print(f"error: a --config.FIELD override names no field of the config ({_e}); --print_config lists them",
        file=sys.stderr)
  sys.exit(BAD_INPUT)
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for multi-process runs.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes of a multi-process run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in [0, num_processes).")
_PRINT_CONFIG = cli.define_print_config()  # --workdir is required unless --print_config is given
if __name__ == "__main__":  # --help lists every config field (absl reads the main module's docstring)
  __doc__ += cli.config_fields_help(_CONFIG_DEFAULT)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _PRINT_CONFIG.value:
    sys.exit(cli.print_resolved_config(_CONFIG.value))
  from gdacot.data import DatasetError
  from gdacot.train.checkpoints import CheckpointError
  from gdacot.train.config import ConfigError
  from gdacot.train.workdir import WorkdirError
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  from gdacot import parallel
  try:
    parallel.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(BAD_INPUT)
  from gdacot.train import train  # heavy imports here, so --help and flag errors come back at once
  try:
    # The fields the command sets: only these must match a resumed run's saved config.
    explicit = config_flags.get_override_values(flags.FLAGS["config"])
    result = train(_CONFIG.value, _WORKDIR.value, explicit=list(explicit))
  except (ConfigError, WorkdirError, CheckpointError, DatasetError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(BAD_INPUT)
  if "preempted_at" in result:  # saved at a chunk boundary: a scheduler should run it again
    sys.exit(PREEMPTED)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)  # a flag it cannot parse: exit 2, as other bad input
