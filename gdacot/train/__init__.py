"""Train state, compiled train step, checkpoints, metrics and workdir handling."""

from gdacot.train.checkpoints import CheckpointError, Checkpoints
from gdacot.train.metrics import MetricsWriter, read_metrics
from gdacot.train.preemption import PreemptionGuard
from gdacot.train.setup import build_policy_and_state, checkpoint_record
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
