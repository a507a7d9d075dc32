"""The arm tasks from the command line's side: the task flag and the CPU's batch cap. (Every
task trains with a share of the methods in test_methods; the command line itself is
tested in test_cotrain_cli.)"""

import pytest


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
