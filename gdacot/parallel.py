"""Device mesh, shardings and multi-host start-up.

The user's card asks for a "pmap-sharded" train step. Current JAX delivers that intent with a
`jax.sharding.Mesh` over every device of every process and `NamedSharding`s under `jax.jit`
(GSPMD): the program is written for one global batch, the batch axis is constrained to the
mesh's "data" axis, and XLA partitions the computation and inserts the collectives (the
gradient all-reduce, and the gather of features that a global OT batch needs). `jax.pmap` is a
maintenance-mode wrapper over `shard_map` since JAX 0.8, and 0.10 removed `PmapSharding`.

The mesh has two axes, ("data", "model"); "model" has size 1 for now and leaves room for
model parallelism without changing a PartitionSpec elsewhere.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA, MODEL = "data", "model"


def _cluster_detected() -> bool:
  """True where `jax.distributed.initialize()` can find its peers by itself: a Slurm job or
  an Open MPI launch with several tasks, or a multi-host Cloud TPU slice."""
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in os.environ:
    return True
  if int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
    return True
  return "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")


# A process that dies (SIGKILL, a crash, a lost node) must end its peers quickly, or they wait in
# their next collective for ever: JAX's coordination service declares it dead after this many
# seconds without a heartbeat (JAX's default: 100) and stops the others. And a process that ends
# normally waits at most this long at the exit barrier for peers that will never reach it.
FAILURE_DETECTION = dict(heartbeat_timeout_seconds=10, shutdown_timeout_seconds=10)


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Starts JAX's multi-host runtime: from explicit settings when any is given, by JAX's own
  cluster detection on Slurm, Open MPI or Cloud TPU, and not at all for a single process."""
  explicit = (coordinator_address, num_processes, process_id)
  if any(v is not None for v in explicit):
    if None in explicit:
      raise ValueError("multi-process start-up needs all of --coordinator_address, --num_processes "
                       f"and --process_id (got {coordinator_address!r}, {num_processes!r}, {process_id!r})")
    if not 0 <= process_id < num_processes:
      raise ValueError(f"--process_id must be in [0, --num_processes={num_processes}), got {process_id}")
    # CPU processes need a collectives backend (no-op for GPU and TPU, which bring their own).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id, **FAILURE_DETECTION)
  elif _cluster_detected():
    jax.distributed.initialize(**FAILURE_DETECTION)


def make_mesh(devices=None) -> Mesh:
  """A (data, model) = (all devices, 1) mesh over every device of every process."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices).reshape(len(devices), 1), (DATA, MODEL),
              axis_types=(AxisType.Auto, AxisType.Auto))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (parameters, optimiser state, datasets)."""
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """The leading (batch) axis is split over the data axis."""
  return NamedSharding(mesh, P(DATA))


def shard_batch(tree, mesh: Mesh | None):
  """Inside `jit`: constrains every array of `tree` to be split along its leading axis over
  the data axis (a no-op without a mesh). XLA then runs each device's share of the batch."""
  if mesh is None:
    return tree
  return jax.lax.with_sharding_constraint(tree, batch_sharded(mesh))


def gather_replicated(tree, mesh: Mesh | None):
  """Inside `jit`: constrains `tree` to be whole on every device (one all-gather of a
  batch-sharded value). The OT solve then runs on every device without further collectives,
  rather than XLA partitioning the cost matrix and all-reducing inside every Sinkhorn step."""
  if mesh is None:
    return tree
  return jax.lax.with_sharding_constraint(tree, replicated(mesh))


def replicate(tree, mesh: Mesh):
  """Host values -> global arrays replicated over the mesh. Every process passes the same
  values (each fills only the copies on its own devices), so this works across hosts."""
  sharding = replicated(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, tree)


def to_host(tree):
  """Global arrays -> numpy. A replicated array is read from a local copy (no communication);
  a sharded one spanning several processes is gathered from all of them."""
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

  def get(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
      return np.asarray(jax.device_get(x))
    if x.sharding.is_fully_replicated:
      return np.asarray(x.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))

  return jax.tree.map(get, tree)


def from_chief(value: bool) -> bool:
  """Process 0's value of a flag, on every process (a no-op with one process)."""
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(value)))


def is_chief() -> bool:
  """Process 0 writes the run's files (config, metrics, eval.json); all processes save
  checkpoints together (orbax coordinates them)."""
  return jax.process_index() == 0


def data_parallel_size(mesh: Mesh | None) -> int:
  return 1 if mesh is None else mesh.shape[DATA]
