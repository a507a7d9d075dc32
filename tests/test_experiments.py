"""gdacot.sweep and the experiment modules built on it (method_table, mixing_sweep, sim_scaling,
alignment_analysis): statistics, claims and checks in-process on made-up cells; each module's smoke
grid as users run it (a subprocess, shared by the tests of this file), its resumption and its
refusals."""

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from runs import ROOT, env_for_subprocess, module

from experiments import alignment_analysis, method_table, mixing_sweep, sim_scaling
from gdacot import sweep
from experiments.configs import alignment_analysis as alignment_analysis_config
from experiments.configs import method_table as method_table_config
from experiments.configs import mixing_sweep as mixing_sweep_config
from experiments.configs import sim_scaling as sim_scaling_config
from gdacot import stats
from gdacot.rollout import result_entry

MODULES = {"method_table": (method_table, method_table_config), "mixing_sweep": (mixing_sweep, mixing_sweep_config),
           "sim_scaling": (sim_scaling, sim_scaling_config),
           "alignment_analysis": (alignment_analysis, alignment_analysis_config)}
PNG = b"\x89PNG\r\n\x1a\n"


def experiment(name, workdir, *args, variant="smoke"):
  return module(f"experiments.{name}", f"--config=experiments/configs/{name}.py:{variant}", f"--workdir={workdir}",
                *args, timeout=900)


