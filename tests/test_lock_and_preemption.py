"""SIGTERM honoured within 10 s in every phase of a run (issues 20, 33), each by its own path, exit
code PREEMPTED (75), ending with the interrupted run
finished and compared with the uninterrupted smoke run (`smoke_run`, the same config): stopping
and resuming never changes the results. Two runs on one workdir: tests/test_checkpoints.py."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from runs import (ROOT, SMOKE, SMOKE_RUN_ARGS, assert_bitwise_equal, cotrain, env_for_subprocess, logged_losses,
                  saved_state)

from gdacot.exit_codes import PREEMPTED

SIGTERM_DEADLINE_S = 10.0


def start(workdir, log_path, *extra):
  """A background run of the shared smoke config, its output in a file we can watch. Without the
  demo cache: the phases are timed from the log, and generating demos is the setup phase's."""
  log = open(log_path, "w")  # pylint: disable=consider-using-with
  return subprocess.Popen([sys.executable, "-m", "experiments.cotrain", f"--workdir={workdir}", *SMOKE_RUN_ARGS,
                           *extra], cwd=ROOT, env=env_for_subprocess(GDACOT_DEMO_CACHE=""), stdout=log,
                          stderr=subprocess.STDOUT, text=True)


def wait_for(condition, proc, what, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if condition():
      return
    assert proc.poll() is None, f"the run ended before {what}"
    time.sleep(0.05)
  raise TimeoutError(what)


def text(path):
  with open(path) as f:
    return f.read()


def logged_steps(workdir):
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  return [json.loads(line)["step"] for line in text(path).splitlines() if line.endswith("}")]


def sigterm(proc):
  """Sends SIGTERM; returns the seconds until the process exited, and its exit code."""
  sent = time.time()
  proc.send_signal(signal.SIGTERM)
  code = proc.wait(timeout=60)
  return time.time() - sent, code


def results(workdir):
  return json.loads(text(os.path.join(workdir, "eval.json")))["results"]


def test_sigterm_in_every_phase_takes_that_phases_path_within_10s_and_the_rerun_matches(smoke_run, tmp_path):
  workdir = str(tmp_path / "run")
  timings = {}

  # 1. During demo generation (setup): nothing to save, out at once.
  log = tmp_path / "setup.log"
  proc = start(workdir, log)
  wait_for(lambda: "demos sim" in text(log), proc, "demo generation")
  timings["setup"], code = sigterm(proc)
  assert code == PREEMPTED and "preempted (SIGTERM) during setup" in text(log), text(log)[-2000:]

  # 2. The grace path: SIGTERM while the first chunk compiles (seconds), with a grace shorter
  # than that: no chunk boundary in time, so the run exits without saving anything.
  log = tmp_path / "grace.log"
  proc = start(workdir, log, "--config.preemption_grace_s=0.2")  # may differ on resume: not training's
  wait_for(lambda: "training steps 1-60" in text(log), proc, "the first chunk")
  timings["grace"], code = sigterm(proc)
  assert code == PREEMPTED and "no chunk boundary within 0.2s; exiting without saving" in text(log), text(log)[-2000:]
  assert not os.path.isdir(os.path.join(workdir, "checkpoints")) or not checkpoint_steps(workdir)

  # 3. The scoring path: step 20's scoring compiles its rollout (seconds); SIGTERM there saves
  # step 20 unscored at once.
  log = tmp_path / "checkpoint.log"
  proc = start(workdir, log)
  wait_for(lambda: "checkpoint 20: scoring" in text(log), proc, "step 20's scoring")
  timings["checkpoint_scoring"], code = sigterm(proc)
  assert code == PREEMPTED, text(log)[-2000:]
  assert "preempted (SIGTERM) during checkpoint scoring: checkpoint 20 was saved unscored" in text(log), text(log)[-2000:]
  assert checkpoint_steps(workdir) == [20]
  rows = [json.loads(line) for line in text(os.path.join(workdir, "metrics.jsonl")).splitlines()]
  assert [r["step"] for r in rows] == [10, 20] and rows[1]["unscored"] == 1.0  # one writer: one row

  # 4. During the final evaluation (more episodes, so that it lasts; `eval` may change on resume).
  log = tmp_path / "evaluation.log"
  proc = start(workdir, log, "--config.eval.episodes=240")
  wait_for(lambda: "evaluating checkpoint 60" in text(log), proc, "the final evaluation")
  timings["evaluation"], code = sigterm(proc)
  assert code == PREEMPTED and "preempted (SIGTERM) during evaluation" in text(log), text(log)[-2000:]
  assert not os.path.exists(os.path.join(workdir, "eval.json"))

  assert max(timings.values()) < SIGTERM_DEADLINE_S, timings
  # 5. The rerun finishes with the uninterrupted run's results, its log one row per step.
  done = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  # (smoke_run's eval.json may have been rewritten with other eval settings by another test;
  # its parameters and its training log are not.)
  assert_bitwise_equal(saved_state(workdir, 60), saved_state(smoke_run[0], 60))
  assert logged_losses(workdir) == logged_losses(smoke_run[0])
  assert logged_steps(workdir) == [10, 20, 30, 40, 50, 60]
  assert [r["episodes"] for r in results(workdir)] == [8, 8]


def checkpoint_steps(workdir):
  return sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit())


BRIDGE = os.path.normpath(os.path.join(ROOT, "..", "shared", "datasets", "bridge_dataset", "1.0.0"))


# Reading the TFRecord Bridge sample needs the [rlds] extra and ../shared; CI has both (as test_rlds.py).
@pytest.mark.skipif((importlib.util.find_spec("tensorflow") is None or not os.path.isdir(BRIDGE))
                    and not os.environ.get("CI"), reason="needs tensorflow-cpu and the Bridge sample")
def test_a_best_metric_the_run_cannot_score_is_refused_naming_it(tmp_path):
  bridge = BRIDGE
  proc = cotrain(f"--workdir={tmp_path / 'run'}", SMOKE, f"--config.real_data={bridge}",
                 f"--config.sim_data={bridge}", "--config.sources.sim.split=val", timeout=300)
  assert proc.returncode == 2
  assert "best_metric 'eval/real:in' cannot be scored" in proc.stderr and "no MJX" not in proc.stdout
  assert not (tmp_path / "run").exists()  # refused before the workdir was claimed
