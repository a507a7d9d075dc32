"""The preemption guard's exits, in a small process of its own (gdacot.train.preemption): a save
that fails on the way out exits FAILED, and a save under way when the grace ends finishes
before the process exits PREEMPTED."""

import signal
import subprocess
import sys
import time

from runs import ROOT, env_for_subprocess

from gdacot.exit_codes import FAILED, PREEMPTED

PROGRAM = """
import os, sys, time
from gdacot.train.preemption import CHECKPOINT, TRAINING, PreemptionGuard
case = sys.argv[1]
with PreemptionGuard(grace_s=0.2) as guard:
  if case == "failed_save":
    def on_stop():
      raise OSError("disk full")
    guard.enter(CHECKPOINT, "checkpoint 20 was saved unscored", on_stop=on_stop)
    print("ready", flush=True)
    time.sleep(30)
  else:  # a save under way outlasts the grace
    guard.wait_for_saves = lambda: print("waited for the asynchronous write", flush=True)
    guard.enter(TRAINING, "the rerun resumes from checkpoint 20")
    with guard.saving():
      print("ready", flush=True)
      time.sleep(1.5)
      print("save finished", flush=True)
    time.sleep(30)  # a long chunk: no boundary before the grace has passed
"""


def _run(case):
  proc = subprocess.Popen([sys.executable, "-c", PROGRAM, case], cwd=ROOT, env=env_for_subprocess(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  assert proc.stdout.readline().strip() == "ready"
  sent = time.time()
  proc.send_signal(signal.SIGTERM)
  out = proc.communicate(timeout=60)[0]
  return proc.returncode, time.time() - sent, out


def test_a_save_that_fails_on_the_way_out_exits_failed():
  code, _, out = _run("failed_save")
  assert code == FAILED and "saving failed (OSError: disk full)" in out, out


def test_a_save_under_way_when_the_grace_ends_finishes_first():
  code, took, out = _run("save_under_way")
  assert code == PREEMPTED, out
  assert took >= 1.0, (took, out)  # not cut off at the 0.2 s grace
  lines = out.splitlines()
  assert lines.index("save finished") < lines.index("waited for the asynchronous write"), out
  assert "no chunk boundary within 0.2s" in out
