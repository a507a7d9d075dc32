"""Run as a subprocess by test_parallel.py (it needs its own XLA device count):

  python tests/sharded_check.py train METHOD STEPS OUT.json [COORDINATOR NUM_PROCESSES PROCESS_ID]
  python tests/sharded_check.py hlo METHOD OUT.json

Trains the smoke config's policy on synthetic demos for STEPS steps three ways: without a
mesh, on a mesh of the first device alone, and on a mesh of every device; writes each way's
per-step losses and final parameters' checksums. With the last three arguments it is one of
several processes (gloo CPU collectives) and trains on the global mesh only; process 0
writes OUT. `hlo` writes the collectives of the step compiled for every device, at the
default config's batch sizes (BC 256, OT 128)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gdacot import parallel  # noqa: E402
from gdacot.data import Demos  # noqa: E402
from gdacot.train import build, get_config  # noqa: E402
from tools import hlo  # noqa: E402


def synthetic_demos(seed, episodes=8, horizon=24):
  rng = np.random.default_rng(seed)
  return Demos(obs=jnp.asarray(rng.normal(size=(episodes, horizon, 8)), jnp.float32),
               actions=jnp.asarray(rng.uniform(-1, 1, size=(episodes, horizon, 3)), jnp.float32),
               lengths=jnp.asarray(rng.integers(horizon // 2, horizon + 1, size=episodes), jnp.int32))


def setup(cfg, mesh):
  """The run's state, data and chunk, assembled as training assembles them, on synthetic demos."""
  run = build(cfg, mesh, demos={"sim": synthetic_demos(0), "real": synthetic_demos(1)}, log=lambda line: None)
  return run.state, run.data, run.chunk_fn


def train(cfg, mesh, steps):
  state, data, chunk = setup(cfg, mesh)
  losses = []
  for _ in range(steps):
    state, metrics = chunk(state, data, 1)
    losses.append(float(parallel.to_host(metrics["loss"])))
  params = parallel.to_host(state.params)
  checksum = float(sum(np.abs(x).astype(np.float64).sum() for x in jax.tree.leaves(params)))
  return {"losses": losses, "checksum": checksum,
          "param_sharding": str(jax.tree.leaves(state.params)[0].sharding)}


def main():
  mode, method = sys.argv[1], sys.argv[2]
  cfg = get_config("smoke")
  cfg.method = method
  cfg.align.pairing = "random"  # synthetic demos: no DTW here
  if mode == "hlo":
    cfg.batch_size, cfg.align.batch_size = 256, 128
    state, data, chunk = setup(cfg, parallel.make_mesh())
    with open(sys.argv[3], "w") as f:
      json.dump(hlo.collectives(chunk.lower(state, data, 1).compile().as_text()), f)
    return
  steps, out = int(sys.argv[3]), sys.argv[4]
  if len(sys.argv) > 5:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    parallel.initialize(sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))
  result = {"devices": jax.device_count(), "processes": jax.process_count()}
  if jax.process_count() == 1:
    result["none"] = train(cfg, None, steps)
    result["one"] = train(cfg, parallel.make_mesh(jax.devices()[:1]), steps)
  result["all"] = train(cfg, parallel.make_mesh(), steps)
  if parallel.is_chief():
    with open(out, "w") as f:
      json.dump(result, f)


if __name__ == "__main__":
  main()
