"""gdacot.sweep in-process, on made-up cells (the experiment modules' smoke sweeps, every
executor included, run in tests/test_experiments.py): a URL workdir refused, --collect over
cells in every state, and the slurm executor's submitit code path (LocalExecutor,
DebugExecutor) with a stand-in for cotrain that checkpoints on SIGTERM."""

import json
import os
import signal
import sys
import time

import pytest
import submitit  # the test extra installs it (gdacot[slurm])
from test_experiments import children

from experiments import method_table
from experiments.configs import method_table as method_table_config
from gdacot import sweep
from gdacot.rollout import result_entry
from gdacot.sweep.slurm import CellJob, run_slurm
from gdacot.train import get_config, train
from gdacot.train.workdir import WorkdirError, WorkdirLock, prepare_workdir


def test_a_url_workdir_is_refused_naming_what_would_work(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # a URL taken for a relative path would be created here
  for refuse in (lambda: prepare_workdir("gs://bucket/run", {}), lambda: WorkdirLock("gs://bucket/run").acquire(),
                 lambda: train(get_config("smoke"), "s3://bucket/run")):
    with pytest.raises(WorkdirError, match="is a URL.*needs flock.*rename.*gcsfuse"):
      refuse()
  cfg = method_table_config.get_config("smoke")
  with pytest.raises(sweep.GridError, match="gs://bucket/table is a URL.*flock"):
    sweep.run_grid("method_table", cfg, method_table.make_cells(cfg), "gs://bucket/table")
  assert not os.listdir(tmp_path)


def _finish(workdir, cell, rates, wall_time_s=None):
  """A cell's run as cotrain leaves it: config.json and eval.json with one seed's results (and
  the run's wall time, where given)."""
  d = os.path.join(workdir, "runs", cell.name)
  os.makedirs(d, exist_ok=True)
  with open(os.path.join(d, "config.json"), "w") as f:
    json.dump({"method": cell.labels["method"]}, f)
  results = [result_entry(method=cell.labels["method"], domain=pair.split(":")[0], region=pair.split(":")[1],
                          successes=s, episodes=20, step=40, seed=0) for pair, s in rates.items()]
  with open(os.path.join(d, "eval.json"), "w") as f:
    json.dump({"results": results, **({} if wall_time_s is None else {"wall_time_s": wall_time_s})}, f)


def test_collect_names_the_cells_not_done_then_summarises_however_they_ran(tmp_path):
  cfg = method_table_config.get_config("smoke")
  cfg.methods = ("cotrain", "uot_joint", "mmd", "sim_only")
  cells = method_table.make_cells(cfg)
  workdir = str(tmp_path / "table")
  sweep.claim_workdir(workdir, "method_table", cfg)
  rates = {c.name: {"real:in": 5 + i, "real:ood": i, "sim:in": 20 - i} for i, c in enumerate(cells)}
  done, running, started, missing = cells
  _finish(workdir, done, rates[done.name])
  lock = WorkdirLock(os.path.join(workdir, "runs", running.name)).acquire()  # as a run holds it
  os.makedirs(os.path.join(workdir, "runs", started.name))  # stopped, no eval.json
  collect = sweep.Options(collect=True)
  with pytest.raises(sweep.Incomplete) as incomplete:
    sweep.run_grid("method_table", cfg, cells, workdir, collect)
  said = str(incomplete.value)
  assert "3 of 4 cells not done" in said
  assert f"[2/4] {running.name}: running (held by host" in said and f"pid {os.getpid()}" in said
  assert f"[3/4] {started.name}: started" in said and f"[4/4] {missing.name}: missing" in said
  assert done.name not in said
  lock.release()
  for i, cell in enumerate((running, started, missing)):
    _finish(workdir, cell, rates[cell.name], wall_time_s=1000.0 * (i + 1))
  record = sweep.run_grid("method_table", cfg, cells, workdir, collect)
  # The summary's footer gives the cells' own time (the collect itself takes a second): the
  # cells whose eval.json records it, 1000 + 2000 + 3000 s.
  sweep.write_outputs(workdir, "collected", record, "# collected\n", {})
  with open(os.path.join(workdir, "collected.md")) as f:
    assert "The 3 cells' own runs took 6000 s in all" in f.read()
  assert [r["cell"] for r in record["cells"]] == [c.name for c in cells]
  for r in record["cells"]:
    assert r["status"] == "skipped" and r["wall_time_s"] is None  # nothing ran; no timing of this sweep's
    assert {p: row["per_seed_successes"] for p, row in r["success"].items()} == {
        p: [s] for p, s in rates[r["cell"]].items()}
  assert record["cells_run"] == 0 and record["cells_skipped"] == 4
  # A workdir without the sweep, or of another config, has nothing to collect.
  with pytest.raises(sweep.GridError, match="holds no method_table sweep to collect"):
    sweep.run_grid("method_table", cfg, cells, str(tmp_path / "empty"), collect)
  cfg.seed = 3
  with pytest.raises(sweep.GridError, match="seed: 0 there, 3 here"):
    sweep.run_grid("method_table", cfg, cells, workdir, collect)


# A stand-in for cotrain: "trains" until SIGTERM, then saves a checkpoint and exits 75, as cotrain
# does; run again, it resumes from that checkpoint and finishes with an eval.json.
_FAKE_COTRAIN = """
import os, signal, sys, time
run_dir = sys.argv[1]
os.makedirs(run_dir, exist_ok=True)
checkpoint = os.path.join(run_dir, "checkpoint")
if os.path.exists(checkpoint):
  print("resumed from checkpoint", flush=True)
  open(os.path.join(run_dir, "eval.json"), "w").write("{}")
  sys.exit(0)
def stop(*_):
  open(checkpoint, "w").write("saved")
  print("preempted (SIGTERM): checkpoint saved", flush=True)
  sys.exit(75)
signal.signal(signal.SIGTERM, stop)
print("training", flush=True)
time.sleep(float(sys.argv[2]))
sys.exit(int(sys.argv[3]))
"""


def _fake_cell(tmp_path, name, train_s=600.0, exit_code=0):
  run_dir = str(tmp_path / "runs" / name)
  return sweep.CellRun(name, (sys.executable, "-c", _FAKE_COTRAIN, run_dir, str(train_s), str(exit_code)), run_dir,
                       str(tmp_path / "logs" / f"{name}.log"), str(tmp_path / "logs" / f"{name}.json"))


def _wait_for(predicate, what, timeout=120):
  deadline = time.time() + timeout
  while not predicate():
    assert time.time() < deadline, f"timed out waiting for {what}"
    time.sleep(0.1)


def test_a_preempted_slurm_task_checkpoints_its_cell_and_is_requeued(tmp_path):
  # submitit's LocalExecutor runs the task as SLURM would (a process running submitit's job
  # entry point, its signal handlers installed); USR2 is what SLURM sends before a time limit
  # or on preemption (submitit's --signal), and what submitit answers by checkpoint + requeue.
  run = _fake_cell(tmp_path, "cell")
  executor = submitit.LocalExecutor(folder=str(tmp_path / "slurm"), max_num_timeout=3)
  executor.update_parameters(timeout_min=10)
  job = executor.submit(CellJob(run))
  # (Its own line: the command, at the top of the log, holds the word too.)
  _wait_for(lambda: os.path.exists(run.log_path) and "\ntraining\n" in open(run.log_path).read(), "the cell to train")
  tasks = children(job._process.pid)  # pylint: disable=protected-access  (the controller's one task)
  assert len(tasks) == 1
  os.kill(tasks[0], signal.SIGUSR2)
  assert job.result() == "ran"
  log = open(run.log_path).read()
  # (Lines of their own: the command, logged before each run, holds these words too.)
  assert log.count("\n$ ") + log.startswith("$ ") == 2 and "\npreempted (SIGTERM): checkpoint saved\n" in log
  assert "\n--- the job was preempted or reached its time limit and passed it on (exit code 75)" in log
  assert log.endswith("\nresumed from checkpoint\n")
  timing = json.loads(open(run.timing_path).read())
  assert timing["status"] == "ran" and timing["runs"] == 2
  assert "Requeued job" in (job.stderr() or "") + (job.stdout() or "")


def test_slurm_executor_through_submitit_debug_and_a_failed_task(tmp_path):
  # DebugExecutor: the same job object, run in this process.
  finished = []
  quick = _fake_cell(tmp_path, "quick", train_s=0)
  os.makedirs(quick.run_dir)
  open(os.path.join(quick.run_dir, "checkpoint"), "w").close()  # resumes and finishes at once
  run_slurm([("[1/1] quick", quick)], sweep.SlurmOptions(cluster="debug"), str(tmp_path / "slurm"), "t",
            lambda tag, run: finished.append(tag))
  assert finished == ["[1/1] quick"] and os.path.exists(os.path.join(quick.run_dir, "eval.json"))
  # A task whose cell fails: the sweep names the cell and its log, after waiting for the others.
  broken = _fake_cell(tmp_path, "broken", train_s=0, exit_code=1)
  with pytest.raises(sweep.CellFailed, match=r"\[1/1\] broken: job .* failed, the cell failed; see .*broken.log"):
    run_slurm([("[1/1] broken", broken)], sweep.SlurmOptions(cluster="local"), str(tmp_path / "slurm"), "t",
              lambda tag, run: finished.append(tag))
  assert json.loads(open(broken.timing_path).read())["status"] == "failed"


def test_bad_sweep_options_are_refused_before_any_work(tmp_path):
  cfg = method_table_config.get_config("smoke")
  cells = method_table.make_cells(cfg)
  for options, message in [(sweep.Options(executor="kubernetes"), "executor must be one of"),
                           (sweep.Options(parallel=0), "parallel must be a positive integer"),
                           (sweep.Options(executor="slurm", slurm=sweep.SlurmOptions(time_min=0)),
                            "slurm time_min must be positive"),
                           (sweep.Options(executor="slurm", slurm=sweep.SlurmOptions(cluster="pbs")),
                            "slurm cluster must be one of")]:
    with pytest.raises(sweep.GridError, match=message):
      sweep.run_grid("method_table", cfg, cells, str(tmp_path / "never"), options)
  assert not (tmp_path / "never").exists()
