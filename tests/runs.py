"""Runs the command-line entry points as users do: subprocesses on the CPU."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = "--config=experiments/configs/cotrain.py:smoke"
# The smoke run most tests share: uot_joint, 60 steps, checkpoints at 20, 40, 60.
SMOKE_RUN_ARGS = (SMOKE, "--config.steps=60", "--config.method=uot_joint")
# `jax.jit(..., compiler_options=OPTIMISED)`: XLA's default optimisation, for the loops a test
# runs long in-process (the suite compiles at level 0, conftest.py): unoptimised, stack's expert
# test took 204 s instead of 116 s.
OPTIMISED = {"xla_backend_optimization_level": 3}
ENTRY_KEYS = {"method", "domain", "region", "episodes", "successes", "success_rate", "ci95", "step", "seed"}


def env_for_subprocess(**extra):
  return dict(os.environ, JAX_PLATFORMS="cpu", **extra)


def xla_flags(*flags):
  """XLA_FLAGS for a subprocess: this session's (conftest.py's optimisation level) plus `flags`."""
  return " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()


def module(name, *args, timeout=600, **env):
  return subprocess.run([sys.executable, "-m", name, *args], cwd=ROOT, env=env_for_subprocess(**env),
                        capture_output=True, text=True, timeout=timeout)


def cotrain(*args, timeout=600, **env):
  return module("experiments.cotrain", *args, timeout=timeout, **env)


def start_cotrain(*args, **env):
  """A background training process (for kill and preemption tests)."""
  return subprocess.Popen([sys.executable, "-m", "experiments.cotrain", *args], cwd=ROOT,
                          env=env_for_subprocess(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def saved_state(workdir, step):
  """The train state of a checkpoint as numpy arrays, read onto this process's first device
  (whatever devices and processes wrote it), its structure taken from the checkpoint."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.abspath(workdir), "checkpoints", str(step), "state")
  checkpointer = ocp.StandardCheckpointer()
  here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=here),
                        checkpointer.metadata(path).item_metadata)
  return jax.tree.map(np.asarray, checkpointer.restore(path, target))


def assert_bitwise_equal(a, b):
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    assert x.dtype == y.dtype and x.shape == y.shape
    assert np.array_equal(x, y), "parameters differ from the uninterrupted run"


def logged_losses(workdir):
  """(step, loss) of every metrics.jsonl row."""
  import json  # pylint: disable=g-import-not-at-top
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [(row["step"], row["loss"]) for row in map(json.loads, f)]
