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

# And one trace cache (gdacot.envs.batched): a process loads the tasks' batched reset, step and
# expert that an earlier one exported, instead of tracing and batching MJX again (a warm push_cube
# smoke run: 15 s instead of 22 s).
_OWN_TRACES = None
if "GDACOT_TRACE_CACHE" not in os.environ:
  _OWN_TRACES = os.environ["GDACOT_TRACE_CACHE"] = tempfile.mkdtemp(prefix="gdacot-traces-")

# XLA's LLVM backend without optimisation passes, for this process and every subprocess: the
# suite runs tiny programs, so compiling them costs far more than running them (a cold lift
# smoke run: 89 s of CPU at the default level, 57 s at level 0). Tests that run long loops
# in-process compile those loops optimised (runs.OPTIMISED). The code's semantics are the same
# at every level; only codegen differs, and the demo cache keys on XLA_FLAGS.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

from runs import SMOKE_RUN_ARGS, cotrain  # noqa: E402

# The test files that take longest, longest first (seconds of test time in a full run under
# load, 2026-12-06). xdist hands whole files (--dist loadfile) to whichever worker is free, in
# collection order; by default it reorders them by their number of tests, which put these
# few-test, long files last, where one ran alone while the other worker idled. Longest first
# lets the short files fill the end. A file missing here only runs later; nothing else changes.
LONGEST_FIRST = (
    "test_methods.py",  # 504
    "test_arm_tasks.py",  # 360
    "test_parallel.py",  # 340
    "test_experiments.py",  # 250
    "test_image_pipeline.py",  # 171
    "test_evaluate_cli.py",  # 147
    "test_bench_render.py",  # 130
    "test_lock_and_preemption.py",  # 116
    "test_cotrain_cli.py",  # 106
    "test_bench.py",  # 98
    "test_docs_commands.py",  # 96
    "test_checkpoints.py",  # 96
    "test_kept_demos.py",  # 89
    "test_seeds.py",  # 83
    "test_rlds.py",  # 81
)


def pytest_configure(config):
  if getattr(config.option, "loadscopereorder", None):
    config.option.loadscopereorder = False  # keep the order below (xdist >= 3.6)


def pytest_collection_modifyitems(config, items):
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests stay together, in order


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
  for own in (_OWN_CACHE, _OWN_DEMOS, _OWN_TRACES):
    if own:
      shutil.rmtree(own, ignore_errors=True)
