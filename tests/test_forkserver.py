"""The tests' fork server (forkserver.py, runs.module) gives a command what a fresh `python -m`
gives it: its argv, environment, working directory, streams and exit status."""

import json
import subprocess

import pytest
from runs import _ForkServer, module, xla_flags


def test_a_forked_command_sees_what_a_fresh_process_sees():
  flags = xla_flags("--xla_force_host_platform_device_count=3")  # XLA reads it when the backend starts
  forked, fresh = (module("gdacot.machine", XLA_FLAGS=flags, fork=f) for f in (True, False))
  assert forked.returncode == fresh.returncode == 0, forked.stderr[-2000:] + fresh.stderr[-2000:]
  assert json.loads(forked.stdout) == json.loads(fresh.stdout)
  assert json.loads(forked.stdout)["device_count"] == 3
  assert _ForkServer._instance is not None and _ForkServer._instance.proc.poll() is None  # the fork served it


def test_exit_status_streams_and_timeouts_are_the_commands(tmp_path):
  bad = module("gdacot.machine", "x")
  assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stdout == ""
  crash = module("tests.forkserver_probe_that_does_not_exist")
  assert crash.returncode == 1 and "No module named" in crash.stderr
  with pytest.raises(subprocess.TimeoutExpired):  # killed at its timeout, as subprocess.run does
    module("experiments.cotrain", f"--workdir={tmp_path / 'run'}",
           "--config=experiments/configs/cotrain.py:smoke", timeout=0.5)
  assert module("gdacot.machine").returncode == 0  # and the server goes on


def test_an_environment_read_at_import_gets_a_fresh_process():
  env = {"PATH": "/usr/bin", "JAX_PLATFORMS": "cpu"}
  assert not _ForkServer._same_imports({**env, "JAX_ENABLE_X64": "1"}, env)
  assert _ForkServer._same_imports({**env, "XLA_FLAGS": "--x", "GDACOT_DEMO_CACHE": "/d"}, env)
  x64 = module("gdacot.machine", JAX_ENABLE_X64="1")  # runs, plainly
  assert x64.returncode == 0
