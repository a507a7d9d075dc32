"""The experiment module end to end, as users run it (subprocesses, smoke config)."""

import json
import os

from runs import ENTRY_KEYS, SMOKE, SMOKE_RUN_ARGS, cotrain


def test_cli_writes_eval_json_and_prints_table(smoke_run):
  workdir, proc = smoke_run
  with open(os.path.join(workdir, "eval.json")) as f:
    results = json.load(f)["results"]
  assert [(r["domain"], r["region"]) for r in results] == [("real", "in"), ("real", "ood")]
  for r in results:
    assert ENTRY_KEYS <= set(r)
    assert r["method"] == "uot_joint" and r["seed"] == 0 and r["step"] == 60 and r["episodes"] == 8
    assert r["success_rate"] == r["successes"] / r["episodes"]
    assert 0.0 <= r["ci95"][0] <= r["success_rate"] <= r["ci95"][1] <= 1.0
  assert "success" in proc.stdout and "ci95" in proc.stdout
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "60"))


def test_smoke_run_lowers_bc_loss_and_logs_ot(smoke_run):
  workdir, _ = smoke_run
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [10, 20, 30, 40, 50, 60]
  assert rows[-1]["bc_loss"] < 0.8 * rows[0]["bc_loss"]
  for r in rows:
    for key in ("loss", "bc_loss", "align_loss", "ot_mass", "ot_cost"):
      assert key in r
    assert 0.05 < r["ot_mass"] <= 1.01


def test_rerun_same_config_resumes_without_retraining(smoke_run):
  workdir, _ = smoke_run
  proc = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS, "--config.eval.episodes=4")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resumed from checkpoint step 60" in proc.stdout
  assert "train:" not in proc.stdout  # nothing left to train
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert len(f.readlines()) == 6


def test_workdir_of_another_run_is_refused_and_untouched(smoke_run):
  workdir, _ = smoke_run
  before = {name: os.path.getmtime(os.path.join(workdir, name)) for name in os.listdir(workdir)}
  proc = cotrain(f"--workdir={workdir}", SMOKE, "--config.steps=60", "--config.method=cotrain")
  assert proc.returncode != 0
  assert "holds another run" in proc.stderr and "method" in proc.stderr
  after = {name: os.path.getmtime(os.path.join(workdir, name)) for name in os.listdir(workdir)}
  assert before == after


def test_foreign_nonempty_directory_is_refused(tmp_path):
  (tmp_path / "notes.txt").write_text("mine")
  proc = cotrain(f"--workdir={tmp_path}", SMOKE)
  assert proc.returncode != 0 and "not a gdacot run" in proc.stderr
  assert os.listdir(tmp_path) == ["notes.txt"]


# Each bad field with the message that names it. The run collects every problem of a config in
# one refusal, so one command checks them all (a subprocess each cost the suite ~50 s).
BAD_FIELDS = {
    "--config.method=dann": "unknown method 'dann'",
    "--config.w=1.5": "w (share of real samples per BC batch) must be in [0, 1]",
    "--config.align.sinkhorn_solver=pot": "align.sinkhorn_solver must be one of ('stabilized', 'ott')",
    "--config.align.rho=0": "align.rho must be positive",
    "--config.align.epsilon=-1": "align.epsilon must be positive",
    "--config.data.real_regions=('in','left')": "unknown region 'left'",
    "--config.eval.pairs=('moon:in',)": "unknown domain 'moon'",
    "--config.domains.real.cube_mass=-1": "cube_mass must be positive",
}


def test_bad_input_is_refused_before_compute_naming_every_problem(tmp_path):
  workdir = tmp_path / "run"
  proc = cotrain(f"--workdir={workdir}", SMOKE, *BAD_FIELDS, timeout=120)
  assert proc.returncode == 2, proc.stderr[-2000:]
  problems = [line for line in proc.stderr.splitlines() if line.startswith("  - ")]
  assert len(problems) == len(BAD_FIELDS), proc.stderr[-3000:]
  for message in BAD_FIELDS.values():
    assert message in proc.stderr, proc.stderr[-3000:]
  assert not workdir.exists()  # nothing written


def test_unknown_domain_field_is_refused(tmp_path):
  proc = cotrain(f"--workdir={tmp_path / 'run'}", SMOKE, "--config.domains.real.cube_colour=1", timeout=120)
  assert proc.returncode != 0
  assert "cube_colour" in proc.stderr
