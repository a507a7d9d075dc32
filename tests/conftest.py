import os
import shutil
import tempfile

import pytest

# Tests run on the CPU, in float32, whatever the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One persistent XLA compilation cache for this session, shared by every subprocess: most
# tests launch the same smoke programs, and a warm cache cuts a smoke run about 4x (docs/design.md, "Persistent compilation cache in tests").
_OWN_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _OWN_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="gdacot-jax-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# One demo cache too (gdacot.data.demo_cache): the smoke runs that ask for the same demos
# generate them once (tracing a demo rollout alone costs a run 4-9 s).
_OWN_DEMOS = None
if "GDACOT_DEMO_CACHE" not in os.environ:
  _OWN_DEMOS = os.environ["GDACOT_DEMO_CACHE"] = tempfile.mkdtemp(prefix="gdacot-demos-")

# XLA's LLVM backend without optimisation passes, for this process and every subprocess: the
# suite runs tiny programs, so compiling them costs far more than running them (a cold lift
# smoke run: 89 s of CPU at the default level, 57 s at level 0). Tests that run long loops
# in-process compile those loops optimised (runs.OPTIMISED). The code's semantics are the same
# at every level; only codegen differs, and the demo cache keys on XLA_FLAGS.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

from runs import SMOKE_RUN_ARGS, cotrain  # noqa: E402


@pytest.fixture(scope="module")
def reset(env):
  """The module's `env` fixture's reset, compiled once (domains are traced data, so every domain
  shares the compile): eager MJX resets cost seconds each."""
  import jax  # pylint: disable=g-import-not-at-top
  return jax.jit(env.reset)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
  """One uninterrupted smoke run, shared: (workdir, completed process). Tests only read it
  (or resume it with the same config, which trains nothing)."""
  workdir = str(tmp_path_factory.mktemp("runs") / "smoke")
  proc = cotrain(f"--workdir={workdir}", *SMOKE_RUN_ARGS)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return workdir, proc


def pytest_sessionfinish(session, exitstatus):
  for own in (_OWN_CACHE, _OWN_DEMOS):
    if own:
      shutil.rmtree(own, ignore_errors=True)
