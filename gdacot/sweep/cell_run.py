"""One cell's cotrain process, the same under every executor that runs it from Python: its
output appended to WORKDIR/logs/<cell>.log, its status and wall time (summed over its runs) in
WORKDIR/logs/<cell>.json, and what its exit code means for the sweep.

Plain strings only, so that a SLURM job can carry it (submitit pickles the job's callable).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import subprocess

from gdacot import io
from gdacot.exit_codes import PREEMPTED
from gdacot.sweep.cells import ROOT, Cell, command
from gdacot.sweep.summary import log_path, read_json, run_dir, timing_path


class CellFailed(RuntimeError):
  """A cell's cotrain run failed; its log says why. Rerunning resumes the sweep (exit code 1)."""


class Interrupted(Exception):
  """SIGTERM stopped a cell cleanly at its latest checkpoint: a rerun continues (exit 75, as a
  preempted training run's)."""


@dataclasses.dataclass(frozen=True)
class CellRun:
  name: str
  command: tuple[str, ...]
  run_dir: str
  log_path: str
  timing_path: str

  @classmethod
  def of(cls, cell: Cell, cfg, workdir: str) -> "CellRun":
    d = run_dir(workdir, cell)
    return cls(cell.name, tuple(command(cell, cfg, d)), d, log_path(workdir, cell), timing_path(workdir, cell))

  def resuming(self) -> bool:
    return os.path.isdir(self.run_dir)

  def start(self, env: dict | None = None) -> subprocess.Popen:
    """Starts the cotrain process from the repository root, its output appended to the log."""
    os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
    with open(self.log_path, "a") as log:
      log.write(f"$ {shlex.join(self.command)}\n")
      log.flush()
      return subprocess.Popen(self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)

  def finish(self, code: int, seconds: float, stopped: bool, why: str = "the sweep got SIGTERM") -> str:
    """Records a run of the cell that exited with `code` after `seconds`; `stopped`: SIGTERM was
    passed on to it. Returns "ran"; raises Interrupted if SIGTERM stopped it resumably (exit 75,
    or killed by the signal before cotrain set its handler) and CellFailed if it failed."""
    finished = code == 0 and os.path.exists(os.path.join(self.run_dir, "eval.json"))
    interrupted = not finished and (code == PREEMPTED or (stopped and code == -signal.SIGTERM))
    status = "ran" if finished else "interrupted" if interrupted else "failed"
    earlier = read_json(self.timing_path) if os.path.exists(self.timing_path) else {}
    io.write_json(self.timing_path, {"command": shlex.join(self.command), "status": status,
                                     "runs": earlier.get("runs", 0) + 1,
                                     "wall_time_s": earlier.get("wall_time_s", 0.0) + seconds})
    if interrupted:
      with open(self.log_path, "a") as log:
        log.write(f"--- {why} and passed it on (exit code {code}); rerun the sweep to continue\n")
      raise Interrupted("interrupted by SIGTERM, passed on to the cell, which stopped at its latest "
                        "checkpoint; rerun the same command to continue the sweep")
    if not finished:
      with open(self.log_path) as f:
        tail = "".join(f.readlines()[-25:])
      raise CellFailed(f"cell {self.name} failed (exit code {code}, no eval.json); the end of "
                       f"{self.log_path}:\n{tail}\nrerun the same command to resume the sweep")
    return status

