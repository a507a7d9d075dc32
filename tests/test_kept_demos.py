"""A run keeps its generated demos in WORKDIR/demos, and its resumes sample from those: a run
resumed where demos would generate otherwise (another CPU, other XLA flags) continues on them
(tests/test_compat.py), and without them is refused saying why."""

import json
import os
import shutil

import numpy as np
from runs import SMOKE_RUN_ARGS, cotrain, logged_losses, xla_flags

from gdacot.data import demo_files
from gdacot.data.demos import Demos
from gdacot.train import kept_demos
from gdacot.train.checkpoints import Checkpoints

# Other codegen than the suite's (conftest.py): XLA:CPU's fusion emitters on, which gdacot
# turns off by default. Demos generated under it round otherwise, as on another kind of CPU.
OTHER_CODEGEN = {"XLA_FLAGS": xla_flags("--xla_cpu_use_fusion_emitters=true")}


def _cut_back_to_20(finished: str, workdir: str) -> str:
  """A copy of a finished smoke run as it was when its step-20 checkpoint was the newest."""
  shutil.copytree(finished, workdir, ignore=shutil.ignore_patterns(".lock"))
  for step in ("40", "60"):
    shutil.rmtree(os.path.join(workdir, "checkpoints", step))
  os.remove(os.path.join(workdir, "eval.json"))
  return workdir


def test_a_run_keeps_the_demos_its_checkpoints_were_trained_on(smoke_run):
  workdir, proc = smoke_run
  record = Checkpoints(os.path.join(workdir, "checkpoints"), read_only=True).read_record(60)
  for name in ("sim", "real"):
    kept = demo_files.read(kept_demos.path(workdir, name))
    assert kept.fingerprint() == record["sampler"]["data"][name]


def test_without_its_kept_demos_a_resume_under_other_codegen_is_refused_saying_why(smoke_run, tmp_path):
  # Demos generated under other codegen are not those the checkpoint was trained on: refused,
  # before anything is written. (With its kept demos such a resume continues: test_compat resumes
  # a workdir made under other XLA flags than the suite's.)
  lost = _cut_back_to_20(smoke_run[0], str(tmp_path / "lost"))
  os.remove(kept_demos.path(lost, "real"))
  proc = cotrain(f"--workdir={lost}", *SMOKE_RUN_ARGS, timeout=300, **OTHER_CODEGEN)
  assert proc.returncode == 2 and "real demos that" in proc.stderr and "does not keep" in proc.stderr, proc.stderr[-3000:]
  assert not os.path.exists(kept_demos.path(lost, "real"))


def test_a_changed_kept_file_is_refused_and_a_lost_one_generated_again(smoke_run, tmp_path):
  reference, _ = smoke_run
  # One float changed: not the demos checkpoint 20 was trained on.
  changed = _cut_back_to_20(reference, str(tmp_path / "changed"))
  sim = demo_files.read(kept_demos.path(changed, "sim"))
  obs = np.array(sim.obs)
  obs[0, 0, 0] += 1e-3
  demo_files.write(kept_demos.path(changed, "sim"), Demos(obs=obs, actions=sim.actions, lengths=sim.lengths))
  proc = cotrain(f"--workdir={changed}", *SMOKE_RUN_ARGS, timeout=300)
  assert proc.returncode == 2 and f"{kept_demos.path(changed, 'sim')} is not the sim demos checkpoint 20" in proc.stderr
  # A damaged file (a crash mid-way through a copy): generated again, and where they come out
  # the same (this machine, these flags) the run goes on and keeps them anew.
  damaged = _cut_back_to_20(reference, str(tmp_path / "damaged"))
  with open(kept_demos.path(damaged, "real"), "r+b") as f:
    f.truncate(100)
  proc = cotrain(f"--workdir={damaged}", *SMOKE_RUN_ARGS)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "does not read" in proc.stdout and "resumed from checkpoint step 20" in proc.stdout
  assert logged_losses(damaged) == logged_losses(reference)
  record = json.loads(json.dumps(Checkpoints(os.path.join(damaged, "checkpoints"), read_only=True).read_record(60)))
  assert demo_files.read(kept_demos.path(damaged, "real")).fingerprint() == record["sampler"]["data"]["real"]
