"""Every command line helps itself (issue 34): `--help` prints the purpose, the flags and an
example, never an "unknown flag" error; `--print_config` prints the resolved config and exits;
the console scripts run their modules."""

import glob
import json
import os
import re
import subprocess
import sys

import pytest
from runs import ROOT, env_for_subprocess, module

from gdacot import cli_common
from gdacot.cli import COMMANDS


def _entry_points():
  """Every module under experiments/, tools/ and gdacot/ that runs as a program."""
  names = []
  for pattern in ("experiments/*.py", "tools/*.py", "gdacot/**/*.py"):
    for path in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
      with open(path) as f:
        if 'if __name__ == "__main__":' in f.read():
          names.append(os.path.relpath(path, ROOT)[:-3].replace(os.sep, "."))
  return names


ENTRY_POINTS = _entry_points()
# gdacot.sweep.main defines these for every sweep (method_table, mixing_sweep, ...).
_GRID_FLAGS = ("workdir", "executor", "parallel", "collect", "config", "print_config", "slurm_partition", "slurm_gpus",
               "slurm_cpus", "slurm_mem_gb", "slurm_time_min", "slurm_max_requeues", "slurm_max_running",
               "slurm_signal_delay_s", "slurm_cluster")


def _flags_of(name: str) -> list[str]:
  """The flags a module defines (absl's, or a hand-parsed tool's documented `--name`)."""
  with open(os.path.join(ROOT, *name.split(".")) + ".py") as f:
    source = f.read()
  found = re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", source)
  if "sweep.main(" in source:
    found += _GRID_FLAGS
  if "define_print_config()" in source:
    found.append("print_config")
  return sorted(set(found))


def test_every_program_is_found():
  assert {"experiments.cotrain", "gdacot.evaluate", "gdacot.serve", "tools.make_demos", "tools.dataset_info",
          "tools.power", "experiments.method_table", "gdacot.machine"} <= set(ENTRY_POINTS)


def test_no_module_of_experiments_tools_or_gdacot_is_named_as_pytest_names_test_files():
  # pytest's assertion rewriter takes over importing any module named test_*.py or *_test.py (its
  # default python_files), wherever it lives: an experiments/decisive_test.py, imported in the
  # suite, then had no readable source and its --help test failed.
  named_like_tests = [os.path.relpath(path, ROOT)
                      for pattern in ("experiments/**/*.py", "tools/**/*.py", "gdacot/**/*.py")
                      for path in glob.glob(os.path.join(ROOT, pattern), recursive=True)
                      if re.fullmatch(r"test_.*\.py|.*_test\.py", os.path.basename(path))]
  assert not named_like_tests, f"rename these modules (pytest takes them for test files): {named_like_tests}"


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_help_prints_purpose_flags_and_an_example(name):
  proc = module(name, "--help", timeout=120)
  out = proc.stdout + proc.stderr
  assert proc.returncode in (0, 1), out[-2000:]  # absl's --help exits 1
  assert "unknown flag" not in out.lower() and "Traceback" not in out, out[-2000:]
  doc = __import__("importlib").util.find_spec(name).loader.get_source(name)
  purpose = re.search(r'"""(.+)', doc).group(1).strip()
  assert purpose and purpose in out, f"{name}: the docstring's first line is not in --help"
  assert f"python -m {name}" in out, f"{name}: --help shows no example command"
  for flag in _flags_of(name):
    assert re.search(rf"--(\[no\])?{flag}\b", out), f"{name}: --help does not list --{flag}"


def test_cotrain_help_lists_the_config_fields():
  proc = module("experiments.cotrain", "--help", timeout=120)
  for field in ("method='uot_joint'", "align.epsilon=0.05", "eval.episodes=200", "log.wandb=False"):
    assert f"  {field}" in proc.stdout, field


