"""Checkpoints survive preemption: kill -9 anywhere, SIGTERM, cut-off saves, best-k keeping."""

import glob
import os
import signal
import subprocess
import sys
import time

import jax.numpy as jnp
import pytest
from runs import ROOT, SMOKE_RUN_ARGS, assert_bitwise_equal, cotrain, env_for_subprocess, saved_state, start_cotrain

from gdacot.train.checkpoints import CheckpointError, Checkpoints


def wait_for_step(workdir, step, proc, timeout=300):
  """Blocks until metrics.jsonl has logged `step` (checkpoints at that step may be in flight)."""
  path = os.path.join(workdir, "metrics.jsonl")
  deadline = time.time() + timeout
  while time.time() < deadline:
    assert proc.poll() is None, proc.communicate()
    if os.path.exists(path):
      with open(path) as f:
        steps = [int(line.split('"step": ')[1].split(",")[0]) for line in f if '"step": ' in line]
      if steps and max(steps) >= step:
        return
    time.sleep(0.2)
  raise TimeoutError(f"step {step} not reached")


def test_two_runs_on_one_workdir_one_trains_and_sigkilled_it_resumes_bitwise(smoke_run, tmp_path):
  """Two runs started together on one workdir: exactly one trains, the other is refused naming
  the holder (issue 20). SIGKILL the holder mid-training; the same command resumes it and ends
  bitwise where the uninterrupted run ends."""
  reference, _ = smoke_run
  workdir = str(tmp_path / "killed")
  procs = [start_cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS) for _ in range(2)]
  deadline = time.time() + 300
  while all(p.poll() is None for p in procs):
    assert time.time() < deadline, "neither run was refused"
    time.sleep(0.05)
  (refused,) = [p for p in procs if p.poll() is not None]
  (holder,) = [p for p in procs if p is not refused]
  _, stderr = refused.communicate()
  assert refused.returncode == 2, stderr[-3000:]
  assert "is in use by another run" in stderr and f"pid {holder.pid}" in stderr and "started 20" in stderr
  # Kill as soon as the step-20 checkpoint is complete (the async write can outlast the next
  # chunks on a busy machine): the run is then somewhere in steps 20-60, mid-training.
  wait_for_step(workdir, 20, holder)
  while not os.path.isdir(os.path.join(workdir, "checkpoints", "20")):
    assert holder.poll() is None, holder.communicate()
    time.sleep(0.02)
  holder.send_signal(signal.SIGKILL)
  assert holder.wait() == -signal.SIGKILL  # killed, not finished
  # The dead holder's lock does not block the same command.
  resumed = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "resumed from checkpoint step" in resumed.stdout
  assert_bitwise_equal(saved_state(workdir, 60), saved_state(reference, 60))
  # The log reads as one run: each step once, even those the killed process had logged.
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in f]
  assert steps == [10, 20, 30, 40, 50, 60]


def test_sigkill_during_a_save_leaves_a_partial_step_that_is_ignored_and_cleaned(smoke_run, tmp_path):
  # Killed with every item of checkpoint 40 written, just before orbax's commit (tests/faults.py).
  reference, _ = smoke_run
  workdir = str(tmp_path / "killed_in_save")
  killed = module_with_faults("--kill_before_commit=40", "-m", "experiments.cotrain", f"--workdir={workdir}",
                              *SMOKE_RUN_ARGS)
  assert killed.returncode == -signal.SIGKILL, killed.stdout[-3000:] + killed.stderr[-3000:]
  assert "fault: SIGKILL before committing checkpoint 40" in killed.stdout
  ckpt_dir = os.path.join(workdir, "checkpoints")
  (partial,) = glob.glob(os.path.join(ckpt_dir, "40.orbax-checkpoint-tmp*"))
  assert {"state", "record"} <= set(os.listdir(partial))  # the step's data is there, uncommitted
  assert Checkpoints(ckpt_dir, read_only=True).all_steps() == [20], os.listdir(ckpt_dir)  # and not a step
  resumed = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "resumed from checkpoint step 20" in resumed.stdout
  assert_bitwise_equal(saved_state(workdir, 60), saved_state(reference, 60))
  assert not glob.glob(os.path.join(ckpt_dir, "*tmp*"))  # the leftover was cleaned up


