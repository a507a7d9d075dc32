"""gdacot: sim-and-real co-training of robot policies with optimal-transport domain adaptation."""

import os


def _xla_cpu_flags() -> None:
  """Turns off XLA:CPU's MLIR fusion emitters unless the user chose otherwise.

  With them (the default since jax 0.7), MJX's forward kinematics of a deep kinematic chain
  runs exponentially slower in the chain's depth (jax-ml/jax#33761): for a 7-DoF arm,
  `mjx.kinematics` of 16 scenes took 0.8 s here instead of about 1 ms, and a chain of 8
  hinges 3.8 s instead of 0.2 ms. Only the CPU backend reads the flag; it must be set before
  JAX starts its backend, so it is set on import.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  if "xla_cpu_use_fusion_emitters" not in flags:
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_use_fusion_emitters=false").strip()


_xla_cpu_flags()