def smoke_fixture(name, *args):
  @pytest.fixture(scope="module")
  def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp(name) / "smoke"
    proc = experiment(name, workdir, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir, proc, strict_json(workdir / f"{name}.json")
  return run


method_table_run = smoke_fixture("method_table")
mixing_sweep_run = smoke_fixture("mixing_sweep", "--parallel=2")  # its cells two at a time
sim_scaling_run = smoke_fixture("sim_scaling")
alignment_analysis_run = smoke_fixture("alignment_analysis")


def strict_json(path):
  """The file's JSON; NaN or Infinity in it fail (they are not JSON)."""
  def refuse(token):
    raise AssertionError(f"{path} holds {token}")
  return json.loads(path.read_text(), parse_constant=refuse)


def snapshot(root):
  return {os.path.relpath(os.path.join(d, f), root): os.stat(os.path.join(d, f)).st_mtime_ns
          for d, _, files in os.walk(root) for f in files}


def finite(*xs):
  return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


def check_common_outputs(name, workdir, proc, record, pngs):
  """What every module writes: JSON with config, machine, cells (per seed too), Markdown, PNGs."""
  cfg = MODULES[name][1].get_config("smoke")
  assert record["experiment"] == name and record["config"] == json.loads(json.dumps(cfg.to_dict()))
  assert record["seeds"] == [0] and record["num_seeds"] == 1 and "Wilson" in record["interval_note"]
  assert {"platform", "jax_backend", "cpu_count"} <= set(record["machine"]) and record["machine"]["jax_backend"] == "cpu"
  assert finite(record["wall_time_s"]) and record["cells_run"] == len(record["cells"]) and record["cells_skipped"] == 0
  # The config each cell trained with is the one the grid checked in-process before any work.
  cells = MODULES[name][0].make_cells(cfg)
  assert [c.name for c in cells] == [r["cell"] for r in record["cells"]]
  for cell, r in zip(cells, record["cells"]):
    assert r["cotrain_config"] == json.loads(json.dumps(sweep.resolve(cell, cfg).to_dict()))
    assert r["status"] == "ran" and finite(r["wall_time_s"], r["cotrain_wall_time_s"])
    assert "--config.num_seeds=1" in r["command"] and "--config.seed=0" in r["command"]
    assert (workdir / "runs" / r["cell"] / "eval.json").is_file() and (workdir / "logs" / f"{r['cell']}.log").is_file()
    assert r["seeds"] == [0] and set(r["success"]) == set(cfg.eval_pairs)
    for row in r["success"].values():
      assert finite(row["mean"], *row["pooled_wilson95"]) and row["per_seed"] == [row["mean"]]
      assert row["seed_ci95"] is None  # one seed: no interval over seeds
    assert [a["seed"] for a in r["alignment_per_seed"]] == [0]
    assert finite(r["alignment"]["wasserstein"]["mean"], r["alignment"]["discernibility"]["mean"])
    assert finite(r["demos"]["sim_frames"], r["demos"]["real_frames"])
    assert f"[{cells.index(cell) + 1}/{len(cells)}] {r['cell']}: running" in proc.stdout
  assert record["outputs"][:2] == [f"{name}.json", f"{name}.md"]
  assert "| " in (workdir / f"{name}.md").read_text() and "wrote" in proc.stdout
  for png in pngs:
    assert (workdir / png).read_bytes()[:8] == PNG
  assert set(pngs) <= set(record["outputs"])


# --- the smoke grids, end to end ---------------------------------------------------------------

def test_method_table_smoke(method_table_run):
  workdir, proc, record = method_table_run
  check_common_outputs("method_table", workdir, proc, record, ["method_table.png"])
  assert [r["labels"] for r in record["cells"]] == [{"gap": "physics", "method": "cotrain"},
                                                    {"gap": "physics", "method": "uot_joint"}]
  claims = record["claims"]
  diffs = claims["uot_joint_minus_baseline"]
  assert [(d["baseline"], d["pair"]) for d in diffs] == [("cotrain", "real:in"), ("cotrain", "real:ood")]
  for d in diffs:
    assert finite(d["mean_diff"]) and d["ci95"] is None and d["seeds"] == [0]
    assert d["mean_diff"] == pytest.approx(d["uot_joint"] - d["cotrain"])
  assert [c["n"] for c in claims["w2_vs_real_success"]] == [2, 2]  # too few methods for r: said so
  assert all(c["r"] is None and "at least 3" in c["note"] for c in claims["w2_vs_real_success"])
  assert any("uot_joint - mmd" in n for n in claims["not_computed"])
  assert any("cfg_adda" in n for n in claims["not_computed"])
  table = (workdir / "method_table.md").read_text()
  assert "| method | physics real/in | physics real/ood | physics sim/in |" in table
  assert "## Claims" in table and "uot_joint - cotrain, physics gap, real/in" in table


def test_mixing_sweep_smoke(mixing_sweep_run):
  workdir, proc, record = mixing_sweep_run
  check_common_outputs("mixing_sweep", workdir, proc, record, ["mixing_sweep.png"])
  g = record["guideline"]
  demos = record["cells"][0]["demos"]
  n, m = demos["real_frames"], demos["sim_frames"]
  assert (g["real_frames_N"], g["sim_frames_M"]) == (n, m)
  assert g["w_natural"] == pytest.approx(n / (n + m)) and g["w_upper"] == pytest.approx(math.sqrt(n / m))
  assert g["upper_applies"] == (m > 5 * n)
  batch = record["cells"][0]["cotrain_config"]["batch_size"]
  assert [r["w_effective"] for r in record["cells"]] == [round(0.1 * batch) / batch, round(0.5 * batch) / batch]
  assert [(b["method"], b["pair"]) for b in record["best_w"]] == [("cotrain", "real:in"), ("cotrain", "real:ood")]
  assert "natural w_n = N/(N+M)" in (workdir / "mixing_sweep.md").read_text()
  # Run two at a time (--parallel=2), its cells' records are still in the grid's order.
  assert "2 at a time" in proc.stdout and len(record["cells"]) == 2


def test_parallel_cells_are_given_gpu_memory_shares_that_sum_below_the_whole(monkeypatch):
  # What the grid controls: each cell's JAX is told its share (JAX preallocates 75% of a GPU per
  # process by default, so two cells would not fit). Whether JAX honours it needs a GPU, which
  # this suite has not; the name claims no more than this checks.
  for var in ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_ALLOCATOR"):
    monkeypatch.delenv(var, raising=False)
  assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in sweep.cell_environment(1)  # one cell: JAX's default
  for parallel in range(2, 9):
    share = float(sweep.cell_environment(parallel)["XLA_PYTHON_CLIENT_MEM_FRACTION"])
    assert 0.9 - 0.01 <= parallel * share <= 0.9, parallel  # all of them, with 10% left for the driver
  monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # the user's own setting wins
  assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in sweep.cell_environment(4)
  with pytest.raises(sweep.GridError, match="parallel must be a positive integer"):
    sweep.run_grid("method_table", method_table_config.get_config("smoke"), [], "/nonexistent", sweep.Options(parallel=0))


def test_sim_scaling_smoke(sim_scaling_run):
  workdir, proc, record = sim_scaling_run
  check_common_outputs("sim_scaling", workdir, proc, record, ["sim_scaling_sim.png", "sim_scaling_real.png"])
  # The cell at both fixed counts (16 sim, 4 real) serves both axes: 3 cells, not 4.
  assert [r["cell"] for r in record["cells"]] == ["cotrain-sim8-real4", "cotrain-sim16-real4", "cotrain-sim16-real2"]
  assert record["axes"]["sim"]["cells"]["cotrain"] == ["cotrain-sim8-real4", "cotrain-sim16-real4"]
  assert record["axes"]["real"]["cells"]["cotrain"] == ["cotrain-sim16-real2", "cotrain-sim16-real4"]
  frames = {r["cell"]: r["demos"] for r in record["cells"]}
  assert frames["cotrain-sim8-real4"]["sim_frames"] < frames["cotrain-sim16-real4"]["sim_frames"]
  assert frames["cotrain-sim16-real2"]["real_frames"] < frames["cotrain-sim16-real4"]["real_frames"]


def test_alignment_analysis_smoke(alignment_analysis_run):
  workdir, proc, record = alignment_analysis_run
  pngs = ["alignment_analysis.png", "pca/cotrain.png", "pca/uot_joint.png"]
  check_common_outputs("alignment_analysis", workdir, proc, record, pngs)
  assert [m["method"] for m in record["methods"]] == ["cotrain", "uot_joint"]
  for m in record["methods"]:
    assert finite(m["wasserstein"]["mean"], *m["wasserstein"]["per_seed"], m["discernibility"]["mean"])
    assert m["regime"] in ("disjoint", "structured-aligned", "overlapping")
  assert [(c["metric"], c["pair"]) for c in record["correlations"]] == [
      (metric, pair) for metric in ("wasserstein", "discernibility") for pair in ("real:in", "real:ood", "sim:ood")]
  assert all(c["over_methods"]["n"] == 2 for c in record["correlations"])
  assert "Pearson correlation" in (workdir / "alignment_analysis.md").read_text()


def test_rerun_skips_finished_cells_and_leaves_them_untouched(method_table_run):
  workdir, _, first = method_table_run
  runs_before = snapshot(workdir / "runs")
  proc = experiment("method_table", workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "(resuming)" in proc.stdout and ": running" not in proc.stdout
  assert proc.stdout.count("skipped (finished: eval.json exists)") == 2
  assert snapshot(workdir / "runs") == runs_before
  again = strict_json(workdir / "method_table.json")
  assert again["cells_run"] == 0 and again["cells_skipped"] == 2
  assert [r["success"] for r in again["cells"]] == [r["success"] for r in first["cells"]]
  assert again["claims"] == first["claims"]


def summary_numbers(record):
  """What a method table says of each cell and its claims: every number, wall times, statuses,
  commands and paths aside (they name the executor and the workdir)."""
  keys = ("labels", "seeds", "demos", "results", "success", "alignment", "alignment_per_seed")
  return {"cells": {r["cell"]: {k: r[k] for k in keys} for r in record["cells"]}, "claims": record["claims"]}


def process_of(run_dir):
  """The pid of the cotrain process training in run_dir (Linux /proc)."""
  for entry in filter(str.isdigit, os.listdir("/proc")):
    with contextlib.suppress(OSError):
      with open(f"/proc/{entry}/cmdline", "rb") as f:
        args = f.read().decode().split("\0")
      if "experiments.cotrain" in args and f"--workdir={run_dir}" in args:
        return int(entry)
  return None


def seeded_with(local_dir, workdir, cell):
  """A workdir of the same sweep in which `cell` is already done, copied from the local run: a
  sweep on it runs the other cell only (finished cells are skipped)."""
  os.makedirs(workdir / "runs")
  shutil.copy(local_dir / sweep.MARKER, workdir / sweep.MARKER)
  shutil.copytree(local_dir / "runs" / cell, workdir / "runs" / cell)
  return workdir


def test_every_executor_gives_the_same_summary(method_table_run, tmp_path):
  # The smoke table as the fixture ran it (executor local), and as each other executor runs it:
  # slurm (a job array through submitit's LocalExecutor; its cell killed mid-training and the
  # sweep resubmitted) and print (its commands piped to a shell, then --collect). To keep the
  # suite short each of these runs one of the two cells, the other copied from the local run:
  # every number of the cell an executor ran must equal the local run's.
  local_dir, _, local = method_table_run
  slurm_dir = seeded_with(local_dir, tmp_path / "slurm", "physics-cotrain")
  slurm_args = ("--executor=slurm", "--slurm_cluster=local")
  victim = slurm_dir / "runs" / "physics-uot_joint"
  submitted = subprocess.Popen([sys.executable, "-m", "experiments.method_table", f"--workdir={slurm_dir}",
                                "--config=experiments/configs/method_table.py:smoke", *slurm_args],
                               cwd=ROOT, env=env_for_subprocess(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
  checkpoints = victim / "checkpoints"
  checkpointed = lambda: checkpoints.is_dir() and any(d.isdigit() for d in os.listdir(checkpoints))
  try:
    deadline = time.time() + 600
    while not checkpointed() and submitted.poll() is None and time.time() < deadline:
      time.sleep(0.1)
    pid = process_of(victim)
    assert checkpointed() and pid, "the cell did not reach a checkpoint, or finished before it could be killed"
    os.kill(pid, signal.SIGKILL)
    out, err = submitted.communicate(timeout=900)
  finally:
    if submitted.poll() is None:
      submitted.kill()
      submitted.wait()
  assert submitted.returncode == 1, out[-2000:] + err[-2000:]
  assert "[1/2] physics-cotrain: skipped" in out and "submitted 1 cell(s) to local" in out
  assert "[2/2] physics-uot_joint: job" in err and "the cell failed" in err
  again = experiment("method_table", slurm_dir, *slurm_args)  # resubmitted
  assert again.returncode == 0 and "submitted 1 cell(s) to local" in again.stdout, again.stderr[-2000:]
  assert "resumed from checkpoint step" in (slurm_dir / "logs" / "physics-uot_joint.log").read_text()
  assert strict_json(slurm_dir / "logs" / "physics-uot_joint.json")["runs"] == 2
  slurm = strict_json(slurm_dir / "method_table.json")

  print_dir = seeded_with(local_dir, tmp_path / "print", "physics-uot_joint")
  printed = experiment("method_table", print_dir, "--executor=print")
  assert printed.returncode == 0 and "then rerun this command with --collect" in printed.stderr, printed.stderr[-2000:]
  commands = printed.stdout.splitlines()  # stdout holds the commands alone, one a line
  assert len(commands) == 1 and commands[0].startswith("cd ") and " -m experiments.cotrain " in commands[0]
  early = experiment("method_table", print_dir, "--collect")  # nothing ran yet: no summary
  assert early.returncode == 1 and not (print_dir / "method_table.json").exists()
  assert "1 of 2 cells not done" in early.stderr and "[1/2] physics-cotrain: missing (never started)" in early.stderr
  shell = subprocess.run(["sh"], input=printed.stdout, env=env_for_subprocess(), capture_output=True, text=True,
                         timeout=900)
  assert shell.returncode == 0, shell.stderr[-2000:]
  collected = experiment("method_table", print_dir, "--collect")
  assert collected.returncode == 0, collected.stderr[-2000:]
  printed_record = strict_json(print_dir / "method_table.json")

  expected = summary_numbers(local)
  assert len(expected["cells"]) == 2 and all(c["success"] for c in expected["cells"].values())
  assert summary_numbers(slurm) == expected
  assert summary_numbers(printed_record) == expected


def test_workdir_of_another_experiment_or_config_is_refused(method_table_run):
  workdir, _, _ = method_table_run
  before = snapshot(workdir)
  proc = experiment("mixing_sweep", workdir)
  assert proc.returncode == 2 and "holds experiment 'method_table', not 'mixing_sweep'" in proc.stderr
  proc = experiment("method_table", workdir, "--config.seed=1")
  assert proc.returncode == 2 and "different config" in proc.stderr and "seed: 0 there, 1 here" in proc.stderr
  assert snapshot(workdir) == before


def children(pid):
  """The pids of pid's child processes (Linux /proc)."""
  out = []
  for entry in os.listdir("/proc"):
    try:
      with open(f"/proc/{entry}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])  # the field after the (command)
    except (OSError, ValueError, IndexError):
      continue
    if ppid == pid:
      out.append(int(entry))
  return out


def test_sigterm_to_the_sweep_checkpoints_its_running_cell_and_a_rerun_continues(tmp_path):
  # As Kubernetes stops a pod: SIGTERM to the sweep's pid only, never to its training child.
  workdir = tmp_path / "sweep"
  # One cell of the smoke sweep; no checkpoint scoring, whose compile would delay the stop.
  args = ("--config.w=(0.5,)", "--config.cotrain_overrides=('ckpt_eval.episodes=0','best_metric=')")
  run_dir = workdir / "runs" / "cotrain-w0.5"
  log, timing = workdir / "logs" / "cotrain-w0.5.log", workdir / "logs" / "cotrain-w0.5.json"
  proc = subprocess.Popen([sys.executable, "-m", "experiments.mixing_sweep",
                          "--config=experiments/configs/mixing_sweep.py:smoke", f"--workdir={workdir}", *args],
                          cwd=ROOT, env=env_for_subprocess(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  trained = lambda: (run_dir / "metrics.jsonl").exists() and '"step"' in (run_dir / "metrics.jsonl").read_text()
  try:
    deadline = time.time() + 600
    while not trained() and proc.poll() is None and time.time() < deadline:
      time.sleep(0.1)
    kids = children(proc.pid)
    assert trained() and len(kids) == 1, (kids, log.read_text()[-2000:] if log.exists() else "no log")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:  # the test failed: leave no process behind
      for pid in children(proc.pid) + [proc.pid]:
        with contextlib.suppress(ProcessLookupError):
          os.kill(pid, signal.SIGKILL)
      proc.wait()
  said = f"{out[-2000:]}{err[-2000:]}\nthe cell's log:\n{log.read_text()[-2000:]}"
  assert proc.returncode == 75, said  # preempted, resumable (gdacot.train.preemption.PREEMPTED)
  assert "[1/1] cotrain-w0.5: interrupted by SIGTERM" in out and "rerun the same command" in out, said
  assert not os.path.exists(f"/proc/{kids[0]}")  # waited for, not left running
  assert "preempted (SIGTERM)" in log.read_text(), said
  assert [d for d in os.listdir(run_dir / "checkpoints") if d.isdigit()]
  assert not (run_dir / "eval.json").exists() and not (workdir / "mixing_sweep.json").exists()
  assert strict_json(timing)["status"] == "interrupted"  # not failed

  proc = experiment("mixing_sweep", workdir, *args)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "(resuming)" in proc.stdout and "[1/1] cotrain-w0.5: running (resuming its checkpoint)" in proc.stdout
  assert "resumed from checkpoint step" in log.read_text(), log.read_text()[-3000:]
  record = strict_json(workdir / "mixing_sweep.json")
  assert record["cells_run"] == 1 and (run_dir / "eval.json").is_file()
  assert strict_json(timing)["status"] == "ran" and strict_json(timing)["runs"] == 2


@pytest.mark.parametrize(
    "name,override,message",
    [
        ("method_table", "--config.methods=('cotrain','dann')", "unknown method 'dann'"),
        ("mixing_sweep", "--config.w=()", "w is empty: the grid has no cells"),
        ("mixing_sweep", "--config.w=(0.5,1.5)", "must be in (0, 1], got [1.5]"),
        ("sim_scaling", "--config.cotrain_overrides=('align.rho=0',)", "align.rho must be positive"),
    ],
)
def test_cli_refuses_bad_config_before_any_work(tmp_path, name, override, message):
  workdir = tmp_path / "exp"
  proc = experiment(name, workdir, override)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "error:" in proc.stderr and message in proc.stderr, proc.stderr[-2000:]
  assert not workdir.exists()


# --- config checks, in-process -----------------------------------------------------------------

@pytest.mark.parametrize(
    "name,field,value,message",
    [
        ("method_table", "methods", (), "methods is empty"),
        ("method_table", "gaps", ("physics", "moon"), "unknown gap 'moon'"),
        ("method_table", "gaps", ("visual",), "a state policy does not see"),
        ("method_table", "observation", "lidar", "observation must be 'image' or 'state'"),
        ("method_table", "cotrain_variant", "smoke,image", "set observation and gaps instead"),
        ("mixing_sweep", "w", (0.0, 0.5), "must be in (0, 1]"),
        ("mixing_sweep", "w", (0.2, 0.2), "w values repeat"),
        ("mixing_sweep", "methods", ("sim_only",), "fixes w to 0.0"),
        ("sim_scaling", "num_real_demos", (), "num_real_demos is empty"),
        ("sim_scaling", "num_sim_demos", (0, 10), "must hold positive integers"),
        ("sim_scaling", "fixed_real_demos", 0, "fixed_real_demos must be a positive integer"),
        ("alignment_analysis", "methods", ("cotrain", "cotrain"), "methods repeat"),
        ("alignment_analysis", "cotrain_overrides", ("analysis.frames=0",), "turn the alignment analysis off"),
        ("alignment_analysis", "num_seeds", 0, "num_seeds must be a positive integer"),
        ("alignment_analysis", "eval_pairs", (), "eval_pairs is empty"),
        ("alignment_analysis", "cotrain_overrides", ("num_seeds=3",), "num_seeds is set by the experiment config"),
        ("alignment_analysis", "cotrain_overrides", ("steps",), "is not FIELD=VALUE"),
    ],
)
def test_bad_config_is_refused(name, field, value, message):
  mod, configs = MODULES[name]
  cfg = configs.get_config("smoke")
  mod.validate(cfg)
  cfg[field] = value
  with pytest.raises(sweep.GridError, match=re.escape(message)):
    mod.validate(cfg)


def test_cells_are_checked_as_cotrain_checks_them():
  cfg = mixing_sweep_config.get_config("smoke")
  cell = mixing_sweep.make_cells(cfg)[0]
  assert sweep.resolve(cell, cfg).w == 0.1
  for overrides, message in [(("nope=1",), "no field 'nope'"), (("method=mmd",), "sets per cell"),
                             (("align.epsilon=-1",), "align.epsilon must be positive"),
                             (("steps=1.5",), "cannot be casted")]:
    cfg.cotrain_overrides = overrides
    with pytest.raises(sweep.GridError, match=re.escape(message)):
      sweep.resolve(cell, cfg)
  with pytest.raises(sweep.GridError, match="unknown config variant"):
    sweep.resolve(sweep.Cell("c", {}, {}, variant="huge"), mixing_sweep_config.get_config("smoke"))


def test_overrides_are_typed_and_passed_as_cotrain_flags():
  cfg = method_table_config.get_config("smoke")
  cfg.cotrain_overrides = ("steps=60", "gap=physics", "domains.real.cube_mass=0.5", "data.real_regions=('in',)")
  with pytest.raises(sweep.GridError, match="sets per cell"):  # gap is this experiment's axis
    sweep.resolve(method_table.make_cells(cfg)[0], cfg)
  cfg.cotrain_overrides = cfg.cotrain_overrides[:1] + cfg.cotrain_overrides[2:]
  assert sweep.parse_overrides(cfg.cotrain_overrides) == {"steps": 60, "domains.real.cube_mass": 0.5,
                                                         "data.real_regions": ("in",)}
  cell = method_table.make_cells(cfg)[1]
  c = sweep.resolve(cell, cfg)
  assert (c.steps, c.domains.real.cube_mass, c.method, c.gap, c.num_seeds) == (60, 0.5, "uot_joint", "physics", 1)
  cmd = sweep.command(cell, cfg, "/tmp/x")
  assert cmd[-8:] == ["--config.steps=60", "--config.domains.real.cube_mass=0.5", "--config.data.real_regions=('in',)",
                      "--config.method=uot_joint", "--config.gap=physics", "--config.num_seeds=1", "--config.seed=0",
                      "--config.eval.pairs=('real:in', 'real:ood', 'sim:in', 'sim:ood')"]
  assert cmd[4].endswith("experiments/configs/cotrain.py:smoke")


def test_claim_workdir(tmp_path):
  cfg = mixing_sweep_config.get_config("smoke")
  workdir = str(tmp_path / "exp")
  assert sweep.claim_workdir(workdir, "mixing_sweep", cfg) is False  # created, marker written
  assert os.listdir(workdir) == [sweep.MARKER]
  assert sweep.claim_workdir(workdir, "mixing_sweep", cfg) is True  # the same: resume
  with pytest.raises(sweep.GridError, match="holds experiment 'mixing_sweep', not 'sim_scaling'"):
    sweep.claim_workdir(workdir, "sim_scaling", cfg)
  cfg.w = (0.1, 0.2)
  with pytest.raises(sweep.GridError, match=re.escape("w: [0.1, 0.5] there, [0.1, 0.2] here")):
    sweep.claim_workdir(workdir, "mixing_sweep", cfg)
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "notes.txt").write_text("mine")
  with pytest.raises(sweep.GridError, match="not an experiment workdir"):
    sweep.claim_workdir(str(tmp_path / "mine"), "mixing_sweep", cfg)
  assert os.listdir(tmp_path / "mine") == ["notes.txt"]


def test_sim_scaling_axes_share_the_fixed_cell():
  cfg = sim_scaling_config.get_config()
  cells = sim_scaling.make_cells(cfg)
  # Per method: 5 sim counts + 6 real counts, the (400, 20) cell counted once.
  assert len(cells) == 2 * (5 + 6 - 1)
  assert sum(c.labels == {"method": "cotrain", "num_sim_demos": 400, "num_real_demos": 20} for c in cells) == 1


def test_default_configs_build_valid_cells():
  # The real runs' grids pass every check (methods, gaps, variants, each cell's cotrain config).
  for name, (mod, configs) in MODULES.items():
    cfg = configs.get_config()
    mod.validate(cfg)
    cells = mod.make_cells(cfg)
    sweep.resolve(cells[0], cfg)
    sweep.resolve(cells[-1], cfg)
  assert len(method_table.make_cells(method_table_config.get_config())) == 30
  assert method_table.make_cells(method_table_config.get_config())[0].variant == "image"
  state = method_table_config.get_config("state")
  method_table.validate(state)
  assert sweep.resolve(method_table.make_cells(state)[0], state).observation == "state"


# --- statistics and claims on made-up cells ----------------------------------------------------

def fake_cell(labels, rates, w2=None, episodes=50):
  """A cell record as the grid builds it, from per-seed success rates {pair: [rate per seed]}."""
  results = [result_entry(method=labels.get("method", "cotrain"), domain=pair.split(":")[0], region=pair.split(":")[1],
                          successes=round(rate * episodes), episodes=episodes, step=10, seed=seed)
             for pair, per_seed in rates.items() for seed, rate in enumerate(per_seed)]
  n = len(next(iter(rates.values())))
  return {"cell": "-".join(map(str, labels.values())), "labels": labels, "seeds": list(range(n)),
          "success": sweep.summarise_success(results),
          "alignment": None if w2 is None else {"wasserstein": stats.mean_interval(w2),
                                                "discernibility": stats.mean_interval([0.8] * n)}}


def test_summarise_success_over_seeds():
  row = fake_cell({"method": "cotrain"}, {"real:in": [0.2, 0.4, 0.6]})["success"]["real:in"]
  mean, lo, hi = stats.seed_interval([0.2, 0.4, 0.6])
  assert row["mean"] == pytest.approx(0.4) and row["seed_ci95"] == [lo, hi] and row["per_seed"] == [0.2, 0.4, 0.6]
  assert (row["pooled_successes"], row["pooled_episodes"]) == (60, 150)
  assert sweep.shown_interval(row) == (lo, hi)
  one = fake_cell({"method": "cotrain"}, {"real:in": [0.5]})["success"]["real:in"]
  assert one["seed_ci95"] is None and sweep.shown_interval(one) == tuple(one["pooled_wilson95"])
  # Seeds that all scored the same give a zero-width t-interval: the tables show Wilson's, marked.
  flat = fake_cell({"method": "cotrain"}, {"real:in": [0.1, 0.1]})["success"]["real:in"]
  assert flat["seed_ci95"] == pytest.approx([0.1, 0.1]) and sweep.shown_interval(flat) == tuple(flat["pooled_wilson95"])
  assert sweep.fmt(flat).endswith("†") and not sweep.fmt(row).endswith("†")


def test_paired_difference_and_pearson():
  a = {0: 0.5, 1: 0.65, 2: 0.9}
  b = {2: 0.6, 0: 0.3, 1: 0.4}  # paired by seed, not by position
  d = stats.paired_difference(a, b)
  half = 4.303 * 0.05 / math.sqrt(3)  # differences 0.2, 0.25, 0.3: sd 0.05, t(2) = 4.303
  assert d["mean_diff"] == pytest.approx(0.25) and d["ci95"] == pytest.approx([0.25 - half, 0.25 + half], rel=1e-3)
  assert d["verdict"] == "higher" and d["per_seed_diff"] == pytest.approx([0.2, 0.25, 0.3])
  assert stats.paired_difference(b, a)["verdict"] == "lower"
  assert stats.paired_difference(a, {0: 0.6, 1: 0.6, 2: 0.8})["verdict"].startswith("no clear difference")
  # Every seed the same difference: a zero-width interval, which is no evidence.
  same = stats.paired_difference(a, {0: 0.4, 1: 0.55, 2: 0.8})
  assert same["ci95"] == pytest.approx([0.1, 0.1]) and same["verdict"].startswith("the same difference on every seed")
  x = [1.0, 2.0, 3.0, 4.0, 5.0]
  p = stats.pearson(x, [2 * v + 1 for v in x])
  assert p["r"] == pytest.approx(1.0) and p["n"] == 5 and p["p_value"] < 1e-3
  y = [0.3, 0.1, 0.5, 0.2, 0.6]
  p = stats.pearson(x, y)
  assert p["r"] == pytest.approx(np.corrcoef(x, y)[0, 1]) and p["ci95"][0] < p["r"] < p["ci95"][1]
  assert stats.pearson(x, [0.5] * 5)["r"] is None and stats.pearson([1, 2], [3, 4])["r"] is None
  assert sweep.json_safe({"a": [float("nan"), 1.0], "b": float("inf")}) == {"a": [None, 1.0], "b": None}


def test_method_table_claims_from_the_numbers():
  cfg = method_table_config.get_config("smoke")
  cfg.methods = ("cotrain", "mmd", "uot_joint", "cfg_adda")
  cfg.eval_pairs = ("real:in", "real:ood")
  rates = {"cotrain": [0.3, 0.4, 0.5], "mmd": [0.2, 0.3, 0.3], "uot_joint": [0.4, 0.6, 0.6], "cfg_adda": [0.5, 0.5, 0.6]}
  w2 = {"cotrain": 3.0, "mmd": 1.0, "uot_joint": 2.0, "cfg_adda": 2.5}
  records = [fake_cell({"gap": "physics", "method": m}, {"real:in": r, "real:ood": [x / 2 for x in r]},
                       w2=[w2[m]] * 3) for m, r in rates.items()]
  c = method_table.claims(cfg, records)
  assert not c["not_computed"]
  d = {(x["baseline"], x["pair"]): x for x in c["uot_joint_minus_baseline"]}
  assert d[("cotrain", "real:in")]["mean_diff"] == pytest.approx((0.1 + 0.2 + 0.1) / 3)
  assert d[("mmd", "real:in")]["per_seed_diff"] == pytest.approx([0.2, 0.3, 0.3])
  assert d[("mmd", "real:in")]["verdict"] == "higher"
  best = c["cfg_adda_minus_best_other"][0]
  assert best["best_other"] == "uot_joint" and best["mean_diff"] == pytest.approx(0.0, abs=1e-12)
  assert best["verdict"].startswith("no clear difference")
  corr = c["w2_vs_real_success"][0]
  means = [np.mean(r) for r in rates.values()]
  assert corr["r"] == pytest.approx(np.corrcoef(list(w2.values()), means)[0, 1])
  assert corr["paper_b_r"] == 0.57 and corr["n"] == 4
  # The paired comparisons are one family, Holm-corrected together: 2 baselines x 2 pairs + 2.
  family = c["uot_joint_minus_baseline"] + c["cfg_adda_minus_best_other"]
  assert {d["family_size"] for d in family} == {6}
  m = d[("mmd", "real:in")]
  assert m["p_value"] == pytest.approx(stats.mean_p_value([0.2, 0.3, 0.3]))
  assert m["p_holm"] == pytest.approx(stats.holm([x["p_value"] for x in family])["p_adjusted"][family.index(m)])
  assert m["p_holm"] > m["p_value"] and m["reject_holm"] == (m["p_holm"] <= 0.05)
  assert not c["ceilings"]  # nothing near 1 here
  # The Markdown states every claim from these numbers.
  text = "\n".join(method_table._claim_lines(c))
  assert "uot_joint - mmd, physics gap, real/in: +0.267" in text and "(paper B: +0.57)" in text
  assert "Holm over 6: p = " in text


def test_method_table_names_its_ceilings_and_checks_the_manipulation():
  cfg = method_table_config.get_config("smoke")
  cfg.methods, cfg.eval_pairs = ("cotrain", "uot_joint"), ("real:in", "sim:ood")
  records = [fake_cell({"gap": "physics", "method": "cotrain"}, {"real:in": [1.0, 0.98], "sim:ood": [0.5, 0.6]}),
             fake_cell({"gap": "physics", "method": "uot_joint"}, {"real:in": [0.96, 0.96], "sim:ood": [1.0, 1.0]})]
  records[0]["alignment_per_seed"] = [{"seed": s, "wasserstein": 5.0 + s, "discernibility": 0.95} for s in (0, 1)]
  records[1]["alignment_per_seed"] = [{"seed": s, "wasserstein": 4.0 + s, "discernibility": 0.95} for s in (0, 1)]
  c = method_table.claims(cfg, records)
  assert [(x["pair"], x["methods"]) for x in c["ceilings"]] == [("real:in", ["cotrain"]), ("sim:ood", ["uot_joint"])]
  checks = {x["metric"]: x for x in c["manipulation"]}
  assert checks["wasserstein"]["mean_diff"] == pytest.approx(-1.0) and checks["discernibility"]["mean_diff"] == 0.0
  text = "\n".join(method_table._claim_lines(c))
  assert "ceiling, physics gap, real/in: cotrain at >= 0.98" in text
  assert "manipulation check, uot_joint - cotrain discernibility, physics gap: +0.000" in text


def test_mixing_guideline_matches_paper_b_example():
  # Paper B: N = 50 real, M = 3000 sim frames gives w from 0.016 to 0.13.
  records = [{"demos": {"real_frames": 50, "sim_frames": 3000}}] * 2
  g = mixing_sweep.guideline(records)
  assert g["w_natural"] == pytest.approx(0.0164, abs=1e-4) and g["w_upper"] == pytest.approx(0.129, abs=1e-3)
  assert g["upper_applies"]
  assert not mixing_sweep.guideline([{"demos": {"real_frames": 50, "sim_frames": 200}}])["upper_applies"]


def test_method_table_plots_a_row_where_every_episode_succeeded():
  # An all-success row's pooled Wilson upper bound is 0.9999999999999999, a rounding error below
  # its mean of 1.0: the error bar must not come out negative (matplotlib refuses it).
  cfg = method_table_config.get_config("smoke")
  results = [result_entry(method="cotrain", domain=d, region=r, successes=s, episodes=100, step=40, seed=seed)
             for seed in (0, 1, 2) for d, r, s in (("real", "in", 100), ("real", "ood", 40 + seed), ("sim", "in", 100),
                                                ("sim", "ood", 90))]
  cells = [{"labels": {"gap": gap, "method": m}, "success": sweep.summarise_success(results)}
           for gap in cfg.gaps for m in cfg.methods]
  fig = method_table.plot(cfg, {"cells": cells, "num_seeds": 3})
  assert fig.axes
  sweep.pyplot().close(fig)
