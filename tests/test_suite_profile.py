"""tools.suite_profile: the hook records a process's CPU and JAX's compiles, forked children and
os._exit included; the summary adds them up by kind of process, test file and program."""

import json
import os
import subprocess
import sys

from runs import ROOT, env_for_subprocess

from tools import suite_profile


def _records(tmp_path, program):
  env = env_for_subprocess(GDACOT_SUITE_PROFILE=str(tmp_path), PYTHONPATH=suite_profile.HOOK,
                           PYTEST_CURRENT_TEST="tests/test_x.py::test_y (call)",
                           JAX_ENABLE_COMPILATION_CACHE="false")  # compiled here, not read from the session's cache
  proc = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return [json.load(open(tmp_path / name)) for name in sorted(os.listdir(tmp_path))]


def test_the_hook_records_compiles_cpu_and_forked_children(tmp_path):
  # As tests/forkserver.py does: fork after importing JAX, before its backend starts. The child
  # ends through os._exit (as xdist's workers do). Each process records only what it compiled.
  records = _records(tmp_path, "import os, jax, jax.numpy as jnp\n"
                               "def one(x): return x + 1\n"
                               "def two(x): return x * 2\n"
                               "if os.fork() == 0:\n"
                               "  jax.jit(two)(jnp.ones(3)).block_until_ready(); os._exit(0)\n"
                               "os.wait()\n"
                               "jax.jit(one)(jnp.ones(3)).block_until_ready()\n")
  assert sorted(r["forked"] for r in records) == [False, True]
  for r in records:
    compiled = {e[2] for e in r["events"] if e[1] == "backend_compile_duration"}
    assert ("jit(one)" in compiled) == (not r["forked"]) and ("jit(two)" in compiled) == r["forked"], r
    assert {e[0] for e in r["events"]} == {"tests/test_x.py::test_y"}
    assert r["cpu_s"] > 0 and r["pytest"] == ""


def test_without_the_variable_the_hook_does_nothing(tmp_path):
  env = env_for_subprocess(PYTHONPATH=suite_profile.HOOK)
  env.pop("GDACOT_SUITE_PROFILE", None)
  # The hook is loaded, but wraps nothing: os._exit is still the interpreter's own.
  program = "import os, sys; print('sitecustomize' in sys.modules, os._exit.__module__)"
  proc = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=60)
  assert proc.returncode == 0 and proc.stdout.split() == ["True", "posix"], proc.stdout + proc.stderr
  assert list(tmp_path.iterdir()) == []


def test_the_summary_adds_up_processes_files_and_programs():
  process = lambda pytest, forked, argv, cpu, events: {"pytest": pytest, "forked": forked, "argv": argv, "cpu_s": cpu,
                                                       "events": events}
  profile = {"command": ["python", "-m", "pytest", "-q"], "wall_s": 100.0, "returncode": 0, "processes": [
      process("worker", False, ["-c"], 50.0, [["tests/test_a.py::t1", "backend_compile_duration", "jit(rollout)", 9.0, 1],
                                              ["tests/test_a.py::t2", "backend_compile_duration", "jit(rollout)", 3.0, 1],
                                              ["tests/test_a.py::t2", "jaxpr_trace_duration", "rollout", 4.0, 2]]),
      process("", True, ["-m", "--workdir=w"], 7.0, [["tests/test_b.py::t", "backend_compile_duration", "jit(chunk)", 2.0, 1]]),
      process("", True, ["-m"], 5.0, []),
      process("", False, [os.path.join(suite_profile.ROOT, "experiments", "cotrain.py")], 20.0, []),
  ]}
  text = suite_profile.summarise(profile)
  assert "CPU of the 4 processes that recorded: 82 s" in text
  assert "| pytest worker | 1 | 50 |" in text and "| forked: -m | 2 | 12 |" in text
  assert "| fresh: experiments/cotrain.py | 1 | 20 |" in text
  assert "| tests/test_a.py | 12 | 4 | 0 | 0 |" in text and "| tests/test_b.py | 2 | 0 | 0 | 0 |" in text
  assert text.index("| jit(rollout) | 2 | 12 |") < text.index("| jit(chunk) | 1 | 2 |")


def test_bad_flags_and_an_existing_out_are_refused(tmp_path, capsys):
  existing = tmp_path / "p.json"
  existing.write_text("{}")
  assert suite_profile.main([f"--out={existing}"]) == 2
  assert "exists" in capsys.readouterr().err and existing.read_text() == "{}"
  assert suite_profile.main(["--nope=1"]) == 2 and "unknown arguments --nope=1" in capsys.readouterr().err
  assert suite_profile.main([]) == 2
  assert suite_profile.main([f"--summarise={existing}"]) == 2 and "not a profile" in capsys.readouterr().err
