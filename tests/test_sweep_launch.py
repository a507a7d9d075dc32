"""docs/scaling.md's SLURM recipe starts as written: `srun` gives each task SLURM's environment
and nothing else, and from that alone gdacot.parallel.initialize (what experiments.cotrain calls
first) brings up one JAX runtime over every task, collectives included. Two tasks on localhost,
with the variables srun sets for a 2-task step."""

import subprocess
import sys

from runs import ROOT, env_for_subprocess

_PROBE = """
from gdacot import parallel
parallel.initialize()  # no flags, as in the recipe
import jax, jax.numpy as jnp
from jax.experimental import multihost_utils
ranks = multihost_utils.process_allgather(jnp.array([jax.process_index()]))
print("probe", jax.process_index(), jax.process_count(), jax.device_count(), sorted(ranks.ravel().tolist()), flush=True)
"""


def test_srun_tasks_form_one_jax_runtime_from_slurms_environment():
  tasks = []
  for rank in (0, 1):
    env = env_for_subprocess(SLURM_JOB_ID="4242", SLURM_STEP_NODELIST="localhost", SLURM_NTASKS="2",
                             SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank))
    tasks.append(subprocess.Popen([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  try:
    outputs = [t.communicate(timeout=240)[0] for t in tasks]
  finally:
    for t in tasks:
      if t.poll() is None:
        t.kill()
  for rank, (task, out) in enumerate(zip(tasks, outputs)):
    assert task.returncode == 0, out[-2000:]
    line = next(l for l in out.splitlines() if l.startswith("probe "))
    assert line == f"probe {rank} 2 2 [0, 1]", line  # 2 processes, a device each, a gather over both
