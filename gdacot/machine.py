"""What a result ran on, for the records that benchmarks and experiments write next to their numbers.

  host()        the computer, without importing JAX: hostname, platform (OS), machine (CPU
                architecture), cpu_model, cpu_vector_isa, cpu_count, python, jax_platforms_env
                (the JAX_PLATFORMS variable)
  versions()    python and the version of each package that shapes the numbers (None: not installed)
  devices()     JAX's view: jax_backend, device_kind, device_count, local_device_count,
                process_count, devices
  describe()    all three: host() and devices() flat, versions() under "versions"
  describe_in_subprocess()   describe() as a fresh Python process sees it

    python -m gdacot.machine    prints describe() as JSON
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys

PACKAGES = ("jax", "jaxlib", "flax", "optax", "ott-jax", "orbax-checkpoint", "mujoco", "mujoco-mjx", "numpy", "pot")


# The CPU's vector extensions, which XLA:CPU generates code for: the same program rounds otherwise
# on an AVX-512 CPU than on an AVX2 one (docs/reproducing.md, "Bitwise, and in distribution"), so
# a record of CPU numbers names them: x86's /proc/cpuinfo "flags", Arm's "Features".
_VECTOR_ISA = {"flags": re.compile(r"^(sse4_[12]|avx.*|fma|f16c|amx.*)$"),
               "Features": re.compile(r"^(asimd.*|sve.*|sme.*)$")}


def cpu_identity(cpuinfo: str | None = None) -> dict:
  """{"cpu_model", "cpu_vector_isa"}: the first CPU's model name and its vector extensions,
  sorted (None where the OS does not say: no /proc/cpuinfo)."""
  if cpuinfo is None:
    try:
      with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    except OSError:
      return {"cpu_model": platform.processor() or None, "cpu_vector_isa": None}
  fields = {}
  for line in cpuinfo.splitlines():
    key, sep, value = line.partition(":")
    if sep:
      fields.setdefault(key.strip(), value.strip())  # the first processor's
  model = fields.get("model name") or fields.get("CPU part") or platform.processor() or None
  isa = sorted({f for key, vector in _VECTOR_ISA.items() for f in fields.get(key, "").split() if vector.match(f)})
  return {"cpu_model": model, "cpu_vector_isa": isa or None}


def host() -> dict:
  return {"hostname": socket.gethostname(), "platform": platform.platform(), "machine": platform.machine(),
          **cpu_identity(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
          "jax_platforms_env": os.environ.get("JAX_PLATFORMS")}


def versions(packages=PACKAGES) -> dict:
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  out = {"python": platform.python_version()}
  for dist in packages:
    try:
      out[dist] = metadata.version(dist)
    except metadata.PackageNotFoundError:
      out[dist] = None
  return out


def devices() -> dict:
  """JAX's devices (this imports JAX and starts its backend)."""
  import jax  # pylint: disable=g-import-not-at-top
  first = jax.devices()[0]
  return {"jax_backend": jax.default_backend(), "device_kind": first.device_kind,
          "device_count": jax.device_count(), "local_device_count": jax.local_device_count(),
          "process_count": jax.process_count(), "devices": [str(d) for d in jax.devices()]}


def describe() -> dict:
  return {**host(), **devices(), "versions": versions()}


def describe_in_subprocess(cwd: str | None = None, env: dict | None = None) -> dict:
  """describe() from a fresh process: what child processes see, for a parent that keeps JAX off
  the accelerator (a sweep leaves it to its runs). If the child fails, host() with
  jax_backend None and the error."""
  proc = subprocess.run([sys.executable, "-m", "gdacot.machine"], cwd=cwd, env=env, capture_output=True, text=True)
  try:
    return json.loads(proc.stdout.strip().splitlines()[-1])
  except (IndexError, json.JSONDecodeError):
    return {**host(), "jax_backend": None, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def main(argv: list[str]) -> int:
  if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv):
    print(__doc__ + "\nTakes no flags; -h, --help prints this text.")
    return 0
  if argv:
    print(f"error: python -m gdacot.machine takes no arguments, got {argv}", file=sys.stderr)
    return 2
  print(json.dumps(describe()))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))


def device_memory_bytes(device) -> int:
  """What one device can hold: its allocator's limit on a GPU or TPU, the host's memory on a CPU
  (whose `memory_stats()` is None)."""
  try:
    stats = device.memory_stats() or {}
  except Exception:  # pylint: disable=broad-except  (backends without memory stats)
    stats = {}
  if stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