def module_with_faults(*args, timeout=600):
  return subprocess.run([sys.executable, os.path.join(ROOT, "tests", "faults.py"), *args], cwd=ROOT,
                        env=env_for_subprocess(), capture_output=True, text=True, timeout=timeout)


# --- The manager itself, in process. --------------------------------------------------------

def _tree(value, n=4):
  return {"w": jnp.full((n,), value, jnp.float32), "b": jnp.zeros((), jnp.int32)}


def test_keeps_the_newest_k_and_the_best(tmp_path):
  ckpts = Checkpoints(str(tmp_path / "c"), keep_last=2, keep_best=1, best_metric="eval/real:in", best_mode="max")
  for step, score in [(1, 0.2), (2, 0.9), (3, 0.1), (4, 0.3), (5, 0.4)]:
    ckpts.save(step, _tree(step), _tree(0), {"config": {}}, {"eval/real:in": score})
    ckpts.wait()
  assert ckpts.all_steps() == [2, 4, 5]
  assert ckpts.best_step() == 2
  state, _ = ckpts.restore(2, _tree(0.0), _tree(0.0))
  assert float(state["w"][0]) == 2.0
  ckpts.close()
  # A resumed run (a new manager) still ranks the earlier steps by their saved metrics.
  ckpts = Checkpoints(str(tmp_path / "c"), keep_last=2, keep_best=1, best_metric="eval/real:in", best_mode="max")
  for step in (6, 7):
    ckpts.save(step, _tree(step), _tree(0), {}, {"eval/real:in": 0.0})
    ckpts.wait()
  assert ckpts.all_steps() == [2, 6, 7] and ckpts.best_step() == 2
  ckpts.close()


def test_min_mode_keeps_the_lowest(tmp_path):
  ckpts = Checkpoints(str(tmp_path / "c"), keep_last=1, keep_best=1, best_metric="bc_loss", best_mode="min")
  for step, loss in [(1, 0.5), (2, 0.1), (3, 0.7)]:
    ckpts.save(step, _tree(step), _tree(0), {}, {"bc_loss": loss})
    ckpts.wait()
  assert ckpts.all_steps() == [2, 3] and ckpts.best_step() == 2
  ckpts.close()


def test_restore_refuses_a_target_of_other_shapes(tmp_path):
  ckpts = Checkpoints(str(tmp_path / "c"))
  ckpts.save(7, _tree(1.0, n=4), _tree(0), {})
  ckpts.close()
  ckpts = Checkpoints(str(tmp_path / "c"), read_only=True)
  with pytest.raises(CheckpointError, match="checkpoint .*7"):
    ckpts.restore(7, _tree(0.0, n=5), _tree(0))
  with pytest.raises(CheckpointError, match="no checkpoint at step 8"):
    ckpts.restore(8, _tree(0.0), _tree(0))


def test_truncated_checkpoint_files_are_reported_as_corrupt(tmp_path):
  ckpts = Checkpoints(str(tmp_path / "c"))
  ckpts.save(3, _tree(1.0, n=4096), _tree(0), {"config": {"a": 1}})
  ckpts.close()
  for path in glob.glob(str(tmp_path / "c" / "3" / "**" / "*"), recursive=True):
    if os.path.isfile(path) and os.path.getsize(path) > 16:
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
  ckpts = Checkpoints(str(tmp_path / "c"), read_only=True)
  with pytest.raises(CheckpointError, match="corrupt or truncated"):
    ckpts.restore(3, _tree(0.0, n=4096), _tree(0))


def test_resumed_metrics_log_drops_rows_past_the_restart_step(tmp_path):
  from gdacot.train.metrics import MetricsWriter, read_metrics

  writer = MetricsWriter(str(tmp_path))
  for step in (10, 20, 30):
    writer.write(step, {"loss": 1.0})
  writer.close()
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 40, "lo')  # a line cut off by SIGKILL
  MetricsWriter(str(tmp_path), resume_step=20).close()
  assert [r["step"] for r in read_metrics(str(tmp_path))] == [10, 20]
  MetricsWriter(str(tmp_path), resume_step=0).close()  # killed before the first checkpoint
  assert read_metrics(str(tmp_path)) == []
