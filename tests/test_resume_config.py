"""Rerunning the same command resumes a run with the config it started with, and a workdir
damaged at its edges (an unreadable config.json, temporary files a kill left) still resumes.

The command-line case with a real old run is tests/test_compat.py (a workdir written at commit
f97c969, resumed by the command as it was typed)."""

import json
import os
import shutil

import pytest
from runs import SMOKE_RUN_ARGS, cotrain

from gdacot.train.config import get_config
from gdacot.train.workdir import WorkdirError, prepare_workdir, resume_config


def _workdir_of(tmp_path, cfg) -> str:
  workdir = str(tmp_path / "run")
  prepare_workdir(workdir, cfg.to_dict())
  return workdir


def test_fields_the_user_did_not_set_take_the_saved_values_with_one_line_each(tmp_path):
  started = get_config("smoke")
  started.align.sinkhorn_solver, started.align.sinkhorn_momentum = "ott", 1.0  # defaults of an older gdacot
  workdir = _workdir_of(tmp_path, started)
  lines = []
  cfg = resume_config(get_config("smoke"), workdir, explicit=["steps"], log=lines.append)
  assert (cfg.align.sinkhorn_solver, cfg.align.sinkhorn_momentum) == ("ott", 1.0)
  assert lines == ["resuming with the saved align.sinkhorn_momentum=1.0; today's default is 1.2",
                   "resuming with the saved align.sinkhorn_solver='ott'; today's default is 'stabilized'"]
  prepare_workdir(workdir, cfg.to_dict(), check_only=True)  # the resumed config is the saved one


def test_an_explicit_override_that_differs_is_refused_naming_it_and_an_equal_one_is_not(tmp_path):
  started = get_config("smoke")
  started.align.lam = 0.3
  workdir = _workdir_of(tmp_path, started)
  with pytest.raises(WorkdirError, match=r"align\.lam: 0\.3 -> 0\.01"):
    resume_config(get_config("smoke"), workdir, explicit=["align.lam"], log=lambda line: None)
  again = get_config("smoke")
  again.align.lam = 0.3
  assert resume_config(again, workdir, explicit=["align.lam"], log=lambda line: None).align.lam == 0.3
  # A whole block named explicitly covers its fields.
  with pytest.raises(WorkdirError, match=r"align\.lam"):
    resume_config(get_config("smoke"), workdir, explicit=["align"], log=lambda line: None)


def test_from_python_the_fields_that_differ_from_the_defaults_are_the_explicit_ones(tmp_path):
  started = get_config("smoke")
  started.align.sinkhorn_solver = "ott"
  workdir = _workdir_of(tmp_path, started)
  assert resume_config(get_config("smoke"), workdir, log=lambda line: None).align.sinkhorn_solver == "ott"
  changed = get_config("smoke")
  changed.seed = 7  # set by the caller: differs from the default and from the saved seed
  with pytest.raises(WorkdirError, match=r"seed: 0 -> 7"):
    resume_config(changed, workdir, log=lambda line: None)


def test_the_eval_block_is_the_callers_and_tuples_stay_tuples(tmp_path):
  started = get_config("smoke")
  started.eval.pairs = ("real:in",)
  started.align.sinkhorn_solver = "ott"
  workdir = _workdir_of(tmp_path, started)
  cfg = resume_config(get_config("smoke"), workdir, explicit=[], log=lambda line: None)
  assert cfg.eval.pairs == get_config("smoke").eval.pairs
  assert isinstance(cfg.eval.pairs, tuple)


def test_a_saved_field_this_version_lacks_is_refused_naming_it(tmp_path):
  workdir = _workdir_of(tmp_path, get_config("smoke"))
  path = os.path.join(workdir, "config.json")
  saved = json.load(open(path))
  saved["align"]["dropped_option"] = 3
  json.dump(saved, open(path, "w"))
  with pytest.raises(WorkdirError, match=r"no longer has: align\.dropped_option=3.*version that started it"):
    resume_config(get_config("smoke"), workdir, explicit=[], log=lambda line: None)


def test_temporary_files_a_kill_left_do_not_make_a_workdir_foreign_and_are_removed(tmp_path):
  # Killed during the first config write: the workdir holds only the lock and a temporary file.
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / ".lock").write_text("")
  (workdir / ".config.json.0123abcd.tmp.json").write_text('{"ta')
  assert prepare_workdir(str(workdir), get_config("smoke").to_dict(), check_only=True) is False
  assert prepare_workdir(str(workdir), get_config("smoke").to_dict()) is False
  assert sorted(os.listdir(workdir)) == [".lock", "config.json"]
  # Anything else still makes it foreign.
  (workdir / "config.json").unlink()
  (workdir / "notes.txt").write_text("mine")
  with pytest.raises(WorkdirError, match="not a gdacot run"):
    prepare_workdir(str(workdir), get_config("smoke").to_dict(), check_only=True)


def test_an_unreadable_config_json_is_restored_from_the_newest_checkpoint(smoke_run, tmp_path):
  finished, _ = smoke_run
  workdir = tmp_path / "run"
  shutil.copytree(finished, workdir, ignore=shutil.ignore_patterns(".lock"))
  original = json.loads((workdir / "config.json").read_text())
  (workdir / "config.json").write_text("")  # what an OS crash after an unsynced write leaves
  (workdir / "demos" / ".sim.npz.0123abcd.tmp.npz").write_bytes(b"PK")  # and a cut-off write
  proc = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "config.json is unreadable" in proc.stdout and "using the config saved with checkpoint 60" in proc.stdout
  assert json.loads((workdir / "config.json").read_text()) == original
  assert not (workdir / "demos" / ".sim.npz.0123abcd.tmp.npz").exists()


def test_an_unreadable_config_json_without_checkpoints_is_refused(tmp_path):
  workdir = _workdir_of(tmp_path, get_config("smoke"))
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write("{")
  with pytest.raises(WorkdirError, match="unreadable .* no checkpoint holds the run's config"):
    resume_config(get_config("smoke"), workdir, explicit=[], log=lambda line: None)


def test_a_resumed_log_holds_one_row_per_step(tmp_path):
  # A log written before the one-writer fix could hold a step's unscored row (the watchdog's)
  # and its scored one (the loop's): the resume keeps the last written, and drops rows past it.
  from gdacot.train.metrics import MetricsWriter, read_metrics
  rows = [{"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.5, "unscored": 1.0},
          {"step": 20, "loss": 0.5, "eval/real:in": 0.75}, {"step": 30, "loss": 0.4}]
  (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4')
  MetricsWriter(str(tmp_path), resume_step=20).close()
  assert read_metrics(str(tmp_path)) == [rows[0], rows[2]]
