"""Config of experiments.method_table: every method x every domain gap x seeds.

  python -m experiments.method_table --workdir=runs/table                        # images, 3 gaps, 10 methods, 5 seeds
  python -m experiments.method_table --workdir=runs/table_state \
      --config=experiments/configs/method_table.py:state                         # state observations (quick)
  python -m experiments.method_table --workdir=runs/table_smoke \
      --config=experiments/configs/method_table.py:smoke                         # about a minute, for tests
  ... --config.methods="('cotrain','uot_joint')" --config.cotrain_overrides="('steps=3000',)"
"""

import ml_collections

from gdacot import cli_common
from gdacot.sweep import sweep_config
from gdacot.align import METHODS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  # num_seeds, seed, cotrain_variant, cotrain_overrides; every pair, the ceilings included.
  c = sweep_config(eval_pairs=("real:in", "real:ood", "sim:in", "sim:ood"))
  c.methods = tuple(METHODS)  # all ten
  # Each gap is a cotrain run with --config.gap=<gap> (the same as cotrain's variant "image,<gap>").
  c.gaps = ("visual", "physics", "visual_physics")
  # "image": camera frames + proprioception (cotrain's `image` variant, paper A's setting);
  # "state": the 8-d state vector, minutes instead of hours on a CPU. A state policy sees no
  # visual change, so with "state" the gaps must be physics or sensor_physics.
  c.observation = "image"

  variants = cli_common.variants(arg, ("state", "smoke"))
  if "state" in variants or "smoke" in variants:
    c.observation = "state"
    c.gaps = ("sensor_physics", "physics")
  if "smoke" in variants:  # small, for tests
    c.update(methods=("cotrain", "uot_joint"), gaps=("physics",), num_seeds=1, cotrain_variant="smoke")
  return c
