"""gdacot: sim-and-real co-training of robot policies with optimal-transport domain adaptation."""

import contextlib as _contextlib
import importlib.abc
import importlib.metadata
import io as _io  # not `io`: gdacot.io is a module of this package
import os
import re
import sys


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


class _QuietMissingWarp(importlib.abc.MetaPathFinder):
  """Drops MJX's "Failed to import warp: No module named 'warp'" lines.

  `mujoco.mjx.warp` prints them on import whenever NVIDIA Warp is not installed, so every
  launch began with two lines of noise; gdacot runs MJX's JAX backend (the portable one) and
  never needs Warp. The lines are kept when Warp *is* installed, because then its import failing
  (say, no CUDA driver) is news to a user who asked for the Warp backend; anything else the
  module prints passes through. Hooked on the import itself so that no module of gdacot has to
  import MJX in a special way, and nothing is imported before it is needed.
  """

  _NAME = "mujoco.mjx.warp"

  def find_spec(self, name, path, target=None):
    if name != self._NAME:
      return None
    for finder in sys.meta_path:  # the spec the import system would find without this hook
      if finder is self or not hasattr(finder, "find_spec"):
        continue
      spec = finder.find_spec(name, path, target)
      if spec is not None:
        break
    else:
      return None
    if spec.loader is None or not hasattr(spec.loader, "exec_module"):
      return spec
    run = spec.loader.exec_module

    def exec_module(module):
      with _contextlib.redirect_stdout(_io.StringIO()) as printed:
        run(module)
      sys.stdout.write("".join(line for line in printed.getvalue().splitlines(keepends=True)
                               if not _missing_warp(line)))

    spec.loader.exec_module = exec_module
    return spec


def _missing_warp(line: str) -> bool:
  return line.startswith(("Failed to import warp:", "Failed to import mujoco_warp:")) and "No module named 'warp'" in line


if not any(isinstance(f, _QuietMissingWarp) for f in sys.meta_path):
  sys.meta_path.insert(0, _QuietMissingWarp())

