"""The sharded train step: 1 vs 8 devices, 2 processes vs 1, and what it communicates.

Each case runs tests/sharded_check.py in a subprocess, because the number of (simulated CPU)
devices is fixed when JAX starts."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from runs import ROOT, SMOKE, env_for_subprocess, xla_flags

from gdacot.exit_codes import PREEMPTED
from gdacot.train.preemption import DEFAULT_GRACE_S

CHECK = os.path.join(ROOT, "tests", "sharded_check.py")


def _run(devices, *args, wait=True):
  env = env_for_subprocess(XLA_FLAGS=xla_flags(f"--xla_force_host_platform_device_count={devices}"))
  cmd = [sys.executable, CHECK, *map(str, args)]
  if not wait:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
  """uot_joint, 6 steps: without a mesh, on 1 of 8 devices and on all 8, in one process."""
  out = tmp_path_factory.mktemp("sharded") / "one.json"
  _run(8, "train", "uot_joint", 6, out)
  return json.loads(out.read_text())


def test_eight_devices_give_the_single_device_loss_curve(one_process):
  r = one_process
  assert r["devices"] == 8
  assert r["one"]["losses"] == r["none"]["losses"]  # a 1-device mesh is the plain program
  np.testing.assert_allclose(r["all"]["losses"], r["none"]["losses"], rtol=1e-5)
  np.testing.assert_allclose(r["all"]["checksum"], r["none"]["checksum"], rtol=1e-6)
  assert "'data': 8" in r["all"]["param_sharding"] and "spec=P()" in r["all"]["param_sharding"]


def test_two_processes_give_the_one_process_result(one_process, tmp_path):
  with socket.socket() as s:  # a free port for the coordinator
    s.bind(("localhost", 0))
    port = s.getsockname()[1]
  out = tmp_path / "two.json"
  procs = [_run(4, "train", "uot_joint", 6, out, f"localhost:{port}", 2, i, wait=False) for i in range(2)]
  for p in procs:
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
  r = json.loads(out.read_text())
  assert (r["devices"], r["processes"]) == (8, 2)
  np.testing.assert_allclose(r["all"]["losses"], one_process["all"]["losses"], rtol=1e-5)
  np.testing.assert_allclose(r["all"]["checksum"], one_process["all"]["checksum"], rtol=1e-6)


def test_sharded_step_communicates_one_gradient_all_reduce_and_the_ot_gather(tmp_path):
  out = tmp_path / "hlo.json"
  _run(8, "hlo", "uot_joint", out)
  ops = json.loads(out.read_text())
  kinds = sorted(o["op"] for o in ops)
  # One (fused) all-reduce of the gradients (and the scalar metrics), and the gather of the
  # global OT batch: features (128 x 64) and joint-cost targets (128 x 3) of each domain.
  assert kinds == ["all-gather"] * 4 + ["all-reduce"], ops
  gathers = sorted(o["arrays"][0] for o in ops if o["op"] == "all-gather")
  assert gathers == ["f32[128, 1, 3]"] * 2 + ["f32[128, 64]"] * 2
  (reduce,) = [o for o in ops if o["op"] == "all-reduce"]
  assert reduce["bytes"] > 100_000  # the smoke policy's parameters, as float32


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


# The smoke run on two devices of one process: what every two-process run here must equal.
TWO_DEVICE_ARGS = (SMOKE, "--config.steps=60", "--config.ckpt_eval.episodes=0", "--config.best_metric=")


@pytest.fixture(scope="module")
def one_process_two_devices(tmp_path_factory):
  from runs import cotrain  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp("one_process") / "run")
  proc = cotrain(f"--workdir={workdir}", *TWO_DEVICE_ARGS,
                 XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def _start_two_processes(workdir, args, port):
  env = env_for_subprocess(XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=1"))
  return [subprocess.Popen([sys.executable, "-m", "experiments.cotrain", f"--workdir={workdir}", *args,
                            f"--coordinator_address=localhost:{port}", "--num_processes=2", f"--process_id={i}"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for i in range(2)]


def _wait_for_checkpoint(workdir, step, procs, timeout=300):
  deadline = time.time() + timeout
  while not os.path.isdir(os.path.join(workdir, "checkpoints", str(step))):
    assert time.time() < deadline and all(p.poll() is None for p in procs), [p.poll() for p in procs]
    time.sleep(0.05)


def _wait_for_a_row_after(workdir, step, procs, timeout=300):
  """Waits until metrics.jsonl holds a row past `step`: every process is then past its start
  (jax.distributed's connect, demos, compiles) and training in the collective."""
  path, deadline = os.path.join(workdir, "metrics.jsonl"), time.time() + timeout
  while True:
    with open(path) as f:
      rows = [json.loads(line) for line in f if line.endswith("\n")]
    if rows and rows[-1]["step"] > step:
      return
    assert time.time() < deadline and all(p.poll() is None for p in procs), [p.poll() for p in procs]
    time.sleep(0.05)


def _ended(procs, timeout):
  """Waits until every process has ended; returns the seconds it took and their outputs."""
  start = time.time()
  outs = [p.communicate(timeout=timeout)[0] for p in procs]
  return time.time() - start, outs


def test_two_processes_stop_together_on_sigterm_or_a_peer_sigkill_and_end_as_one_process(one_process_two_devices,
                                                                                         tmp_path):
  # As Slurm and Kubernetes stop a multi-host job: SIGTERM to every process; or one process
  # killed outright. Either way no process is left waiting in a collective, and the same
  # command resumes to the result of one process on the same two devices, never stopped:
  # its parameters, metrics and evaluation, bitwise. (One launch tests both the two-process
  # program and its stops: an uninterrupted two-process run of its own cost the suite ~90 s.)
  from runs import assert_bitwise_equal, saved_state  # pylint: disable=g-import-not-at-top
  args, reference = TWO_DEVICE_ARGS, one_process_two_devices
  workdir = str(tmp_path / "two")

  procs = _start_two_processes(workdir, args, _free_port())
  _wait_for_checkpoint(workdir, 20, procs)
  for p in procs:
    p.send_signal(signal.SIGTERM)
  took, outs = _ended(procs, timeout=120)
  assert [p.returncode for p in procs] == [PREEMPTED] * 2, outs[0][-2000:] + outs[1][-2000:]
  assert took < DEFAULT_GRACE_S and "preempted (SIGTERM): saved checkpoint step" in outs[0], outs[0][-2000:]

  # The SIGTERM is seen at a chunk boundary after it lands: step 20's directory can appear when
  # the loop is already at 40. The peer is killed once the resumed run trains past that step
  # (killed during its start instead, the survivor waits in jax.distributed's connect).
  saved = int(re.search(r"saved checkpoint step (\d+)", outs[0]).group(1))
  assert 20 <= saved < 50, outs[0][-2000:]  # later, the resumed run would end before the kill
  procs = _start_two_processes(workdir, args, _free_port())
  _wait_for_a_row_after(workdir, saved, procs)
  procs[1].send_signal(signal.SIGKILL)
  took, outs = _ended(procs, timeout=120)
  assert procs[1].returncode == -signal.SIGKILL and procs[0].returncode != 0, outs[0][-2000:]
  assert took < DEFAULT_GRACE_S, (took, outs[0][-2000:])  # the survivor did not wait for its peer

  procs = _start_two_processes(workdir, args, _free_port())
  _, outs = _ended(procs, timeout=600)
  assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
  assert "2 process(es)" in outs[0] and "resumed from checkpoint step" in outs[0]
  assert_bitwise_equal(saved_state(workdir, 60), saved_state(reference, 60))
  read = lambda w: [json.loads(line) for line in open(os.path.join(w, "metrics.jsonl"))]
  # One row per step, written once by process 0, as the uninterrupted run's; the row saved at
  # the SIGTERM says so, and lacks the checkpoint's analysis where the stop fell on one.
  rows, reference_rows = read(workdir), read(reference)
  assert [r["step"] for r in rows] == [r["step"] for r in reference_rows]
  assert sum(r.pop("unscored", 0.0) for r in rows) == 1.0
  for row, full in zip(rows, reference_rows):
    assert row == {k: v for k, v in full.items() if k in row}
    assert all(k.startswith("analysis/") for k in set(full) - set(row)), (row, full)
  evaluation = lambda w: json.load(open(os.path.join(w, "eval.json")))["results"]
  assert evaluation(workdir) == evaluation(reference)
