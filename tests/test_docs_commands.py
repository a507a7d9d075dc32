"""The commands of README.md and docs/ work (issue 34).

The README's quickstart runs from a fresh clone, in order, at smoke size (each command as a
user types it, in a directory that holds only the repository's code). Every command of the
README and docs/ is checked without running it: its module is a program of this repository,
each flag it uses is one the module defines, and each `--config.FIELD` names a field of the
config it loads. The ones not run are printed with the reason (SKIPPED: they need something a
fresh clone lacks, your dataset or a cluster; the rest are long runs or variants of a
quickstart command)."""

import ast
import glob
import importlib.util
import os
import re
import shlex
import sys

import pytest
from runs import ROOT, module
from test_cli import ENTRY_POINTS, _flags_of

DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
# Words that mark a command as needing what a fresh clone does not have, and why.
PLACEHOLDERS = {
    "PATH": "names your dataset (PATH)",
    "path/to/": "names a dataset of your own (path/to/...)",
    "my_pkg": "names a task of your own package",
    "host0": "needs several hosts",
    "$SCRATCH": "runs under SLURM",
    "shared_disk/": "needs several hosts sharing a disk",
    "gs_or_shared_dir": "runs on a TPU pod",
    "data/lift_ph.hdf5": "names a robomimic file of your own",
    "data/mg.hdf5": "names a robomimic file of your own",
    "runs/robot": "names a run trained on your robot's data",
    "WORKDIR/": "names your run's directory",
    "TABLE.json": "names a measured table (placeholder)",
    "OUT_DIR": "names your output directory (placeholder)",
}
# Flags every absl program takes.
ABSL_FLAGS = {"help", "helpshort", "helpfull", "flagfile", "logtostderr", "alsologtostderr", "verbosity", "v"}


def _code_lines(path):
  """The lines of fenced (``` sh/bash/none) and indented (4 spaces) code blocks, in order."""
  with open(os.path.join(ROOT, path)) as f:
    lines = f.read().splitlines()
  out, fence = [], None
  for line in lines:
    stripped = line.strip()
    if stripped.startswith("```"):
      fence = None if fence is not None else stripped[3:].strip()
      continue
    if fence is not None:
      if fence in ("", "sh", "bash", "shell", "console"):
        out.append(stripped)
    elif line.startswith("    "):
      out.append(stripped)
  return out


def _join_continuations(lines):
  cmds, current = [], ""
  for line in lines:
    current = f"{current} {line}".strip() if current else line
    if current.endswith("\\"):
      current = current[:-1].rstrip()
      continue
    try:
      shlex.split(_clean(current))
    except ValueError:  # a command's quoted argument that goes on on the next line
      if re.match(r"^(srun )?(python|gdacot-)", current):
        continue
    cmds.append(current)
    current = ""
  return cmds


def _clean(cmd):
  """A documented command as it runs: its trailing comment and `[optional parts]` dropped."""
  cmd = re.sub(r"\s+#\s.*$", "", cmd)
  cmd = re.sub(r"\s\[[^\]]*\]", "", cmd)
  return cmd.strip()


def commands(path):
  """Every `python -m MODULE ...` or console-script command of a doc."""
  found = []
  for cmd in _join_continuations(_code_lines(path)):
    for part in re.split(r"\s*&&\s*", cmd):
      part = _clean(part)
      part = part.removeprefix("srun ")
      if re.match(r"^python -m (experiments|tools|gdacot)\.", part) or part.startswith("gdacot-"):
        found.append(part)  # (not `python -m pytest`, `pip`: other programs)
  return found


ALL = [(doc, cmd) for doc in DOCS for cmd in commands(doc)]
SKIPPED = {cmd: why for _, cmd in ALL for word, why in PLACEHOLDERS.items() if word in cmd}


def _module_and_args(cmd):
  argv = shlex.split(cmd)
  if argv[0] == "python":
    return argv[2], argv[3:]
  from gdacot.cli import COMMANDS  # pylint: disable=g-import-not-at-top
  return COMMANDS[argv[0]], argv[1:]


def _config_of(module, args):
  """The config a command loads: its --config=FILE[:VARIANT], or the module's default file."""
  given = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), None)
  path, _, variant = (given or f"experiments/configs/{module.split('.')[-1]}.py").partition(":")
  spec = importlib.util.spec_from_file_location("_doc_config", os.path.join(ROOT, path))
  config_module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(config_module)
  return config_module.get_config(variant or None) if variant else config_module.get_config()


