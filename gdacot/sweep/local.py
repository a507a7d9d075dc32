"""The local executor: the cells as subprocesses of this process, `parallel` at a time (a GPU
is mostly idle under one small cell: its MJX rollouts and compiles are latency- and CPU-bound,
so several cells share it well).

SIGTERM to the sweep (Kubernetes and Slurm signal only the main process) is passed on to the
running cells, which save a checkpoint and stop; the sweep then raises Interrupted.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import signal
import subprocess
import threading
import time

from gdacot.sweep.cell_run import CellFailed, CellRun, Interrupted


class ForwardSigterm:
  """While active, SIGTERM to the sweep is noted and passed on to the running cells' processes.

  Without this the sweep would die and leave its training children running unsignalled, to be
  killed without a checkpoint when the scheduler's grace period ends."""

  def __init__(self):
    self.requested = False
    self._children = set()
    self._lock = threading.Lock()  # cells run from worker threads with --parallel

  def __enter__(self) -> "ForwardSigterm":
    self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    signal.signal(signal.SIGTERM, self._previous)

  def _handle(self, signum, frame) -> None:
    self.requested = True
    with self._lock:
      for child in self._children:
        child.send_signal(signal.SIGTERM)  # a no-op once the child has been waited for

  def wait(self, proc: subprocess.Popen) -> int:
    """Waits for proc, forwarding SIGTERM to it, also one that came while it was starting."""
    with self._lock:
      self._children.add(proc)
      if self.requested:
        proc.send_signal(signal.SIGTERM)
    try:
      return proc.wait()
    finally:
      with self._lock:
        self._children.discard(proc)


def cell_environment(parallel: int) -> dict:
  """The cells' environment. Cells sharing one GPU must not each take JAX's default 75% of its
  memory up front: with --parallel=N each gets a 1/N share unless the user set the allocator."""
  env = dict(os.environ)
  if parallel > 1 and not {"XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE",
                           "XLA_PYTHON_CLIENT_ALLOCATOR"} & set(env):
    # Rounded down: 0.9 / 7 printed as 0.129 would hand out 90.3%.
    env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{math.floor(900 / parallel) / 1000:.3f}"
  return env


def run_local(runs: list[tuple[str, CellRun]], parallel: int, done) -> None:
  """Runs each (tag, cell) to its eval.json, `parallel` at a time, calling done(tag, run) after
  each. After a failed cell no other starts; raises CellFailed, or Interrupted after the cells
  running when SIGTERM came have stopped."""
  env = cell_environment(parallel)
  failed = threading.Event()

  def run_one(tag: str, run: CellRun, sigterm: ForwardSigterm) -> None:
    if failed.is_set():
      return
    if sigterm.requested:  # SIGTERM before this cell started: start no other
      raise Interrupted(f"{tag}: not started (SIGTERM); rerun the same command to continue the sweep")
    print(f"{tag}: running{' (resuming its checkpoint)' if run.resuming() else ''}, log {run.log_path}", flush=True)
    t0 = time.perf_counter()
    code = sigterm.wait(run.start(env))
    try:
      run.finish(code, time.perf_counter() - t0, stopped=sigterm.requested)
    except CellFailed:
      failed.set()
      raise
    except Interrupted as e:
      raise Interrupted(f"{tag}: {e}") from None
    done(tag, run)

  with ForwardSigterm() as sigterm:
    if parallel == 1:
      for tag, run in runs:
        run_one(tag, run, sigterm)
      return
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
      futures = [pool.submit(run_one, tag, run, sigterm) for tag, run in runs]
      pending = set(futures)
      while pending:  # short waits: the main thread must stay free to take SIGTERM
        _, pending = concurrent.futures.wait(pending, timeout=1.0)
    errors = [f.exception() for f in futures if f.exception() is not None]
    # A failed cell outranks an interruption; every cell still running was waited for.
    for kind in (CellFailed, Interrupted, BaseException):
      for e in errors:
        if isinstance(e, kind):
          raise e
