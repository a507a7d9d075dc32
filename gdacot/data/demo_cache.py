"""Generated demos kept on disk, so runs that would generate the same demos generate them once.

Opt-in: set the environment variable GDACOT_DEMO_CACHE to a directory. The cells of a method
table share their demos this way (every method trains on the same ones), as do the tests'
smoke runs. Like JAX's compilation cache it changes no result: an entry is found only under a
key that holds everything the demos depend on -- the config fields that build the task and its
domains and ask for the demos, the demos' PRNG key, the source of gdacot and of the task's own
module, the MJCF files, the JAX and MuJoCo versions, the backend and the machine it generates code
for (device kind; the CPU's vector extensions), XLA's flags (but the CPU's device count) and the
mesh size. Any code change misses.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import sys

import jax
import numpy as np

from gdacot import code_identity
from gdacot.data import demo_files

ENV_VAR = "GDACOT_DEMO_CACHE"
# The config fields demo generation reads: the task (and its camera and observations), the
# domains and their gap, and the data block (counts, regions, batch, noise, seed).
_CONFIG_FIELDS = ("task", "observation", "render", "gap", "domains", "data")


def cache_dir() -> str | None:
  return os.environ.get(ENV_VAR) or None


def cache_key(cfg, env, name: str, key: jax.Array, mesh=None) -> str:
  """The key of domain `name`'s demos ("sim" or "real") as `cfg` asks for them."""
  task_file = inspect.getsourcefile(type(env))
  fields = {f: cfg.get(f) for f in _CONFIG_FIELDS}
  fields = json.loads(json.dumps({k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in fields.items()},
                                 default=str))
  identity = {
      "domain": name,
      "config": fields,
      "key": np.asarray(jax.random.key_data(key)).tolist(),
      "code": code_identity.source_digest(*([task_file] if task_file else [])),
      "task_class": f"{type(env).__module__}.{type(env).__qualname__}",
      **code_identity.platform(),
      # The same program rounds otherwise on another device kind or CPU ISA: a cache shared by
      # a cluster's different nodes must not hand one node's demos to another.
      "target": code_identity.codegen_target(),
      # Codegen and precision settings change float rounding, so the demos (test_compat).
      "xla_flags": codegen_flags(),
      "disable_most_optimizations": bool(jax.config.read("jax_disable_most_optimizations")),
      "devices": 1 if mesh is None else int(mesh.size),
  }
  return hashlib.blake2b(json.dumps(identity, sort_keys=True).encode(), digest_size=20).hexdigest()


# XLA flags that set how many devices a CPU backend offers, not how a program compiles: the mesh
# size is part of the key itself ("devices"), so one process with two devices and two processes
# with one each (which generate the same demos, bitwise: test_parallel) share an entry.
_DEVICE_COUNT_FLAG = re.compile(r"--xla_force_host_platform_device_count=\S*")


def codegen_flags() -> str:
  """XLA_FLAGS as they bear on the numbers a program computes: the device-count flag left out."""
  return " ".join(_DEVICE_COUNT_FLAG.sub("", os.environ.get("XLA_FLAGS", "")).split())


def _path(directory: str, key: str) -> str:
  return os.path.join(directory, f"demos-{key}.npz")


def load(directory: str, key: str):
  """The cached Demos under `key`, or None. An unreadable entry counts as missing."""
  try:
    return demo_files.read(_path(directory, key))
  except demo_files.READ_ERRORS:
    return None


def save(directory: str, key: str, demos) -> None:
  """Writes the entry atomically: runs in parallel, or a run killed while writing, never leave a
  partial entry. A cache that cannot be written costs the next run time, never this run (whose
  demos are already generated): a warning, as the trace cache gives."""
  path = _path(directory, key)
  try:
    demo_files.write(path, demos)
  except OSError as e:
    print(f"warning: {ENV_VAR}={directory}: cannot write {os.path.basename(path)} ({e}); "
          "the demos are used unsaved", file=sys.stderr, flush=True)
