"""The arm tasks train through the command line, with every method of the registry.

Each method runs once, on one of the three arm tasks in turn (every task gets three or four
methods): a task changes only the environment and a method only the train step, so this
covers every task and every method at a third of the cost of all thirty pairs. Demo
generation and evaluation compiles are shared through the persistent compilation cache.
"""

import json
import os

import numpy as np
import pytest
from runs import SMOKE, cotrain

from test_methods import DESIGN_METHODS

ARM_TASKS = ("lift", "stack", "pick_place")
PAIRS = [(ARM_TASKS[i % 3], method) for i, method in enumerate(DESIGN_METHODS)]
_FEW_STEPS = ("--config.steps=10", "--config.log_every=5", "--config.ckpt_every=10",
              "--config.ckpt_eval.episodes=0", "--config.best_metric=", "--config.keep_best=0",
              "--config.eval.episodes=4", "--config.eval.batch_size=4", "--config.eval.pairs=('real:in','real:ood')",
              "--config.analysis.frames=32")


@pytest.mark.parametrize("task,method", PAIRS)
def test_arm_task_trains_from_the_cli(tmp_path, task, method):
  workdir = str(tmp_path / "run")
  proc = cotrain(f"--workdir={workdir}", f"{SMOKE},{task}", *_FEW_STEPS, f"--config.method={method}")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [5, 10]
  assert all(np.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))
  with open(os.path.join(workdir, "eval.json")) as f:
    out = json.load(f)
  assert {(r["method"], r["domain"], r["region"]) for r in out["results"]} == {
      (method, "real", "in"), (method, "real", "ood")}
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["task"] == task


def test_config_task_flag_alone_builds_the_arm_task():
  """`--config.task=lift` on the default config: the arm's state observation and action."""
  from gdacot.envs import env_from_config
  from gdacot.train.config import get_config, validate_config
  cfg = get_config("smoke")
  cfg.task = "lift"
  validate_config(cfg)
  env = env_from_config(cfg)
  assert env.state_obs_size == 16 and env.action_size == 4 and env.views == ("front", "wrist")
  assert get_config("smoke,lift").render.camera_pos == tuple(env.default_camera[0])


def test_the_arm_batch_cap_is_the_cpus_alone(monkeypatch):
  """XLA:CPU's hang caps an arm task's episodes per call there (configs and checks); another
  backend takes any batch."""
  import jax

  from gdacot.envs import TASKS
  from gdacot.train.config import ConfigError, get_config, validate_config
  assert jax.default_backend() == "cpu" and TASKS["lift"].batch_cap() == TASKS["lift"].max_batch == 128
  cfg = get_config("lift")
  assert cfg.eval.batch_size <= 128 and cfg.data.demo_batch <= 128
  cfg.eval.batch_size = 256
  with pytest.raises(ConfigError, match="eval.batch_size=256: task 'lift' runs at most 128 episodes"):
    validate_config(cfg)
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert TASKS["lift"].batch_cap() == 0 and TASKS["stack"].batch_cap() == 0
  validate_config(cfg)  # no cap off the CPU
