import os

import pytest

# Tests run on the CPU, in float32, whatever the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from runs import SMOKE_RUN_ARGS, cotrain  # noqa: E402


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
  """One uninterrupted smoke run, shared: (workdir, completed process). Tests only read it
  (or resume it with the same config, which trains nothing)."""
  workdir = str(tmp_path_factory.mktemp("runs") / "smoke")
  proc = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return workdir, proc
