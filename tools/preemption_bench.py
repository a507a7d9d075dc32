r"""How fast a run answers SIGTERM in each phase, measured on this machine.

  python -m tools.preemption_bench --out=runs/preemption.json [--repeats=3] [-- --config.method=cotrain]

Each repeat runs `experiments.cotrain` (the default config unless extra flags follow `--`) in a
fresh workdir through every phase a scheduler may stop it in, sending SIGTERM once per phase
and restarting the same command after each:

  setup             as soon as demo generation has started;
  training          once `--after_steps` steps are logged (mid-training, between checkpoints);
  before_checkpoint once the row just before a checkpoint step is logged (the chunk up to the
                    checkpoint and its scoring follow: SIGTERM must not wait for the scoring);
  evaluation        once the final evaluation has started.

It times each SIGTERM-to-exit, checks the exit code is 75 (preempted, resumable:
gdacot/exit_codes.py), and reports per phase the median and
the worst latency, and the worst over all phases (the target: under 10 s; schedulers commonly
give 30 s before SIGKILL). The steps and checkpoint sizes are the run's own: pass
`-- --config.steps=... --config.ckpt_every=...` to move the phases.
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

from absl import flags

from gdacot import cli_common
from gdacot.exit_codes import PREEMPTED
from gdacot.io import write_json

_OUT = flags.DEFINE_string("out", None, "Where to write the JSON results.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Number of runs taken through every phase.")
_AFTER = flags.DEFINE_integer("after_steps", 200, "The training phase's SIGTERM comes once this many steps are logged.")
flags.mark_flag_as_required("out")

PHASES = ("setup", "training", "before_checkpoint", "evaluation")


def _logged_steps(workdir: str) -> list[int]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line)["step"] for line in f if line.strip().endswith("}")]


def _config(extra_flags: list[str]) -> dict:
  """steps, log_every and ckpt_every of the run as launched (the library's defaults + flags)."""
  from gdacot.train import get_config  # pylint: disable=g-import-not-at-top
  variants = [f.partition(".py:")[2] for f in extra_flags if f.startswith("--config=")]
  cfg = get_config(variants[-1] if variants else None)
  for flag in extra_flags:
    name, _, value = flag.removeprefix("--config.").partition("=")
    if name in ("steps", "log_every", "ckpt_every"):
      cfg[name] = int(value)
  return {"steps": cfg.steps, "log_every": cfg.log_every, "ckpt_every": cfg.ckpt_every}


def _stop(proc, log_path: str, ready, what: str, timeout: float = 1800) -> dict:
  deadline = time.time() + timeout
  while not ready():
    if proc.poll() is not None:
      with open(log_path) as f:
        raise RuntimeError(f"the run ended before {what}: {f.read()[-2000:]}")
    if time.time() > deadline:
      raise TimeoutError(what)
    time.sleep(0.05)
  sent = time.perf_counter()
  proc.send_signal(signal.SIGTERM)
  code = proc.wait(timeout=120)
  latency = time.perf_counter() - sent
  with open(log_path) as f:
    said = [line.strip() for line in f if line.startswith("preempted")]
  return {"latency_s": latency, "exit_code": code, "message": said[-1] if said else None}


def trial(extra_flags: list[str], after_steps: int) -> dict:
  workdir = tempfile.mkdtemp(prefix="gdacot_preempt_")
  shutil.rmtree(workdir)
  log_path = workdir + ".log"
  cfg = _config(extra_flags)
  before_ckpt = next(s for s in range(cfg["ckpt_every"] - cfg["log_every"], cfg["steps"], cfg["ckpt_every"])
                     if s > after_steps)
  text = lambda: open(log_path).read()  # pylint: disable=consider-using-with
  readiness = {
      "setup": lambda: "demos sim" in text(),
      "training": lambda: max(_logged_steps(workdir), default=0) >= after_steps,
      "before_checkpoint": lambda: max(_logged_steps(workdir), default=0) >= before_ckpt,
      "evaluation": lambda: "evaluating checkpoint" in text(),
  }
  out = {}
  try:
    for phase in PHASES:
      with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "experiments.cotrain", f"--workdir={workdir}", *extra_flags],
                                stdout=log, stderr=subprocess.STDOUT, text=True)
      try:
        out[phase] = _stop(proc, log_path, readiness[phase], phase)
      finally:
        if proc.poll() is None:
          proc.kill()
    out["before_checkpoint"]["after_step"] = before_ckpt
    return out
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
    if os.path.exists(log_path):
      os.remove(log_path)


def main(argv):
  extra = argv[1:]
  trials = []
  for i in range(_REPEATS.value):
    trials.append(trial(extra, _AFTER.value))
    print(f"trial {i}: " + ", ".join(f"{p} {t['latency_s']:.2f}s (exit {t['exit_code']})" for p, t in trials[-1].items()),
          flush=True)
  per_phase = {p: {"median_s": statistics.median(t[p]["latency_s"] for t in trials),
                   "max_s": max(t[p]["latency_s"] for t in trials)} for p in PHASES}
  result = {"extra_flags": extra, "after_steps": _AFTER.value, "trials": trials, "per_phase": per_phase,
            "worst_s": max(v["max_s"] for v in per_phase.values()),
            "all_exit_preempted": all(t[p]["exit_code"] == PREEMPTED for t in trials for p in PHASES)}
  write_json(_OUT.value, result)
  print(json.dumps({k: v for k, v in result.items() if k != "trials"}, indent=2))


if __name__ == "__main__":
  cli_common.run(main)
