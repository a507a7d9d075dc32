"""The slurm executor: the cells as one SLURM job array through submitit, one cell per task.

Each task runs its cell's cotrain process (gdacot.sweep.cell_run). SLURM signals a job before
its time limit, and a cluster that preempts signals it too (submitit asks for USR2, `signal_delay_s`
ahead): submitit then calls the job's `checkpoint`, which passes SIGTERM on to cotrain, waits
while it saves a checkpoint and exits 75, and hands submitit the same cell to requeue; the
requeued task resumes from that checkpoint, as every cell resumes from its workdir.

submitit runs the same code path without SLURM (`cluster`: "local" runs each task as a process
of this machine, "debug" in this process): that is how the tests drive it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

from gdacot.exit_codes import PREEMPTED
from gdacot.sweep.cell_run import CellFailed, CellRun, Interrupted
from gdacot.sweep.cells import GridError
from gdacot.sweep.summary import read_json

CLUSTERS = ("slurm", "local", "debug")
# SLURM sends SIGTERM to every process of a preempted job; submitit's USR2 (which requeues it)
# may come just after: a cell that cotrain stopped this way waits this long for it.
REQUEUE_WAIT_S = 30


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
  partition: str = ""  # "": the cluster's default
  gpus: int = 0  # per task (gpus_per_node)
  cpus: int = 0  # per task; 0: the cluster's default
  mem_gb: float = 0.0  # per task; 0: the cluster's default
  time_min: int = 240  # each task's time limit; a cell that needs more is requeued from its checkpoint
  max_requeues: int = 10  # requeues after reaching the time limit (preemptions do not count)
  signal_delay_s: int = 120  # USR2 this long before the time limit: cotrain's stop needs ~log_every steps
  max_running: int = 0  # array tasks running at once; 0: as many as the cluster gives
  cluster: str = "slurm"  # or "local", "debug": submitit's stand-ins, on this machine

  def problems(self) -> list[str]:
    out = [] if self.cluster in CLUSTERS else [f"slurm cluster must be one of {CLUSTERS}, got {self.cluster!r}"]
    for name in ("gpus", "cpus", "mem_gb", "max_requeues", "max_running"):
      if getattr(self, name) < 0:
        out.append(f"slurm {name} must be >= 0, got {getattr(self, name)}")
    for name in ("time_min", "signal_delay_s"):
      if getattr(self, name) <= 0:
        out.append(f"slurm {name} must be positive, got {getattr(self, name)}")
    if self.signal_delay_s >= 60 * self.time_min:
      out.append(f"slurm signal_delay_s ({self.signal_delay_s}) must be shorter than time_min ({self.time_min} min)")
    return out


class CellJob:
  """A cell as a submitit job; `checkpoint` is what submitit calls on preemption or timeout."""

  def __init__(self, run: CellRun):
    self.run = run
    self._proc = self._waiter = None
    self._t0 = 0.0
    self._stopped = self._recorded = False

  def __getstate__(self):  # a job carries its cell, not the process of an earlier attempt
    return {"run": self.run}

  def __setstate__(self, state):
    self.__init__(state["run"])

  def __call__(self) -> str:
    self._t0 = time.perf_counter()
    self._proc = self.run.start()
    # The process is waited for in a thread, so that the main thread, which takes submitit's
    # signal handler, never blocks inside Popen.wait (the handler waits for the same process).
    self._waiter = threading.Thread(target=self._proc.wait, daemon=True)
    self._waiter.start()
    while self._waiter.is_alive():
      self._waiter.join(0.5)
    if self._proc.returncode == PREEMPTED and not self._stopped:
      time.sleep(REQUEUE_WAIT_S)  # SLURM's SIGTERM reached cotrain first; submitit's USR2 requeues
    return self._record(stopped=self._stopped)

  def _record(self, stopped: bool) -> str:
    if self._recorded:
      return "recorded"
    self._recorded = True
    return self.run.finish(self._proc.returncode, time.perf_counter() - self._t0, stopped=stopped,
                           why="the job was preempted or reached its time limit")

  def checkpoint(self, *args, **kwargs):
    """Stops the cell at a checkpoint (SIGTERM; cotrain saves and exits 75), then hands submitit
    the same cell to requeue: the requeued task resumes from that checkpoint."""
    from submitit.helpers import DelayedSubmission  # pylint: disable=g-import-not-at-top
    if self._proc is not None:
      self._stopped = True
      self._proc.send_signal(signal.SIGTERM)
      self._waiter.join()
      try:
        self._record(stopped=True)
      except (Interrupted, CellFailed):  # recorded in the cell's log and timing; the requeue resumes it
        pass
    return DelayedSubmission(CellJob(self.run))


def run_slurm(runs: list[tuple[str, CellRun]], options: SlurmOptions, folder: str, name: str, done) -> None:
  """Submits each (tag, cell) as one task of a job array and waits for them, calling done(tag,
  run) as each finishes. Raises CellFailed naming the cells whose jobs failed, Interrupted when
  the wait is stopped (Ctrl-C: the jobs go on)."""
  try:
    import submitit  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise GridError("--executor=slurm needs submitit: pip install 'gdacot[slurm]'") from None
  executor = submitit.AutoExecutor(folder=os.path.join(folder, "%j"), cluster=options.cluster,
                                   slurm_max_num_timeout=options.max_requeues,
                                   local_max_num_timeout=options.max_requeues)
  executor.update_parameters(
      name=name.replace("/", "-"), timeout_min=options.time_min, gpus_per_node=options.gpus or None,
      cpus_per_task=options.cpus or None, mem_gb=options.mem_gb or None,
      slurm_partition=options.partition or None, slurm_array_parallelism=options.max_running or len(runs),
      slurm_signal_delay_s=options.signal_delay_s)
  with executor.batch():
    jobs = [executor.submit(CellJob(run)) for _, run in runs]
  print(f"submitted {len(jobs)} cell(s) to {options.cluster} (job {', '.join(j.job_id for j in jobs)}), "
        f"submitit's files in {folder}; waiting for them (stopping the wait leaves the jobs running: "
        "--collect writes the summary when they are done)", flush=True)
  failed = []
  try:
    for (tag, run), job in zip(runs, jobs):
      try:
        job.result()
      except Exception:  # pylint: disable=broad-except  (submitit's, with the job's traceback)
        status = read_json(run.timing_path)["status"] if os.path.exists(run.timing_path) else "never started"
        failed.append(f"{tag}: job {job.job_id} failed, the cell {status}; see {run.log_path} and {job.paths.stderr}")
        print(failed[-1], flush=True)
      else:
        done(tag, run)
  except KeyboardInterrupt:
    raise Interrupted(f"stopped waiting; the jobs go on ({', '.join(j.job_id for j in jobs)}): rerun with "
                      "--collect when they are done") from None
  if failed:
    raise CellFailed("\n".join(failed) + "\nrerun the same command to resubmit the unfinished cells (each "
                     "resumes from its checkpoint)")
