"""A workdir belongs to one run: resume it when the config matches, refuse otherwise; and while
a run is alive, to that run alone (`WorkdirLock`).

The lock is an advisory `flock` on WORKDIR/.lock, held by the run's process 0 for its whole
life. The kernel releases it when the process ends in any way (exit, SIGKILL, a crash), so the
lock of a run that died never blocks its resumption, and there is no stale-lock cleanup to get
wrong. The file's text names the holder (host, pid, start time) for the refusal message.
On network filesystems flock is as good as the filesystem's lock support: NFSv4 and Lustre
(mounted with `flock`) lock across hosts; NFSv3 needs a working lockd; a filesystem without
lock support makes flock fail, and the run refuses to start rather than run unguarded, unless
GDACOT_NO_WORKDIR_LOCK=1 says the user guarantees one writer some other way.

A workdir is a path on a POSIX filesystem: a URL (`gs://...`, `s3://...`, anything with "://")
is refused (`check_posix_path`), since the lock needs flock and every atomic write a rename,
which object stores do not have (docs/scaling.md, "Workdirs").
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import importlib.metadata
import json
import os
import socket
import time

from gdacot.io import is_temporary, write_text

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
# Config blocks that may change between a run and its resumption (they do not affect training).
RESUMABLE_DIFFERENCES = ("eval", "log", "preemption_grace_s")


class WorkdirError(ValueError):
  pass


def check_posix_path(workdir: str) -> None:
  """Refuses a URL as a workdir (see the module doc): WorkdirError naming what would work."""
  if "://" in str(workdir):
    raise WorkdirError(f"workdir {workdir} is a URL, not a path on a POSIX filesystem: the run's lock needs flock "
                       "and its atomic writes need rename, which object stores lack. Use a path: a local disk, a "
                       "shared filesystem with locks (Filestore or another NFS share, Lustre), or the bucket "
                       "mounted with gcsfuse, one host writing (docs/scaling.md, \"Workdirs\")")


def differences(saved: dict, given: dict, ignore=()) -> list[tuple[str, object, object]]:
  """(dotted field, saved value, given value) wherever two JSON configs differ, sorted by field
  (None for a field one of them lacks); fields under the blocks in `ignore` left out."""
  a, b = _flatten(saved), _flatten(given)
  return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
          if a.get(k) != b.get(k) and k.split(".")[0] not in ignore]


def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flatten(v, key + "."))
    else:
      out[key] = v
  return out


def read_saved_config(workdir: str, log=print) -> dict | None:
  """The config the run in `workdir` started with, completed with the fields added to gdacot
  since (None for a workdir without a run). config.json first; where it does not read (an OS
  crash during its write, before writes were fsynced), the record of the newest checkpoint,
  which holds the same config."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    saved, step = _config_of_newest_checkpoint(workdir)
    if saved is None:
      raise WorkdirError(f"{path} is unreadable ({e}) and no checkpoint holds the run's config; refusing to "
                         f"touch {workdir}") from e
    log(f"note: {path} is unreadable ({e}); using the config saved with checkpoint {step} (config.json is "
        "written again from it)")
  from gdacot.train.config import ConfigError, complete_saved_config  # pylint: disable=g-import-not-at-top
  try:  # a run started by an older gdacot lacks the fields added since: they take their defaults
    return complete_saved_config(saved)
  except ConfigError as e:
    raise WorkdirError(f"the run's config ({path}) does not fit this version of gdacot ({e}); refusing to touch "
                       f"{workdir}") from e


def _config_of_newest_checkpoint(workdir: str) -> tuple[dict | None, int | None]:
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return None, None
  from gdacot.train.checkpoints import CheckpointError, Checkpoints  # pylint: disable=g-import-not-at-top
  ckpts = Checkpoints(directory, read_only=True)
  try:
    for step in reversed(ckpts.all_steps()):
      try:
        return ckpts.read_record(step)["config"], step
      except (CheckpointError, KeyError):
        continue
    return None, None
  finally:
    ckpts.close()


