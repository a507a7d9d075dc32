"""experiments.dataset_roundtrip without its cells (they are cotrain runs, tested elsewhere):
the memory cells' kept real demos export to LeRobot and read back as the real domain, and the
comparison pairs the two arms by seed."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import dataset_roundtrip
from experiments.configs import dataset_roundtrip as roundtrip_config
from gdacot import sweep
from gdacot.data import Demos, demo_files
from gdacot.data.sources import KeyMap, load
from gdacot.train import get_config, kept_demos


def _memory_cell(memory_dir, name, demos):
  workdir = os.path.join(memory_dir, "runs", name)
  os.makedirs(workdir)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(get_config("image,smoke,lift").to_dict(), f)
  demo_files.write(kept_demos.path(workdir, "real"), demos)


def test_the_memory_cells_real_demos_export_to_lerobot_and_read_back(tmp_path):
  rng = np.random.default_rng(0)
  state = rng.normal(size=(3, 12, 11)).astype(np.float32)
  image = rng.integers(0, 256, (3, 12, 16, 32, 3), dtype=np.uint8)  # front and wrist side by side
  demos = Demos(obs={"state": jnp.asarray(state), "image": jnp.asarray(image)},
                actions=jnp.asarray(rng.uniform(-1, 1, (3, 12, 4)).astype(np.float32)),
                lengths=jnp.asarray([12, 9, 10], jnp.int32))
  memory = str(tmp_path / "memory")
  for name in ("memory-cotrain", "memory-uot_joint"):
    _memory_cell(memory, name, demos)
  path, views = dataset_roundtrip.export_real_demos(memory, str(tmp_path / "real_lerobot"))
  assert views == ("front", "wrist")
  keys = KeyMap(state_key="observation.state", image_keys=("observation.images.front", "observation.images.wrist"))
  back = load(path, keys, min_length=1, image_size=(16, 16))
  np.testing.assert_array_equal(np.asarray(back.demos.lengths), [12, 9, 10])
  np.testing.assert_array_equal(np.asarray(back.demos.obs["state"][1, :9]), state[1, :9])  # exact floats
  assert back.demos.obs["image"].shape == (3, 12, 16, 32, 3) and back.task == "lift"
  demo_files.write(kept_demos.path(os.path.join(memory, "runs", "memory-uot_joint"), "real"),
                   Demos(obs={"state": jnp.asarray(state) + 1, "image": jnp.asarray(image)}, actions=demos.actions,
                         lengths=demos.lengths))
  with pytest.raises(sweep.GridError, match="the memory cells trained on different real demos"):
    dataset_roundtrip.export_real_demos(memory, str(tmp_path / "again"))


def test_the_arms_are_paired_by_seed_and_the_files_arm_reads_them():
  cfg = roundtrip_config.get_config()
  dataset_roundtrip.validate(cfg)
  files = dataset_roundtrip.make_cells(cfg, "lerobot", "/data/real", ("front", "wrist"))
  assert files[0].overrides["real_data"] == "/data/real"
  assert files[0].overrides["sources.real.image_keys"] == ("observation.images.front", "observation.images.wrist")
  row = lambda per_seed: {"seeds": [0, 1, 2], "per_seed": per_seed, "mean": float(np.mean(per_seed))}
  cell = lambda arm, method, per_seed: {"labels": {"arm": arm, "method": method}, "wall_time_s": 60.0,
                                        "success": {p: row(per_seed) for p in cfg.eval_pairs}}
  memory = {"cells": [cell("memory", m, [0.5, 0.6, 0.7]) for m in cfg.methods]}
  lerobot = {"cells": [cell("lerobot", m, [0.6, 0.6, 0.9]) for m in cfg.methods]}
  rows = dataset_roundtrip.compare(cfg, memory, lerobot)
  d = rows["cotrain/real:in"]["lerobot_minus_memory"]
  assert d["per_seed_diff"] == pytest.approx([0.1, 0.0, 0.2]) and d["mean_diff"] == pytest.approx(0.1)
  cfg.cotrain_variant = "lift"
  with pytest.raises(sweep.GridError, match="must include 'image'"):
    dataset_roundtrip.validate(cfg)
