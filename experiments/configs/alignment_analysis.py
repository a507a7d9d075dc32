"""Config of experiments.alignment_analysis: feature alignment (paper B) against real success, per method.

  python -m experiments.alignment_analysis --workdir=runs/alignment              # 10 methods x 5 seeds
  python -m experiments.alignment_analysis --workdir=runs/alignment_smoke \
      --config=experiments/configs/alignment_analysis.py:smoke                   # about a minute, for tests
  ... --config.cotrain_variant=image,physics                                    # camera images, physics-only gap
"""

import ml_collections

from gdacot import cli_common
from gdacot.sweep import sweep_config
from gdacot.align import METHODS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = sweep_config()  # num_seeds, seed, eval_pairs, cotrain_variant, cotrain_overrides
  c.methods = tuple(METHODS)  # all ten
  # Paper B's three regimes, read from the discernibility (held-out accuracy of a domain
  # classifier on the features): at least `disjoint_from` is disjoint, below `overlapping_below`
  # overlapping (0.5 = indistinguishable), structured-aligned in between. A reading aid, not
  # paper B's definition (it has none in numbers).
  c.regimes = ml_collections.ConfigDict({"disjoint_from": 0.95, "overlapping_below": 0.6})

  variants = cli_common.variants(arg, ("smoke",))
  if "smoke" in variants:  # small, for tests
    c.update(methods=("cotrain", "uot_joint"), num_seeds=1, cotrain_variant="smoke")
  return c