def resume_config(cfg, workdir: str, explicit=None, log=print):
  """The config to run in `workdir`: `cfg` itself for a new run; for a run the workdir already
  holds, the config it started with, so that rerunning the same command resumes it even where
  gdacot's defaults changed since. Fields in `explicit` (dotted names the user set, e.g. the
  command's --config.* overrides; None: those that differ from gdacot's defaults) must equal
  the saved values, or the run is refused naming them; the others take the saved values, and
  each default that changed since is reported in one line. RESUMABLE_DIFFERENCES (evaluation,
  logging, the preemption grace) stay the caller's: they may change between a run and its
  resumption."""
  saved = read_saved_config(workdir, log=log)
  if saved is None:
    return cfg
  given = _flatten(json.loads(json.dumps(cfg.to_dict())))
  if explicit is None:
    from gdacot.train.config import defaults_for  # pylint: disable=g-import-not-at-top
    defaults = _flatten(json.loads(json.dumps(defaults_for(cfg.task).to_dict())))
    explicit = [k for k in given if given[k] != defaults.get(k)]
  explicitly_set = lambda key: any(key == e or key.startswith(e + ".") for e in explicit)
  saved = _flatten(saved)
  dropped = sorted(k for k in saved if k not in given)
  if dropped:
    raise WorkdirError(f"workdir {workdir} holds a run whose config has field(s) this gdacot ({_version()}) no "
                       f"longer has: {', '.join(f'{k}={saved[k]!r}' for k in dropped[:8])}. Resume it with the "
                       "gdacot version that started it, or use a new --workdir")
  differ = sorted(k for k in given if k in saved and given[k] != saved[k] and k.split(".")[0] not in RESUMABLE_DIFFERENCES)
  conflicts = [k for k in differ if explicitly_set(k)]
  if conflicts:
    shown = ", ".join(f"{k}: {saved[k]!r} -> {given[k]!r}" for k in conflicts[:8])
    raise WorkdirError(f"workdir {workdir} holds another run (config differs in {shown}): the run's saved value(s) "
                       "differ from what you set. Use a new --workdir, or drop the override(s) to resume")
  for k in differ:
    log(f"resuming with the saved {k}={saved[k]!r}; today's default is {given[k]!r}")
    _set(cfg, k, saved[k])
  return cfg


def _version() -> str:
  try:
    return importlib.metadata.version("gdacot")
  except importlib.metadata.PackageNotFoundError:
    return "not installed"


def _set(cfg, dotted: str, value) -> None:
  *blocks, leaf = dotted.split(".")
  node = cfg
  for block in blocks:
    node = node[block]
  current = node[leaf]
  if isinstance(current, tuple) and isinstance(value, list):  # JSON holds tuples as lists
    value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
  node[leaf] = value


def prepare_workdir(workdir: str, config: dict, *, check_only: bool = False) -> bool:
  """Creates the workdir, or checks that it holds this same run (`resume_config` made `config`
  the saved one). Returns True to resume. `check_only` raises what it would raise but creates
  and writes nothing (the check before the lock, so that a refused run leaves another run's
  workdir untouched). Otherwise (under the lock) it removes the temporary files of writes a
  kill cut off, and writes config.json back where it did not read."""
  check_posix_path(workdir)
  path = os.path.join(workdir, CONFIG_FILE)
  config = json.loads(json.dumps(config))  # normalise tuples to lists
  if os.path.exists(path):
    saved = read_saved_config(workdir, log=lambda line: None)
    diff = differences(saved, config, ignore=RESUMABLE_DIFFERENCES)
    if diff:
      shown = ", ".join(f"{k}: {there!r} -> {here!r}" for k, there, here in diff[:8])
      raise WorkdirError(
          f"workdir {workdir} holds another run (config differs in {shown}). "
          "Use a new --workdir, or the same config to resume."
      )
    if not check_only:
      _remove_temporary_files(workdir)
      if not _reads_as_json(path):
        write_text(path, json.dumps(config, indent=2, sort_keys=True))
    return True
  if os.path.isdir(workdir) and {n for n in os.listdir(workdir) if not is_temporary(n)} - {LOCK_FILE}:
    raise WorkdirError(
        f"workdir {workdir} is not empty and has no {CONFIG_FILE}: it is not a gdacot run; "
        "refusing to write into it"
    )
  if check_only:
    return False
  os.makedirs(workdir, exist_ok=True)
  _remove_temporary_files(workdir)
  # Whole or not at all: a run stopped here leaves no half-written config.
  write_text(path, json.dumps(config, indent=2, sort_keys=True))
  return False


def _reads_as_json(path: str) -> bool:
  try:
    with open(path) as f:
      json.load(f)
    return True
  except (OSError, ValueError):
    return False


def _remove_temporary_files(workdir: str) -> None:
  """gdacot.io's temporary files that a kill left behind (orbax cleans its own directory)."""
  for root, dirs, files in os.walk(workdir):
    dirs[:] = [d for d in dirs if os.path.join(root, d) != os.path.join(workdir, "checkpoints")]
    for name in files:
      if is_temporary(name):
        os.remove(os.path.join(root, name))


