"""Dataset formats by name, and which one a directory holds."""

from __future__ import annotations

import os

from gdacot.data.sources.base import Reader
from gdacot.data.sources.validate import DatasetError

SOURCES: dict[str, type[Reader]] = {}  # format name -> its Reader subclass


def register_source(name: str, reader: type[Reader]) -> None:
  """Makes a format known by `name` (what `sources.<domain>.format` names). Once per name."""
  if not (isinstance(reader, type) and issubclass(reader, Reader)):
    raise TypeError(f"format {name!r}: {reader!r} is not a gdacot.data.sources.Reader subclass")
  if name in SOURCES and SOURCES[name] is not reader:
    raise ValueError(f"format {name!r} is already registered ({SOURCES[name].__qualname__})")
  SOURCES[name] = reader


def _known() -> str:
  return "\n".join(f"  - {SOURCES[n].looks_for or n}" for n in sorted(SOURCES))


def detect_format(path: str) -> str:
  """The name of the one registered format whose reader recognises `path`: a directory, or a
  file for single-file formats (a robomimic .hdf5)."""
  path = os.path.abspath(os.path.expanduser(str(path)))
  if not os.path.exists(path):
    raise DatasetError(f"{path}: no such file or directory")
  matches = [name for name, reader in sorted(SOURCES.items()) if reader.detect(path)]
  if not matches:
    raise DatasetError(f"{path}: not a dataset of any known format {sorted(SOURCES)}; "
                       f"the formats look for:\n{_known()}")
  if len(matches) > 1:
    raise DatasetError(f"{path}: looks like several formats {matches}; name one with "
                       "--config.sources.<domain>.format (or load(..., format=NAME))")
  return matches[0]


def open_source(path: str, format: str | None = None) -> tuple[str, Reader]:  # pylint: disable=redefined-builtin
  """(format name, opened reader) for the dataset at `path`; `format` None or '' detects it."""
  if format:
    if format not in SOURCES:
      raise DatasetError(f"{path}: unknown dataset format {format!r}; known: {sorted(SOURCES)}")
  else:
    format = detect_format(path)
  return format, SOURCES[format](path)
