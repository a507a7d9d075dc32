"""Atomic, durable file writes: whoever reads a file sees the old one or the new one, never half
of one, also after a power cut.

Results, reports and plots are written to a temporary file in the target's directory, flushed to
the disk (fsync), and then take the target's name with `os.replace` (atomic on POSIX, as both are
on one file system); the directory is fsynced too, so the new name itself survives a crash.
Without the first fsync a crash soon after the rename can leave an empty file under the name
(ext4 and XFS may commit the rename before the data). A run killed mid-write leaves the previous
file, or none, and at worst a hidden `.NAME.<8 hex>.tmp*` file (`is_temporary` tells them; a
run removes its workdir's on its next start); the target itself is never truncated.

  write_text(path, text)          write_bytes(path, data)          write_json(path, obj)
  with replacing(path) as tmp:    fig.savefig(tmp)   # any writer that takes a path
  with open_atomic(path, "wb") as f:   np.savez(f, ...)   # any writer that takes a file

`overwrite=False` refuses a target that exists (FileExistsError), also one that appears while the
data are being written: the final step is then a hard link, which fails rather than replace.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import uuid

_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp(\.[^.]*)?$")


def is_temporary(name: str) -> bool:
  """Whether the file name `name` is one of `replacing`'s temporary files."""
  return bool(_TEMPORARY.match(name))


def fsync_path(path: str) -> None:
  """Flushes the file or directory `path` to the disk (a directory: the names in it)."""
  fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0))
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _refuse(path: str) -> FileExistsError:
  return FileExistsError(errno.EEXIST, "exists (pass overwrite=True to replace it)", path)


@contextlib.contextmanager
def replacing(path: str, *, overwrite: bool = True):
  """Yields a temporary path next to `path`; when the block ends without an error, the file
  written there becomes `path`, and on an error it is removed. The temporary name ends in
  path's extension, for writers that pick the format from it (matplotlib, Pillow)."""
  directory, name = os.path.split(os.path.abspath(path))
  if not overwrite and os.path.lexists(path):
    raise _refuse(path)
  # Hidden, and unique per writer, so concurrent writers of one target cannot collide.
  tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:8]}.tmp{os.path.splitext(name)[1]}")
  try:
    yield tmp
    fsync_path(tmp)  # the data on the disk before the name points at it
    if overwrite:
      os.replace(tmp, path)
    else:
      try:
        os.link(tmp, path)  # fails if path appeared meanwhile, where os.replace would clobber it
      except FileExistsError:
        raise _refuse(path) from None
    fsync_path(directory)  # the new name on the disk
  finally:
    if os.path.lexists(tmp):
      os.remove(tmp)


@contextlib.contextmanager
def open_atomic(path: str, mode: str = "w", *, overwrite: bool = True):
  """`open(path, mode)` ("w" or "wb") whose file takes path's name only once it is closed."""
  if mode not in ("w", "wb"):
    raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
  with replacing(path, overwrite=overwrite) as tmp, open(tmp, mode) as f:
    yield f


def write_text(path: str, text: str, *, overwrite: bool = True) -> None:
  with open_atomic(path, "w", overwrite=overwrite) as f:
    f.write(text)


def write_bytes(path: str, data: bytes, *, overwrite: bool = True) -> None:
  with open_atomic(path, "wb", overwrite=overwrite) as f:
    f.write(data)


def write_json(path: str, obj, *, overwrite: bool = True, indent: int | None = 2) -> None:
  """obj as JSON (json.dumps's rules: NaN is written as NaN, which strict readers refuse)."""
  write_text(path, json.dumps(obj, indent=indent), overwrite=overwrite)
