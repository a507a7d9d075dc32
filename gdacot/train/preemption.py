"""SIGTERM honoured at any moment of a run, within seconds.

Cluster schedulers (Slurm, Kubernetes, Cloud TPU maintenance) send SIGTERM, then SIGKILL after
a grace period (Kubernetes: 30 s by default). What a run does with it depends on its phase:

  setup       (dataset reading, demo generation, DTW pairing, compiles): nothing is worth
              saving yet, so the process exits at once, saying what the rerun redoes;
  training    the loop saves a checkpoint at the next chunk boundary and returns; if it has not
              within `grace_s` of the signal (a long first compile, a long chunk), the process
              exits without saving and the rerun resumes from the newest complete checkpoint.
              A save under way when the grace ends (`saving()`, then the asynchronous write
              that `wait_for_saves` waits for) is let finish first: the grace counts the wait
              for a chunk boundary, not a save that has begun;
  checkpoint  (scoring and analysis before a checkpoint, which may compile for many seconds):
              the step just trained is saved at once, unscored (`on_stop`), and the process
              exits; the scores only rank checkpoints for keep_best;
  evaluation  the final checkpoint is complete: the process exits at once; the rerun
              evaluates it again.

Every stop that leaves the run resumable exits with PREEMPTED (75, sysexits' EX_TEMPFAIL: "try
again"), so that a scheduler restarts it (a Kubernetes Job restarts a pod that failed, never one
that exited 0); a save that fails on the way out exits with FAILED (1). The table of exit codes
is in the README ("When a run stops").

Several processes (multi-host): a checkpoint is a collective save, so it happens only where all
processes agree to stop (`requested()`, an all-gather at each chunk boundary and after each
checkpoint); SIGTERM during checkpoint scoring then waits for the loop as in training. A process
that dies (SIGKILL, a crash) is noticed by JAX's coordination service within its heartbeat
timeout (gdacot.parallel), which ends the others: none hangs in a collective.

One writer of the run's files at a time: `on_stop` runs on the watchdog thread while holding the
guard's lock, and `enter` takes the same lock, so the loop, by calling `enter` before it writes
a checkpoint's metrics row, never writes while `on_stop` does, nor after it.

Python runs signal handlers only between bytecodes, so one that arrives during an XLA compile
or a long compiled call waits for it. The handler therefore also writes to a wakeup pipe
(`signal.set_wakeup_fd`, written by the C-level handler at once), read by a watchdog thread
that acts on the phase. Exiting with `os._exit` is safe in every phase: files are written
whole (temporary file + rename), orbax leaves an unfinished save as a temporary directory that
is never taken as a step, and the kernel releases the workdir lock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

import jax
import numpy as np

from gdacot.exit_codes import FAILED, PREEMPTED

SETUP, TRAINING, CHECKPOINT, EVALUATION = "setup", "training", "checkpoint scoring", "evaluation"

# A chunk boundary within this many seconds of the signal, leaving a save about 10 s before the
# SIGKILL of Kubernetes' default 30 s grace (the config's `preemption_grace_s` sets it per run).
DEFAULT_GRACE_S = 20.0


class PreemptionGuard:
  """`with PreemptionGuard() as guard: guard.enter(phase, redo); ... if guard.requested(): save`."""

  def __init__(self, grace_s: float = DEFAULT_GRACE_S, signals=(signal.SIGTERM,)):
    self.grace_s = grace_s
    self.wait_for_saves = None  # set by the run: blocks until its asynchronous saves are written
    self._saving = threading.Event()
    self._signals = signals
    self._previous = {}
    self._flag = False
    self._phase, self._redo, self._on_stop = SETUP, "the rerun starts again", None
    self._lock = threading.Lock()
    self._pipe = self._previous_fd = None
    self._done = threading.Event()

  def __enter__(self) -> "PreemptionGuard":
    for sig in self._signals:
      self._previous[sig] = signal.signal(sig, self._handle)
    if threading.current_thread() is threading.main_thread():
      read, write = os.pipe()
      os.set_blocking(write, False)
      self._pipe = (read, write)
      self._previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
      self._thread = threading.Thread(target=self._watch, name="preemption-watchdog", daemon=True)
      self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    with self._lock:
      self._done.set()
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    if self._pipe:
      signal.set_wakeup_fd(self._previous_fd if self._previous_fd is not None else -1)
      os.write(self._pipe[1], b"\0")  # wakes the watchdog, which sees `_done` and ends
      self._thread.join(timeout=5)
      for fd in self._pipe:
        os.close(fd)

  def enter(self, phase: str, redo: str, on_stop=None) -> None:
    """The run is now in `phase`; `redo` says what a rerun redoes if it stops here; `on_stop`,
    if given, runs (on the watchdog thread) before the process exits, e.g. to save a checkpoint.
    Blocks while the watchdog is stopping the process."""
    with self._lock:
      self._phase, self._redo, self._on_stop = phase, redo, on_stop
    if self._flag and not _waits_for_the_loop(phase):  # asked to stop while the last phase finished
      self._exit_now()

  @contextlib.contextmanager
  def saving(self):
    """While active, a save is under way: the grace period does not cut it off."""
    self._saving.set()
    try:
      yield
    finally:
      self._saving.clear()

  def _handle(self, signum, frame) -> None:
    self._flag = True

  def _watch(self) -> None:
    read = self._pipe[0]
    while True:
      data = os.read(read, 64)
      if self._done.is_set() or not data:
        return
      if not any(int(sig) in data for sig in self._signals):
        continue  # another signal with a Python handler (e.g. SIGINT) also writes here
      self._flag = True
      with self._lock:
        phase = self._phase
      if not _waits_for_the_loop(phase):  # nothing to wait for: save what `on_stop` saves, if anything
        self._exit_now()
        return
      deadline = time.monotonic() + self.grace_s
      while time.monotonic() < deadline or self._saving.is_set():  # a save under way finishes
        if self._done.wait(0.05):
          return
      if self.wait_for_saves is not None:
        try:
          self.wait_for_saves()  # the asynchronous part of a save that has begun
        except Exception as e:  # pylint: disable=broad-except
          _say(f"preempted (SIGTERM): a save under way failed ({type(e).__name__}: {e})")
          os._exit(FAILED)  # pylint: disable=protected-access
      with self._lock:
        if self._done.is_set():
          return
        _say(f"preempted (SIGTERM): no chunk boundary within {self.grace_s:g}s; exiting without saving: "
             f"{self._redo}")
        os._exit(PREEMPTED)  # pylint: disable=protected-access

  def _exit_now(self) -> None:
    with self._lock:
      if self._done.is_set():
        return
      if self._on_stop is not None:
        try:
          self._on_stop()
        except Exception as e:  # pylint: disable=broad-except  (stop anyway, and say what was lost)
          _say(f"preempted (SIGTERM) during {self._phase}: saving failed ({type(e).__name__}: {e}); the rerun "
               "resumes from the newest complete checkpoint")
          os._exit(FAILED)  # pylint: disable=protected-access
      _say(f"preempted (SIGTERM) during {self._phase}: {self._redo}")
      os._exit(PREEMPTED)  # pylint: disable=protected-access

  def requested(self) -> bool:
    """True once any process of the run has been asked to stop (a collective when multi-process)."""
    if jax.process_count() == 1:
      return self._flag
    from jax.experimental import multihost_utils
    flags = multihost_utils.process_allgather(np.asarray(self._flag, np.int32))
    return bool(np.any(flags))


def _waits_for_the_loop(phase: str) -> bool:
  """Whether SIGTERM in `phase` waits (up to the grace) for the loop to save where all processes
  agree to (`requested()`, a collective), rather than acting at once. With several processes a
  checkpoint is saved by all of them together, so the watchdog of one cannot save it alone: it
  would wait for peers that are scoring, or that already left."""
  return phase == TRAINING or (phase == CHECKPOINT and jax.process_count() > 1)


def _say(line: str) -> None:
  try:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
  except Exception:  # pylint: disable=broad-except  (a closed stdout must not stop the exit)
    pass
