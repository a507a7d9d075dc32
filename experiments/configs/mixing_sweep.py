"""Config of experiments.mixing_sweep: success against the mixing ratio w, per method.

  python -m experiments.mixing_sweep --workdir=runs/mixing                       # 9 w x 3 methods x 5 seeds
  python -m experiments.mixing_sweep --workdir=runs/mixing_smoke \
      --config=experiments/configs/mixing_sweep.py:smoke                         # about a minute, for tests
  ... --config.cotrain_variant=image,visual                                     # on camera images instead
"""

import ml_collections

from gdacot import cli_common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # The share of real samples in every BC batch (cotrain's w is per sample), in (0, 1].
  c.w = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
  c.methods = ("cotrain", "uot_joint", "cfg")  # methods that mix by w (not real_only / sim_only)
  c.num_seeds = 5  # seeds seed .. seed + num_seeds - 1, trained in one program per cell
  c.seed = 0
  c.eval_pairs = ("real:in", "real:ood")
  c.cotrain_variant = ""  # cotrain config variant of every cell ("": the state benchmark)
  c.cotrain_overrides = ()  # "FIELD=VALUE" set on every cell, e.g. ("data.num_sim_demos=1000",)

  variants = cli_common.variants(arg, ("smoke",))
  if "smoke" in variants:  # small, for tests
    c.update(w=(0.1, 0.5), methods=("cotrain",), num_seeds=1, cotrain_variant="smoke")
  return c
