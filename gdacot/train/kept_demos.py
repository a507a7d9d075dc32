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
    size = os.path.getsize(file)
    shown = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"
    log(f"demos {name}: kept in {file} ({shown}, compressed); "
        "every later start of this run reads them")


def _codegen_hint() -> str:
  """The way out for a run started before gdacot turned off XLA:CPU's fusion emitters (commit
  f4013dc, 2026-11-26): its demos were generated with them on."""
  if "xla_cpu_use_fusion_emitters=false" not in os.environ.get("XLA_FLAGS", ""):
    return ""  # the user chose the emitters' setting, or this jaxlib has no such flag
  return (" A run started by a gdacot from before 2026-11-26 (commit f4013dc) generated its demos with XLA:CPU's "
          "fusion emitters on: on the machine kind it started on, rerun the same command with "
          "XLA_FLAGS=--xla_cpu_use_fusion_emitters=true")


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
          f"or use a new --workdir.{_codegen_hint()}")
    raise CheckpointError(
        f"the {name} dataset now differs from the one checkpoint {step} was trained on (saved {was}, now {got}): "
        "a dataset file changed since; resume with the same data, or use a new --workdir")
