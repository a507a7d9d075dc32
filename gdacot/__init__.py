"""gdacot: sim-and-real co-training of robot policies with optimal-transport domain adaptation."""

import importlib.metadata
import os
import re


def _jaxlib_before(version: tuple[int, int]) -> bool:
  """Whether the installed jaxlib is older than `version`, read without importing JAX."""
  try:
    installed = importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:
    return False
  return tuple(int(p) for p in re.findall(r"\d+", installed)[:2]) < version


def _xla_cpu_flags() -> None:
  """Turns off XLA:CPU's MLIR fusion emitters unless the user chose otherwise.

  With them (the default since jax 0.7), MJX's forward kinematics of a deep kinematic chain
  runs exponentially slower in the chain's depth (jax-ml/jax#33761): for a 7-DoF arm,
  `mjx.kinematics` of 16 scenes took 0.8 s here instead of about 1 ms, and a chain of 8
  hinges 3.8 s instead of 0.2 ms. Only the CPU backend reads the flag; it must be set before
  JAX starts its backend, so it is set on import.

  jaxlib 0.11 (the lent GPU machines') no longer has the flag, and XLA aborts at start on an
  unknown one ("Unknown flag in XLA_FLAGS"), so it is set for older jaxlibs only.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  if "xla_cpu_use_fusion_emitters" not in flags and _jaxlib_before((0, 11)):
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_use_fusion_emitters=false").strip()


_xla_cpu_flags()
