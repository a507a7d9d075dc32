r"""How fast a run answers SIGTERM, and what a checkpoint costs, measured on this machine.

  python -m tools.preemption_bench --out=runs/preemption.json [--repeats=3] [-- --config.method=cotrain]

Each repeat starts `experiments.cotrain` (default config unless extra flags follow `--`) in a
fresh workdir, waits until it has logged `--after_steps` steps, sends SIGTERM, and times the
exit. Reports the median and max latency (the target: under 30 s, a typical grace period), the
exit codes, the step saved, and the size of the checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_OUT = flags.DEFINE_string("out", None, "Where to write the JSON results.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Number of SIGTERM trials.")
_AFTER = flags.DEFINE_integer("after_steps", 200, "Send SIGTERM once this many steps are logged.")
flags.mark_flag_as_required("out")


def _logged_step(workdir: str) -> int:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip().endswith("}")]
  return max((r["step"] for r in rows), default=0)


def _dir_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def trial(extra_flags: list[str], after_steps: int) -> dict:
  workdir = tempfile.mkdtemp(prefix="gdacot_preempt_")
  shutil.rmtree(workdir)
  cmd = [sys.executable, "-m", "experiments.cotrain", f"--workdir={workdir}", "--config.steps=1000000",
         "--config.ckpt_every=1000000", *extra_flags]
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    while _logged_step(workdir) < after_steps:
      if proc.poll() is not None:
        raise RuntimeError(f"the run ended early: {proc.communicate()[1][-2000:]}")
      time.sleep(0.05)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    latency = time.perf_counter() - sent
    saved = [int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit()]
    return {"latency_s": latency, "exit_code": proc.returncode, "saved_steps": saved,
            "checkpoint_bytes": _dir_bytes(os.path.join(workdir, "checkpoints")),
            "message_ok": "preempted (SIGTERM): saved checkpoint step" in stdout}
  finally:
    if proc.poll() is None:
      proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)


def main(argv):
  extra = argv[1:]
  trials = []
  for i in range(_REPEATS.value):
    trials.append(trial(extra, _AFTER.value))
    print(f"trial {i}: {trials[-1]}", flush=True)
  latencies = [t["latency_s"] for t in trials]
  result = {"extra_flags": extra, "after_steps": _AFTER.value, "trials": trials,
            "latency_median_s": statistics.median(latencies), "latency_max_s": max(latencies),
            "all_exit_zero_with_one_checkpoint": all(t["exit_code"] == 0 and len(t["saved_steps"]) == 1
                                                     for t in trials)}
  with open(_OUT.value, "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps({k: v for k, v in result.items() if k != "trials"}, indent=2))


if __name__ == "__main__":
  app.run(main)
