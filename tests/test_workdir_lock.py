"""The workdir lock (gdacot.train.workdir.WorkdirLock) at its edges: a lock file removed while
another run opens it, and the holder line read while it is being written. Two whole runs on
one workdir: tests/test_checkpoints.py."""

import fcntl
import os
import threading
import time

import pytest

from gdacot.train import workdir as workdir_module
from gdacot.train.workdir import WorkdirError, WorkdirLock


def test_a_run_that_opened_the_lock_as_a_refused_run_removed_it_still_excludes_others(tmp_path, monkeypatch):
  # A refused run created the workdir and removes it again as it leaves; a second run opened
  # WORKDIR/.lock just before, and takes the lock just after. It must not end up holding a
  # lock on a file that no longer exists, which a third run could not see.
  workdir = str(tmp_path / "run")
  refused = WorkdirLock(workdir).acquire()
  assert refused.created
  real_flock = fcntl.flock
  raced = []

  def flock_after_the_removal(fd, op):
    if op & fcntl.LOCK_EX and not raced:
      raced.append(fd)
      refused.release(remove_if_empty=True)  # between the second run's open and its flock
    return real_flock(fd, op)

  monkeypatch.setattr(workdir_module.fcntl, "flock", flock_after_the_removal)
  second = WorkdirLock(workdir).acquire()
  monkeypatch.setattr(workdir_module.fcntl, "flock", real_flock)
  assert raced
  assert os.path.samestat(os.fstat(second._fd), os.stat(second.path))  # pylint: disable=protected-access
  with pytest.raises(WorkdirError, match=f"in use by another run \\(host .*, pid {os.getpid()}"):
    WorkdirLock(workdir).acquire()
  second.release()


def test_a_refused_run_never_reads_a_half_written_holder(tmp_path):
  # The holder takes the lock, then writes its line: a run refused in between reads on until
  # the line is there, instead of reporting "holder unknown".
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  path = os.path.join(workdir, ".lock")
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, no line yet
  writer = threading.Timer(0.2, workdir_module._write_holder, args=(fd,))  # pylint: disable=protected-access
  writer.start()
  with pytest.raises(WorkdirError) as refusal:
    WorkdirLock(workdir).acquire()
  writer.join()
  assert f"pid {os.getpid()}" in str(refusal.value) and "holder unknown" not in str(refusal.value)
  os.close(fd)


def test_the_holder_line_replaces_a_longer_one_whole(tmp_path):
  path = tmp_path / ".lock"
  path.write_text('{"host": "' + "x" * 900 + '", "pid": 1, "started": "then"}\n')
  lock = WorkdirLock(str(tmp_path)).acquire()
  text = path.read_text()
  assert len(text) == workdir_module.HOLDER_BYTES and "x" * 10 not in text and f'"pid": {os.getpid()}' in text
  lock.release()
  start = time.monotonic()
  assert "pid" in workdir_module._read_holder(os.open(path, os.O_RDONLY))  # pylint: disable=protected-access
  assert time.monotonic() - start < 0.5
