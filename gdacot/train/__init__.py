"""Training: the config (defaults and checks), the assembly of a run, the loop, and their parts.

    from gdacot.train import get_config, train
    results = train(get_config("smoke"), "runs/smoke")
"""

from gdacot.train.build import Run, build, build_policy_and_state, checkpoint_record, run_seeds, seed_slice
from gdacot.train.checkpoints import CheckpointError, Checkpoints
from gdacot.train.config import ConfigError, get_config, validate_config
from gdacot.train.loop import train
from gdacot.train.metrics import MetricsWriter, read_metrics
from gdacot.train.preemption import PreemptionGuard
from gdacot.train.step import (
    TrainData,
    TrainState,
    alignment_target,
    init_train_state,
    make_optimizer,
    make_train_chunk,
    make_train_step,
)
from gdacot.train.workdir import WorkdirError, prepare_workdir
