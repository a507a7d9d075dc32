"""gdacot.policy: a checkpoint called one observation at a time acts as the compiled evaluation
rollout does, and bad observations are refused naming the key."""

import json

import jax
import numpy as np
import pytest

from gdacot import rollout as rollouts
from gdacot.align import DOMAIN_LABELS
from gdacot.envs import domain_from_config, env_from_config
from gdacot.policy import ObservationError, load
from gdacot.train.build import build
from gdacot.train.restore import RunError, restore_policy


def test_a_python_loop_of_act_matches_the_compiled_rollout(smoke_run):
  workdir, _ = smoke_run
  policy = load(workdir, step="latest", domain="real")
  assert policy.spec == {"state": ((8,), np.dtype(np.float32))} and policy.step == 60
  restored = restore_policy(workdir, "latest")
  cfg = restored.cfg
  env = env_from_config(cfg)
  domain = domain_from_config(cfg, "real", "in")
  # The compiled rollout of evaluation, episode 0 of the run's evaluation key.
  run = build(cfg, None, env=env, with_data=False)
  key = rollouts.evaluation_key(cfg.seed)
  success, qpos = rollouts.make_policy_rollout(env, run.graphdef, obs_horizon=cfg.obs_horizon, chunk=cfg.chunk,
                                               execute=cfg.execute, batch_size=2)(
      restored.params, restored.normalizer, key, domain, 0, DOMAIN_LABELS["real"], 0.0)
  # The same episode stepped from Python, the policy called with each observation.
  k_reset, _ = jax.random.split(jax.random.fold_in(key, 0))
  step = jax.jit(env.step)
  state = jax.jit(env.reset)(k_reset, domain)
  policy.reset()
  trajectory, succeeded = [np.asarray(state.data.qpos)], bool(state.success)
  for _ in range(env.horizon):
    action = policy.act({"state": np.asarray(state.obs)})
    assert action.shape == (3,) and action.dtype == np.float32
    state = step(state, action)
    trajectory.append(np.asarray(state.data.qpos))
    succeeded |= bool(state.success)
  np.testing.assert_allclose(np.stack(trajectory), np.asarray(qpos[0]), atol=1e-5)
  assert succeeded == bool(success[0])


def test_bad_observations_and_steps_are_refused_naming_them(smoke_run):
  workdir, _ = smoke_run
  policy = load(workdir, step="latest")
  for obs, message in (({}, "observation 'state' is missing"),
                       ({"state": np.zeros(7, np.float32)}, "observation 'state': shape (7,)"),
                       ({"state": np.full(8, np.nan, np.float32)}, "observation 'state' holds NaN"),
                       ({"state": np.array(["a"] * 8)}, "observation 'state': shape (8,) dtype <U1")):
    with pytest.raises(ObservationError, match=message.replace("(", r"\(").replace(")", r"\)")):
      policy.act(obs)
  with pytest.raises(ValueError, match="no complete checkpoint at that step"):
    load(workdir, step=7)
  with pytest.raises(RunError, match="domain must be one of"):
    load(workdir, step="latest", domain="moon")


def test_recorded_episodes_are_scored_teacher_forced(smoke_run, tmp_path):
  from gdacot import offline
  from runs import module
  from tools.make_demos import make_demos
  workdir, _ = smoke_run
  # 8 episodes at a batch of 8: the smoke config's demo program, compiled already (the
  # persistent compilation cache); 3 at a batch of 3 compiled a program of their own.
  made, demos = make_demos("push_cube", "real", "in", 8, str(tmp_path / "data"), seed=5, batch=8)
  restored = restore_policy(workdir, "latest")
  report, traces = offline.score(restored, made["path"], offline.key_map_for(restored.cfg, "real"), plot_episodes=1)
  assert report["dataset"]["episodes"] == 8 and len(report["chunk_mse_by_position"]) == restored.cfg.chunk
  predicted, recorded = traces[0]
  n = int(demos.lengths[0])
  np.testing.assert_array_equal(recorded, np.asarray(demos.actions[0, :n]))
  # Frame 0 as a robot's first call sees it: the policy's first action of its first chunk.
  policy = load(workdir, step="latest")
  np.testing.assert_allclose(predicted[0], policy.act({"state": np.asarray(demos.obs[0, 0])}), atol=1e-6)
  np.testing.assert_allclose(report["episodes"][0]["first_action_mse"], np.mean((predicted - recorded) ** 2), rtol=1e-5)
  # The command line: the report and the figure; a missing dataset is refused.
  out = tmp_path / "offline.json"
  proc = module("gdacot.evaluate", f"--workdir={workdir}", f"--data={made['path']}", f"--out={out}", timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert json.loads(out.read_text())["dataset"]["frames"] == int(np.asarray(demos.lengths).sum())
  assert (tmp_path / "offline.png").exists()
  proc = module("gdacot.evaluate", f"--workdir={workdir}", f"--data={tmp_path / 'none'}", f"--out={tmp_path / 'x.json'}")
  assert proc.returncode == 2 and "does not exist" in proc.stderr and not (tmp_path / "x.json").exists()
