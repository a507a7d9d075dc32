"""Config of experiments.mixing_sweep: success against the mixing ratio w, per method.

  python -m experiments.mixing_sweep --workdir=runs/mixing                       # 9 w x 3 methods x 5 seeds
  python -m experiments.mixing_sweep --workdir=runs/mixing_smoke \
      --config=experiments/configs/mixing_sweep.py:smoke                         # about a minute, for tests
  ... --config.cotrain_variant=image,visual                                     # on camera images instead
"""

import ml_collections

from gdacot import cli_common
from gdacot.sweep import sweep_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = sweep_config()  # num_seeds, seed, eval_pairs, cotrain_variant, cotrain_overrides
  # The share of real samples in every BC batch (cotrain's w is per sample), in (0, 1].
  c.w = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
  c.methods = ("cotrain", "uot_joint", "cfg")  # methods that mix by w (not real_only / sim_only)

  variants = cli_common.variants(arg, ("smoke",))
  if "smoke" in variants:  # small, for tests
    c.update(w=(0.1, 0.5), methods=("cotrain",), num_seeds=1, cotrain_variant="smoke")
  return c