def test_print_config_prints_the_resolved_config_and_exits(tmp_path):
  config = os.path.join(ROOT, "experiments", "configs", "cotrain.py")
  proc = subprocess.run([sys.executable, "-m", "experiments.cotrain", "--print_config", f"--config={config}:smoke,lift",
                         "--config.method=cotrain", "--config.align.epsilon=0.2"], cwd=str(tmp_path),
                        env=env_for_subprocess(PYTHONPATH=ROOT), capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  cfg = json.loads(proc.stdout)  # stdout is the JSON alone
  assert cfg["task"] == "lift" and cfg["method"] == "cotrain" and cfg["align"]["epsilon"] == 0.2
  assert cfg["steps"] == 40 and cfg["log"]["wandb"] is False  # the variant and the defaults, resolved
  assert not list(tmp_path.iterdir())  # nothing written, no workdir needed
  bad = module("experiments.cotrain", "--print_config", "--config.w=3", timeout=120)
  assert bad.returncode == 2 and "error: invalid config" in bad.stderr and "w (share" in bad.stderr
  grid = module("experiments.mixing_sweep", "--print_config", "--config.seed=3", timeout=120)
  assert grid.returncode == 0 and json.loads(grid.stdout)["seed"] == 3
  # A flag absl cannot take is bad input: exit 2 (gdacot.exit_codes), as a bad config value.
  missing = module("experiments.cotrain", timeout=120)
  assert missing.returncode == 2 and "error:" in missing.stderr and "--workdir must have a value" in missing.stderr
  unknown = module("experiments.cotrain", "--workdir=never_made", "--nope", timeout=120)
  assert unknown.returncode == 2 and "error: Unknown command line flag 'nope'" in unknown.stderr
  no_field = module("experiments.cotrain", "--workdir=never_made", "--config.nope=3", timeout=120)
  assert no_field.returncode == 2 and "error: a --config.FIELD override names no field" in no_field.stderr
  assert not os.path.exists(os.path.join(ROOT, "never_made"))


def _script(name):
  path = os.path.join(os.path.dirname(sys.executable), name)
  if not os.path.exists(path):
    pytest.fail(f"console script {name} is not installed next to {sys.executable}: pip install -e .")
  return path


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_console_scripts_run_their_module(name):
  proc = subprocess.run([_script(name), "--help"], cwd=ROOT, env=env_for_subprocess(), capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode in (0, 1) and f"python -m {COMMANDS[name]}" in proc.stdout + proc.stderr, proc.stderr[-2000:]
  # A cold start (module() forks from a server that imported MJX already): MJX's chatter is silenced.
  assert "Failed to import warp" not in proc.stdout + proc.stderr
  if COMMANDS[name] != "tools.dataset_info":  # absl programs: the module's own flags are listed
    assert re.search(r"--\w+", proc.stdout + proc.stderr)


def test_the_light_tools_run_as_typed(tmp_path):
  """The tools the other tests call in-process, run once as a user types them: their flag
  parsing is the part an in-process call skips (tools.make_demos once broke only there)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  table = os.path.join(ROOT, "experiments", "results", "method_table_physics", "method_table.json")
  power = module("tools.power", table, "--pairs=real:ood", f"--out={tmp_path / 'power.json'}", timeout=120)
  assert power.returncode == 0 and "seeds needed" in power.stdout, power.stderr[-2000:]
  assert json.loads((tmp_path / "power.json").read_text())["tables"][0]["rows"]
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "features.npz", z_sim=rng.normal(size=(40, 8)), z_real=rng.normal(1.0, size=(30, 8)))
  plot = module("tools.plot_features", f"--features={tmp_path / 'features.npz'}", f"--out={tmp_path / 'pca.png'}",
                timeout=120)
  assert plot.returncode == 0 and (tmp_path / "pca.png").stat().st_size > 0, plot.stderr[-2000:]
  machine = module("gdacot.machine", timeout=120)
  assert machine.returncode == 0 and json.loads(machine.stdout)["cpu_count"] >= 1
  for bad in (module("tools.power", table, "--alpha=2", timeout=60), module("gdacot.machine", "x", timeout=60),
              module("tools.plot_features", "--nope", timeout=60)):  # absl's own exit would be 1
    assert bad.returncode == 2 and bad.stderr.startswith("error: "), bad.stderr


def test_the_shared_cli_parts_refuse_as_every_command_does(tmp_path, capsys):
  """gdacot.cli_common: a refusal ends `error: ...` and 2; variants and choices name what is wrong."""

  @cli_common.refusals_exit(KeyError)
  def main(argv):
    if argv[1:] == ["key"]:
      raise KeyError("no such key")
    if argv[1:]:
      raise cli_common.BadInput("bad input")
    return 0

  assert main(["prog"]) == 0
  assert main(["prog", "x"]) == 2 and capsys.readouterr().err == "error: bad input\n"
  assert main(["prog", "key"]) == 2 and "no such key" in capsys.readouterr().err

  assert cli_common.variants("smoke,", ("state", "smoke")) == {"smoke"}
  with pytest.raises(ValueError, match=re.escape("unknown config variant(s) ['huge']; use state, smoke")):
    cli_common.variants("huge,smoke", ("state", "smoke"))
  assert cli_common.choice_problems("methods", ("a", "z", "a"), ("a", "b"), "method") == [
      "unknown method 'z'; known: ['a', 'b']", "methods repeat: ('a', 'z', 'a')"]
  assert cli_common.choice_problems("gaps", (), ("a",), "gap") == ["gaps is empty: nothing to run"]

  out = str(tmp_path / "out.json")
  cli_common.write_json_out(out, {"x": 1}, overwrite=False)
  assert json.loads(open(out).read()) == {"x": 1}
  for path, message in ((out, "exists; pass --overwrite"), (str(tmp_path / "no" / "o.json"), "does not exist")):
    with pytest.raises(cli_common.BadInput, match=message):
      cli_common.check_out(path, overwrite=False)
