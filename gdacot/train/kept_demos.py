"""The demos a run generated, kept in its workdir: every later start of the run reads them.

Generating demos is bitwise reproducible only on the same kind of CPU (XLA:CPU's code depends
on the host's instruction set: an AVX-512 EPYC rounds the same seeds' demos differently), with
the same JAX and MuJoCo versions and the same XLA flags. A run preempted on one node type and
resumed on another would regenerate demos with other rounding, and its checkpoints, which
record what they were trained on (`Run.data_ids`), would refuse it. So a run writes each
generated domain's demos to WORKDIR/demos/<domain>.npz before its first training step, and a
resume samples from those. Domains read from dataset files are not copied: the files are the
record, and their checkpoint fingerprints say whether they changed.
"""

from __future__ import annotations

import os

from gdacot.data import Demos, demo_files
from gdacot.train.checkpoints import CheckpointError

DIRECTORY = "demos"


def path(workdir: str, name: str) -> str:
  return os.path.join(workdir, DIRECTORY, f"{name}.npz")


def read(workdir: str, names, log=print) -> dict[str, Demos]:
  """The kept demos of the domains `names` that the workdir holds. A file that does not read
  (damaged by a crash) is passed over with a note: the demos are generated again, and the
  checkpoint's fingerprints decide whether the run may go on with them."""
  kept = {}
  for name in names:
    file = path(workdir, name)
    if not os.path.exists(file):
      continue
    try:
      kept[name] = demo_files.read(file)
    except demo_files.READ_ERRORS as e:
      log(f"note: {file} does not read ({type(e).__name__}: {e}); generating the {name} demos again")
      continue
    log(f"demos {name}: {kept[name].num_episodes} demos, {kept[name].num_frames} frames kept in {file}")
  return kept


def write(workdir: str, demos: dict[str, Demos], names, log=print) -> None:
  """Keeps the demos of the domains `names` (replacing a file that did not read)."""
  for name in names:
    file = path(workdir, name)
    demo_files.write(file, demos[name])
    log(f"demos {name}: kept in {file} ({os.path.getsize(file) / 2**20:.1f} MiB, compressed); "
        "every later start of this run reads them")


def check(saved: dict, now: dict, *, step: int, workdir: str, kept, generated) -> None:
  """Refuses to resume from checkpoint `step` unless every domain's data fingerprint `now`
  matches the one the checkpoint saved, naming the reason for the domain that differs: a kept
  file changed, demos generated again that came out otherwise, or a dataset file changed."""
  for name in sorted(set(saved) | set(now)):
    was, got = saved.get(name), now.get(name)
    if was == got:
      continue
    if name in kept:
      raise CheckpointError(
          f"{path(workdir, name)} is not the {name} demos checkpoint {step} was trained on (saved {was}, "
          f"the file {got}): it was replaced or damaged. Put the run's own file back, or use a new --workdir")
    if name in generated:
      raise CheckpointError(
          f"checkpoint {step} was trained on {name} demos that {workdir} does not keep (the run was started by "
          f"a gdacot that did not keep them in {DIRECTORY}/, or the file was deleted), and the demos generated "
          f"now differ (saved {was}, now {got}). Generated demos are bitwise the same only on the same kind of "
          "CPU, with the same JAX and MuJoCo versions, XLA flags and task code: resume where the run started, "
          "or use a new --workdir")
    raise CheckpointError(
        f"the {name} dataset now differs from the one checkpoint {step} was trained on (saved {was}, now {got}): "
        "a dataset file changed since; resume with the same data, or use a new --workdir")
