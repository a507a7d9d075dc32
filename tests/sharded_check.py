"""Run as a subprocess by test_parallel.py (it needs its own XLA device count):

  python tests/sharded_check.py METHOD STEPS OUT.json

Trains the smoke config's policy on synthetic demos for STEPS steps three ways: without a
mesh, on a mesh of the first device alone, and on a mesh of every device; writes each way's
per-step losses and final parameters' checksums."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from experiments.configs.cotrain import get_config  # noqa: E402
from gdacot import parallel  # noqa: E402
from gdacot.align import get_method  # noqa: E402
from gdacot.data import Dataset, Demos, Normalizer  # noqa: E402
from gdacot.train import TrainData, build_policy_and_state, make_train_chunk, make_train_step  # noqa: E402


def synthetic_demos(seed, episodes=8, horizon=24):
  rng = np.random.default_rng(seed)
  return Demos(obs=jnp.asarray(rng.normal(size=(episodes, horizon, 8)), jnp.float32),
               actions=jnp.asarray(rng.uniform(-1, 1, size=(episodes, horizon, 3)), jnp.float32),
               lengths=jnp.asarray(rng.integers(horizon // 2, horizon + 1, size=episodes), jnp.int32))


def train(cfg, mesh, steps):
  sim, real = synthetic_demos(0), synthetic_demos(1)
  normalizer = Normalizer.fit(sim, real)
  data = TrainData(sim=Dataset.create(sim, normalizer, cfg.obs_horizon, cfg.chunk),
                   real=Dataset.create(real, normalizer, cfg.obs_horizon, cfg.chunk))
  graphdef, tx, state = build_policy_and_state(cfg, 8, 3)
  if mesh is not None:
    state, data = jax.device_put((state, data), parallel.replicated(mesh))
  chunk = make_train_chunk(make_train_step(graphdef, tx, get_method(cfg.method), cfg, slice(0, 3), mesh), mesh)
  losses = []
  for _ in range(steps):
    state, metrics = chunk(state, data, 1)
    losses.append(float(metrics["loss"]))
  checksum = float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(state.params)))
  return {"losses": losses, "checksum": checksum,
          "param_sharding": str(jax.tree.leaves(state.params)[0].sharding)}


def main():
  method, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
  cfg = get_config("smoke")
  cfg.method = method
  cfg.align.pairing = "random"  # synthetic demos: no DTW here
  result = {"devices": jax.device_count(),
            "none": train(cfg, None, steps),
            "one": train(cfg, parallel.make_mesh(jax.devices()[:1]), steps),
            "all": train(cfg, parallel.make_mesh(), steps)}
  with open(out, "w") as f:
    json.dump(result, f)


if __name__ == "__main__":
  main()
