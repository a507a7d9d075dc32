"""What an on-disk cache entry of this package must depend on besides its own inputs: the code
that made it and the platform it ran on. The demo cache (gdacot.data.demo_cache) and the trace
cache (gdacot.envs.batched) key their entries on these, so any code change misses."""

from __future__ import annotations

import functools
import hashlib
import os

import jax
import mujoco

from gdacot import machine


@functools.lru_cache(maxsize=None)
def source_digest(*paths: str) -> str:
  """A digest of every .py and .xml file under the package and of the given extra files (a
  task's own module, outside the package)."""
  package = os.path.dirname(os.path.abspath(__file__))
  digest = hashlib.blake2b(digest_size=16)
  files = sorted(os.path.join(d, f) for d, _, fs in os.walk(package) for f in fs if f.endswith((".py", ".xml")))
  for path in files + sorted(set(paths)):
    digest.update(os.path.relpath(path, package).encode())
    with open(path, "rb") as f:
      digest.update(f.read())
  return digest.hexdigest()


def platform() -> dict:
  """The library versions and the JAX settings that change what a program computes."""
  return {
      "jax": jax.__version__,
      "mujoco": mujoco.__version__,
      "backend": jax.default_backend(),
      "x64": bool(jax.config.jax_enable_x64),
      "matmul_precision": str(jax.config.jax_default_matmul_precision),
  }


def codegen_target() -> dict:
  """The machine XLA generates code for, which sets a computed result's rounding: the device kind
  and, on the CPU backend, the host's vector extensions (an AVX-512 CPU rounds the same program
  otherwise than an AVX2 one: docs/reproducing.md). A cache shared by a cluster's different nodes
  (NFS under SLURM) keys computed results on it; exported programs (StableHLO, before codegen) do
  not need it."""
  target = {"device_kind": jax.devices()[0].device_kind}
  if jax.default_backend() == "cpu":
    target["cpu_vector_isa"] = machine.cpu_identity()["cpu_vector_isa"]
  return target
