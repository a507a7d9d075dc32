"""Runs the command-line entry points as users do: subprocesses on the CPU."""

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = "--config=experiments/configs/cotrain.py:smoke"
# The smoke run most tests share: uot_joint, 60 steps, checkpoints at 20, 40, 60.
SMOKE_RUN_ARGS = (SMOKE, "--config.steps=60", "--config.method=uot_joint")
# `jax.jit(..., compiler_options=OPTIMISED)`: for the loops a test runs long in-process (the
# suite compiles at level 0, conftest.py). Level 1 runs them as fast as XLA's default (3) and
# compiles faster: alone, stack's closed loop (test_arm_tasks) compiled in about 16 s of wall
# instead of 29 s and ran 256 episodes in 22.9 s against 21.6 s (72 s at level 0); the whole
# file took 193 s of user CPU against 202 s at level 3, run side by side.
OPTIMISED = {"xla_backend_optimization_level": 1}
ENTRY_KEYS = {"method", "domain", "region", "episodes", "successes", "success_rate", "ci95", "step", "seed"}


def env_for_subprocess(**extra):
  return dict(os.environ, JAX_PLATFORMS="cpu", **extra)


def xla_flags(*flags):
  """XLA_FLAGS for a subprocess: this session's (conftest.py's optimisation level) plus `flags`."""
  return " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()


def module(name, *args, timeout=600, fork=True, cwd=ROOT, **env):
  """`python -m name args` in a process of its own, run to its end: (return code, stdout, stderr)
  as subprocess.run gives them. By default it is forked from this worker's fork server (JAX and
  the other heavy libraries already imported: forkserver.py), when the command's environment
  allows; `fork=False` starts a fresh interpreter (for what only a cold start shows)."""
  environment = env_for_subprocess(**env)
  if fork:
    done = _ForkServer.run_if_possible(name, args, str(cwd), environment, timeout)
    if done is not None:
      return done
  return subprocess.run([sys.executable, "-m", name, *args], cwd=cwd, env=environment, capture_output=True,
                        text=True, timeout=timeout)


# Environment variables a forked command may set differently from the server: read after
# import (XLA_FLAGS when the backend starts, gdacot's own when used), or pytest's bookkeeping.
_READ_AFTER_IMPORT = ("XLA_FLAGS", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "GDACOT_")


class _ForkServer:
  """This process's fork server (tests/forkserver.py), started on first use. One command at a
  time; a second caller meanwhile, or a server that died, gets a plain subprocess instead."""

  _instance = None
  _lock = threading.Lock()

  def __init__(self):
    self.env = env_for_subprocess()
    self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "forkserver.py")], cwd=ROOT,
                                 env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    self.buffer = b""
    atexit.register(self._stop)
    self.reply(timeout=300)  # {"ready": true}

  def _stop(self):
    """The server ends at its stdin's end; waited for, so its CPU counts as this process's."""
    self.proc.stdin.close()
    try:
      self.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
      self.proc.kill()

  @staticmethod
  def _same_imports(env, server_env):
    relevant = lambda e: {k: v for k, v in e.items() if not k.startswith(_READ_AFTER_IMPORT)}
    return relevant(env) == relevant(server_env)

  @classmethod
  def run_if_possible(cls, name, args, cwd, env, timeout):
    if not cls._lock.acquire(blocking=False):
      return None
    try:
      if cls._instance is None or cls._instance.proc.poll() is not None:
        cls._instance = cls()
      server = cls._instance
      if not cls._same_imports(env, server.env):
        return None
      return server.run(name, args, cwd, env, timeout)
    except (OSError, EOFError):  # the server is gone: this command, and the next, run plainly
      cls._instance = None
      return None
    finally:
      cls._lock.release()

  def reply(self, timeout):
    deadline = None if timeout is None else time.monotonic() + timeout
    while b"\n" not in self.buffer:
      left = None if deadline is None else max(0.0, deadline - time.monotonic())
      if not select.select([self.proc.stdout], [], [], left)[0]:
        raise TimeoutError
      chunk = os.read(self.proc.stdout.fileno(), 65536)
      if not chunk:
        raise EOFError("the fork server exited")
      self.buffer += chunk
    line, self.buffer = self.buffer.split(b"\n", 1)
    return json.loads(line)

  def run(self, name, args, cwd, env, timeout):
    argv = [sys.executable, "-m", name, *args]
    with tempfile.TemporaryDirectory(prefix="gdacot-fork-") as streams:
      out, err = os.path.join(streams, "stdout"), os.path.join(streams, "stderr")
      request = {"module": name, "args": list(args), "cwd": cwd, "env": env, "stdout": out, "stderr": err}
      self.proc.stdin.write((json.dumps(request) + "\n").encode())
      self.proc.stdin.flush()
      pid = self.reply(timeout=60)["pid"]
      try:
        returncode = self.reply(timeout)["returncode"]
      except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        self.reply(timeout=60)
        raise subprocess.TimeoutExpired(argv, timeout, output=_read(out), stderr=_read(err)) from None
      return subprocess.CompletedProcess(argv, returncode, _read(out), _read(err))


def _read(path):
  with open(path, errors="replace") as f:
    return f.read()


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
