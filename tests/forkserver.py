"""Runs `python -m MODULE ARGS` for the tests as forks of a process that has already imported the
heavy libraries, so that a command's process does not pay for importing them again.

Every command-line test runs its module in a process of its own, as a user types it; but each of
those processes spent about 3 s of CPU importing JAX, Flax, orbax, MJX, ott and scipy before its
first line of work (`python -c "import experiments.cotrain"`: 3.1 s of user CPU on this 2-core
machine, against 0.4 s once those are imported), and the suite starts well over a hundred of
them. This server imports them once (no JAX backend is started, so forking is safe: JAX warns
only once a backend runs), and forks one child per command. The child is a process of its own
with the command's working directory, environment, argv and standard streams; it runs the module
as `__main__` through runpy, as `python -m` does, and exits through the interpreter's normal
shutdown (threads joined, atexit handlers, streams flushed).

What a fork cannot give a command, it does not get: a command whose environment differs from the
server's in a variable read at import time (JAX_*, PYTHONPATH, and everything but those listed in
`runs._READ_AFTER_IMPORT`) runs as a plain subprocess instead (`runs.module` decides). XLA_FLAGS
may differ: XLA reads it when the backend starts, in the child. Nothing of gdacot or the
repository is imported here, so a command run from another directory (a fresh clone) imports
that directory's code, as `python -m` there would.

Protocol, one JSON object per line: a request on stdin {"module", "args", "cwd", "env", "stdout",
"stderr"} (the last two are file paths); on stdout {"pid": ...} once forked, then
{"returncode": ...} (negative: killed by that signal, as subprocess reports it).
"""

import contextlib
import importlib
import io
import json
import os
import runpy
import signal
import sys
import traceback

# What `python -c "import experiments.cotrain"` spends its time on, and the other commands'
# heavy imports (ott: the OT losses; scipy.stats: gdacot.stats).
PRELOAD = ("numpy", "scipy.stats", "jax", "jax.numpy", "flax.nnx", "optax", "orbax.checkpoint", "mujoco",
           "mujoco.mjx", "ml_collections", "ml_collections.config_flags", "absl.app", "absl.flags", "absl.logging",
           "chex", "tensorboardX", "PIL.Image", "ott.geometry.pointcloud", "ott.solvers.linear.sinkhorn")


def _run_child(request):
  """In the forked child: become the command's process, run its module, and exit as Python would.
  (The protocol's descriptors stay open in it, unused: closing them under their file objects
  would let the objects' finalisers close whatever later reuses the numbers.)"""
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
  err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
  for fd, target in ((out, 1), (err, 2)):
    os.dup2(fd, target)
    os.close(fd)
  sys.path[0] = request["cwd"]  # as `python -m` sets it
  sys.argv = ["-m", *request["args"]]  # runpy puts the module's path first
  try:
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
  except SystemExit:
    raise
  except BaseException:  # pylint: disable=broad-except
    traceback.print_exc()
    sys.exit(1)
  sys.exit(0)


def main():
  # The protocol on private descriptors; the commands get /dev/null as stdin and their own files
  # as stdout and stderr on 0, 1 and 2, where Python's streams already are.
  requests, replies = os.fdopen(os.dup(0), "r"), os.fdopen(os.dup(1), "w")
  os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
  os.dup2(2, 1)
  os.environ.pop("PYTEST_CURRENT_TEST", None)
  with contextlib.redirect_stdout(io.StringIO()):  # MJX's "Failed to import warp" (gdacot/__init__.py)
    for name in PRELOAD:
      importlib.import_module(name)
  print(json.dumps({"ready": True}), file=replies, flush=True)
  for line in requests:
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      _run_child(request)  # ends in SystemExit: the interpreter's exit
    print(json.dumps({"pid": pid}), file=replies, flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), file=replies, flush=True)


if __name__ == "__main__":
  main()
