"""Config of experiments.sim_scaling: success against the number of sim demos and of real demos.

  python -m experiments.sim_scaling --workdir=runs/scaling                       # 2 methods, 10 cells each, 5 seeds
  python -m experiments.sim_scaling --workdir=runs/scaling_smoke \
      --config=experiments/configs/sim_scaling.py:smoke                          # about a minute, for tests
"""

import ml_collections

from gdacot import cli_common
from gdacot.sweep import sweep_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = sweep_config()  # num_seeds, seed, eval_pairs, cotrain_variant, cotrain_overrides
  # Two axes, each varying one count with the other held at its `fixed_*` value (cotrain's
  # defaults); the cell at both fixed values is shared by the two axes.
  c.num_sim_demos = (100, 200, 400, 700, 1000)  # split evenly over the sim regions (in, ood)
  c.num_real_demos = (1, 2, 5, 10, 20, 50)  # all in region "in"
  c.fixed_sim_demos = 400
  c.fixed_real_demos = 20
  c.methods = ("cotrain", "uot_joint")

  variants = cli_common.variants(arg, ("smoke",))
  if "smoke" in variants:  # small, for tests
    c.update(num_sim_demos=(8, 16), num_real_demos=(2, 4), fixed_sim_demos=16, fixed_real_demos=4,
             methods=("cotrain",), num_seeds=1, cotrain_variant="smoke")
  return c