def _documented_flags(module):
  """A hand-parsed tool's flags: the `--name` its docstring lists."""
  spec = importlib.util.find_spec(module)
  doc = ast.get_docstring(ast.parse(spec.loader.get_source(module))) or ""
  return set(re.findall(r"--(\w+)", doc))


def test_the_docs_hold_commands_and_say_which_are_not_run():
  assert len(ALL) > 40 and {d for d, _ in ALL} >= {"README.md", "docs/data.md", "docs/scaling.md"}
  quick = {_clean(c) for c in _quickstart()}
  print("\nchecked, not run (the quickstart runs their smoke-size twins):")
  for doc, cmd in ALL:
    if cmd not in quick:
      print(f"  {doc}: {SKIPPED.get(cmd, 'a long run, or a variant of a quickstart command')}: {cmd[:90]}")
  assert len(SKIPPED) < len(ALL) / 2


@pytest.mark.parametrize("doc,cmd", ALL, ids=lambda x: x[:70])
def test_documented_command_names_real_modules_flags_and_config_fields(doc, cmd):
  module, args = _module_and_args(cmd)
  assert module in ENTRY_POINTS, f"{doc}: {module} is not a program of this repository"
  known = set(_flags_of(module)) | _documented_flags(module) | ABSL_FLAGS
  cfg = None
  for arg in args:
    if not arg.startswith("--"):
      continue
    name, _, value = arg[2:].partition("=")
    if name.startswith("config."):
      cfg = cfg if cfg is not None else _config_of(module, args)
      node = cfg
      for part in name.split(".")[1:]:
        assert part in node, f"{doc}: `{cmd}`: no config field {name[len('config.'):]!r}"
        node = node[part]
    else:
      bare = name[2:] if name.startswith("no") and name[2:] in known else name
      assert bare in known, f"{doc}: `{cmd}`: {module} has no flag --{name}"


# --- The README's quickstart, run in order at smoke size from a directory holding the code only.

def _quickstart():
  with open(os.path.join(ROOT, "README.md")) as f:
    text = f.read()
  section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
  blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
  return [c for block in blocks for c in _join_continuations(block.splitlines())]


def _smoke(argv):
  """The command at smoke size: the smoke config variant, few episodes. None: not run (why)."""
  if argv[:2] == ["pip", "install"] or argv[0] == "python3":
    return None, "installs (the suite runs installed)"
  module = argv[2]
  if module == "experiments.cotrain" and "--help" not in argv:
    config = next((a for a in argv if a.startswith("--config=")), None)
    if config is None:
      argv = argv + ["--config=experiments/configs/cotrain.py:smoke"]
    elif "smoke" not in config:
      argv = [a + ",smoke" if a is config else a for a in argv]
    if any(a.startswith(("--config.method=", "--config.seed=")) for a in argv):
      return None, "the smoke run's program with other field values (its fields are checked above)"
  argv = [re.sub(r"^--episodes=\d+$", "--episodes=8", a) for a in argv]
  return [sys.executable, *argv[1:]], None


def test_the_readme_quickstart_runs_from_a_fresh_clone(tmp_path):
  # Each command runs in a process of its own, there (runs.module: forked from the tests' server,
  # which imports no code of the repository, so `python -m` finds the code of this directory).
  for name in ("gdacot", "experiments", "tools"):  # the code, and nothing a previous run left
    os.symlink(os.path.join(ROOT, name), tmp_path / name)
  ran, programs = [], set()
  for cmd in _quickstart():
    argv, why = _smoke(shlex.split(_clean(cmd)))
    program = argv and tuple(a for a in argv if not a.startswith("--workdir="))
    if argv is not None and program in programs:  # e.g. the main job, at smoke size, is the smoke run
      argv, why = None, "at smoke size the same run as an earlier command"
    if argv is None:
      print(f"not run: {why}: {cmd}")
      continue
    programs.add(program)
    assert argv[1] == "-m", argv  # every quickstart command is `python -m ...`
    proc = module(argv[2], *argv[3:], cwd=tmp_path)
    assert proc.returncode in ((0, 1) if "--help" in argv else (0,)), f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    ran.append(argv[2])
  assert ran.count("experiments.cotrain") >= 3 and {"gdacot.evaluate", "tools.make_demos", "tools.dataset_info"} <= set(ran)
  assert (tmp_path / "runs" / "demo" / "eval_ood.json").exists() and (tmp_path / "runs" / "demo" / "rollouts.gif").exists()
  assert (tmp_path / "runs" / "from_files" / "eval.json").exists()