class WorkdirLock:
  """`with WorkdirLock(workdir):` the run's exclusive hold on its workdir (see the module doc).

  Creates the workdir if it does not exist; `created` says whether it did, so a run refused
  before writing anything can remove it again (`release(remove_if_empty=True)`).

  Removing the lock file is safe because every acquirer checks, once it holds the lock, that
  the file it locked is still the one at WORKDIR/.lock, and starts again if not: a run that
  opened the file just before a refused run removed it would otherwise hold a lock on a file
  nobody else can see, and a third run could lock a new one beside it. (Releasing first and
  removing after is not safe: a run could lock the file in between and then lose it.)
  """

  def __init__(self, workdir: str):
    self.workdir = workdir
    self.path = os.path.join(workdir, LOCK_FILE)
    self.created = False
    self._fd = None

  def acquire(self) -> "WorkdirLock":
    check_posix_path(self.workdir)
    if os.environ.get("GDACOT_NO_WORKDIR_LOCK") == "1":
      return self
    while self._fd is None:
      self.created = not os.path.exists(self.workdir)
      try:
        os.makedirs(self.workdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      except OSError as e:
        raise WorkdirError(f"cannot create the workdir lock {self.path}: {e}") from e
      try:
        _flock_soon(fd)
      except OSError as e:
        holder = _read_holder(fd)
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
          raise WorkdirError(f"workdir {self.workdir} is in use by another run ({holder}; lock {self.path}). "
                             "Wait for it to end or stop it; a run that died releases the lock, and the same "
                             "command then resumes it") from None
        raise WorkdirError(f"cannot lock {self.path} ({e}): this filesystem does not support flock. Use a workdir "
                           "on one that does, or set GDACOT_NO_WORKDIR_LOCK=1 if you make sure one run writes it") from e
      if _is_file_at(fd, self.path):
        self._fd = fd
      else:  # removed meanwhile by a run that released it (see the class doc): lock the new one
        os.close(fd)
    _write_holder(self._fd)
    return self

  def release(self, remove_if_empty: bool = False) -> None:
    """Lets go of the lock; with `remove_if_empty`, removes a workdir this lock created that
    holds nothing else (a run refused before it wrote anything leaves nothing behind). The
    removal happens while the lock is held (see the class doc)."""
    if self._fd is None:
      return
    if remove_if_empty and self.created and set(os.listdir(self.workdir)) == {LOCK_FILE}:
      os.remove(self.path)
      try:
        os.rmdir(self.workdir)
      except OSError:  # another run wrote into it meanwhile: it is theirs now
        pass
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  def __enter__(self) -> "WorkdirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


def _flock_soon(fd: int, wait_s: float = 0.5) -> None:
  """flock(LOCK_EX), tried again for a moment while another process holds it: `lock_holder`
  holds it for microseconds to see whether a run does, and must not make a run starting just
  then refuse. Raises flock's OSError."""
  deadline = time.monotonic() + wait_s
  while True:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      return
    except OSError as e:
      if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or time.monotonic() > deadline:
        raise
      time.sleep(0.05)


def lock_holder(workdir: str) -> str | None:
  """Who holds the workdir's lock ("host H, pid P, started T"), or None when no run does: a
  running run holds it, a finished or dead one does not. Never waits."""
  path = os.path.join(workdir, LOCK_FILE)
  try:
    fd = os.open(path, os.O_RDONLY)
  except FileNotFoundError:
    return None
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
      raise WorkdirError(f"cannot read the lock {path} ({e}): this filesystem does not support flock") from e
    return _read_holder(fd)
  else:
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None
  finally:
    os.close(fd)


def _is_file_at(fd: int, path: str) -> bool:
  try:
    here, there = os.fstat(fd), os.stat(path)
  except FileNotFoundError:
    return False
  return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


# The holder line is written in one piece of a fixed size and never truncated first, so a
# reader sees the old line or the new one; a reader that finds none yet (the holder has just
# taken the lock) reads again for a moment.
HOLDER_BYTES = 512


def _write_holder(fd: int) -> None:
  started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  line = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started}).encode()
  record = line.ljust(HOLDER_BYTES - 1) + b"\n"
  os.pwrite(fd, record, 0)
  if os.fstat(fd).st_size > len(record):  # a longer line written by an older gdacot
    os.ftruncate(fd, len(record))


def _read_holder(fd: int, wait_s: float = 1.0) -> str:
  deadline = time.monotonic() + wait_s
  while True:
    try:
      info = json.loads(os.pread(fd, 4096, 0).decode().split("\n")[0])
      return f"host {info['host']}, pid {info['pid']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
      if time.monotonic() > deadline:
        return "holder unknown"
      time.sleep(0.02)
