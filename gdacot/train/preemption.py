"""SIGTERM-driven preemption: note the request, let the loop save at the next chunk boundary.

Cluster schedulers (Slurm, Kubernetes, Cloud TPU maintenance) send SIGTERM and a grace period
before SIGKILL. The handler only sets a flag; the training loop checks it between compiled
chunks (at most `log_every` steps apart), saves a checkpoint, waits for it and exits 0. With
several processes every one must save the same step, so the flag is OR-ed across processes.
"""

from __future__ import annotations

import signal

import jax
import numpy as np


class PreemptionGuard:
  """`with PreemptionGuard() as guard: ... if guard.requested(): save; exit`."""

  def __init__(self, signals=(signal.SIGTERM,)):
    self._signals = signals
    self._previous = {}
    self._flag = False

  def __enter__(self) -> "PreemptionGuard":
    for sig in self._signals:
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def _handle(self, signum, frame) -> None:
    self._flag = True

  def requested(self) -> bool:
    """True once any process of the run has been asked to stop (a collective when multi-process)."""
    if jax.process_count() == 1:
      return self._flag
    from jax.experimental import multihost_utils
    flags = multihost_utils.process_allgather(np.asarray(self._flag, np.int32))
    return bool(np.any(flags))
