"""Checked-in results name no machine: no absolute paths, no hostname (issue 34)."""

import os
import re
import socket

from runs import ROOT

from gdacot import sweep

RESULTS = os.path.join(ROOT, "experiments", "results")
# Absolute paths of a machine's filesystem, as they would appear in a recorded command or path.
ABSOLUTE = re.compile(r"(?<![\w.~-])/(?:work|tmp|home|root|Users|mnt|scratch|data|opt|usr|var)/")


def _text_files(top):
  for d, _, files in os.walk(top):
    for f in files:
      path = os.path.join(d, f)
      try:
        with open(path, encoding="utf-8") as fh:
          yield path, fh.read()
      except UnicodeDecodeError:  # images, npz
        continue


def test_checked_in_results_hold_no_absolute_path_or_hostname():
  host = socket.gethostname()
  host_word = re.compile(rf"\b{re.escape(host)}\b") if len(host) >= 4 else None  # "vm" is also a word
  problems = []
  files = list(_text_files(RESULTS))
  assert len(files) > 20  # the scan sees the results
  for path, text in files:
    rel = os.path.relpath(path, ROOT)
    problems += [f"{rel}: {m.group(0)}..." for m in ABSOLUTE.finditer(text)][:1]
    if '"hostname"' in text:
      problems.append(f"{rel}: a hostname field")
    if host_word and host_word.search(text):
      problems.append(f"{rel}: this machine's hostname {host!r}")
  assert not problems, "\n".join(problems)


def test_a_grid_record_is_written_portable():
  """What gdacot.sweep writes: commands relative to the repository root, `python`, no hostname."""
  record = {"cells": [{"command": f"/opt/venv/bin/python3.11 -m experiments.cotrain --workdir={ROOT}/runs/t/a "
                                  f"--config={ROOT}/experiments/configs/cotrain.py:smoke",
                       "workdir": f"{ROOT}/runs/t/a"}],
            "machine": {"hostname": "node-17.cluster", "platform": "Linux", "cpu_count": 2}, "cwd": ROOT}
  out = sweep.portable(record)
  assert out["cells"][0]["command"] == ("python -m experiments.cotrain --workdir=runs/t/a "
                                        "--config=experiments/configs/cotrain.py:smoke")
  assert out["cells"][0]["workdir"] == "runs/t/a" and out["cwd"] == "."
  assert out["machine"] == {"platform": "Linux", "cpu_count": 2}
  assert sweep.portable_text(f"{ROOT}x/y") == f"{ROOT}x/y"  # another directory that shares the prefix
