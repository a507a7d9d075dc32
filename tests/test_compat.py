"""A workdir written by an older gdacot resumes with this one, on any CPU.

tests/data/workdir_before_issue15 is the smoke run of SMOKE_RUN_ARGS as the commit before the
library took over the run (f97c969) wrote it, cut back to its step-20 checkpoint; its
metrics.jsonl still holds the old run's own rows up to step 60. Its config.json has the old
`rlds.*` key-map block and no `sources` block.

The old code did not keep its demos. Generated again, they come out bitwise the same only on
the kind of CPU and with the versions and XLA flags that made them (an AVX-512 EPYC rounds them
otherwise, and the checkpoint refuses them), so tests/data/workdir_before_issue15_demos ships
them as this version keeps a run's demos (WORKDIR/demos/, gdacot.train.kept_demos): written by
this version's demo generation on the fixture's machine, their fingerprints are those the
checkpoint recorded. Nothing here compares against bits made on another machine: the resumed
losses are held to the old run's own within a tolerance, and the resume runs under other XLA
flags than the fixture was made with, so that on every machine it reads the kept demos: the
start and the resume of one run under different XLA_FLAGS, which regenerate other demos (the
second test shows they do), continuing without a flag.
"""

import json
import os
import shutil

import numpy as np

from runs import SMOKE_RUN_ARGS, cotrain, logged_losses, xla_flags

OLD = os.path.join(os.path.dirname(__file__), "data", "workdir_before_issue15")
OLD_DEMOS = os.path.join(os.path.dirname(__file__), "data", "workdir_before_issue15_demos")
# Its saved config predates the Sinkhorn settings (issue 18): it keeps the solver it ran with.
# The same command resumes it (fields the command does not set take the saved values); naming
# the saved values explicitly is accepted too.
OLD_SOLVER = ("--config.align.sinkhorn_recenter=False", "--config.align.sinkhorn_momentum=1.0",
              "--config.align.sinkhorn_check_every=10", "--config.align.sinkhorn_solver=ott")
# The old run was made with XLA:CPU's fusion emitters on and XLA's default optimisation; the
# suite compiles with the emitters off (gdacot's default) at level 0 (conftest.py): other
# codegen, so other demos, as on another CPU.
OTHER_CODEGEN = {"XLA_FLAGS": xla_flags("--xla_cpu_use_fusion_emitters=false")}
# The resumed run's losses against the old run's own (same demos, same state at step 20): they
# differ only by float rounding (1e-6 relative between two CPUs), where a resume that lost its
# state or optimiser moments is 20-30% off at step 30.
LOSS_RTOL = 1e-3


def _old_workdir(tmp_path, with_demos=True):
  workdir = tmp_path / "old"
  shutil.copytree(OLD, workdir)
  if with_demos:
    shutil.copytree(OLD_DEMOS, workdir / "demos")
  return workdir


def test_a_workdir_from_before_resumes_and_continues_the_old_run(tmp_path):
  workdir = _old_workdir(tmp_path)
  saved = json.loads((workdir / "config.json").read_text())
  assert "sources" not in saved and saved["rlds"]["sim"]["split"] == "train"  # the old shape
  old_rows = dict(logged_losses(OLD))
  proc = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS, **OTHER_CODEGEN)  # the command as it was typed
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  # Today's defaults differ: the run keeps what it started with, and says so, one line each.
  assert "resuming with the saved align.sinkhorn_solver='ott'; today's default is 'stabilized'" in proc.stdout
  assert "resuming with the saved align.sinkhorn_momentum=1.0; today's default is 1.2" in proc.stdout
  assert "resumed from checkpoint step 20" in proc.stdout
  assert "demos sim: 16 demos" in proc.stdout and f"kept in {workdir}/demos/sim.npz" in proc.stdout
  resumed = logged_losses(str(workdir))
  assert [s for s, _ in resumed] == [10, 20, 30, 40, 50, 60]
  assert resumed[:2] == [(s, old_rows[s]) for s in (10, 20)]  # the old rows are kept as written
  np.testing.assert_allclose([l for _, l in resumed[2:]], [old_rows[s] for s in (30, 40, 50, 60)], rtol=LOSS_RTOL)
  assert json.loads((workdir / "eval.json").read_text())["results"]
  # The saved config is left as the old run wrote it: nothing of the older run is rewritten.
  assert json.loads((workdir / "config.json").read_text()) == saved


def test_without_its_demos_the_old_workdir_is_refused_naming_why(tmp_path):
  # The demos generated under other codegen are not those checkpoint 20 was trained on: the
  # run is refused with the reason, and nothing is written (no demos kept that it refuses).
  workdir = _old_workdir(tmp_path, with_demos=False)
  proc = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS, *OLD_SOLVER, timeout=300, **OTHER_CODEGEN)
  assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "does not keep" in proc.stderr and "same kind of CPU" in proc.stderr
  assert not (workdir / "demos").exists()


def test_an_override_that_differs_from_the_saved_config_is_refused_naming_it(tmp_path):
  workdir = tmp_path / "old"
  shutil.copytree(OLD, workdir)
  before = sorted(p.name for p in workdir.rglob("*"))
  proc = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS, "--config.w=0.3", timeout=120)
  assert proc.returncode == 2 and "holds another run" in proc.stderr and "w: 0.1 -> 0.3" in proc.stderr
  assert "align.sinkhorn" not in proc.stderr  # what the user did not set is not held against them
  assert sorted(p.name for p in workdir.rglob("*")) == before  # nothing written


def test_a_saved_config_keeps_the_sinkhorn_it_ran_with():
  # Saved before the solver settings: OTT's plain solver; saved with the settings but before the
  # solver field: OTT's solver with those settings; saved with the field: as saved.
  from gdacot.train.config import complete_saved_config, get_config
  base = get_config().to_dict()
  align = {k: v for k, v in base["align"].items() if not k.startswith("sinkhorn_") or k == "sinkhorn_iters"}
  oldest = complete_saved_config(dict(base, align=align))["align"]
  assert (oldest["sinkhorn_solver"], oldest["sinkhorn_recenter"], oldest["sinkhorn_momentum"],
          oldest["sinkhorn_check_every"]) == ("ott", False, 1.0, 10)
  settings = dict(align, sinkhorn_recenter=True, sinkhorn_momentum=1.2, sinkhorn_check_every=5)
  middle = complete_saved_config(dict(base, align=settings))["align"]
  assert (middle["sinkhorn_solver"], middle["sinkhorn_momentum"]) == ("ott", 1.2)
  assert complete_saved_config(base)["align"]["sinkhorn_solver"] == "stabilized"
