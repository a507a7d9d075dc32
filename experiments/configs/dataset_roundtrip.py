"""Config of experiments.dataset_roundtrip: the real domain in memory vs the same demos read
back from LeRobot files (H.264 video per camera), paired by seed and demo draw.

  python -m experiments.dataset_roundtrip --workdir=runs/roundtrip                 # lift 16x16, 5 seeds
  python -m experiments.dataset_roundtrip --workdir=runs/roundtrip_smoke \
      --config=experiments/configs/dataset_roundtrip.py:smoke                      # push_cube, for tests
"""

import ml_collections

from gdacot import cli_common
from gdacot.sweep import sweep_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  # Every cell: cotrain's image variant on this task (its views: lift's front and wrist), the
  # visual gap, at the size of the lift image tables (experiments/README.md).
  c = sweep_config(cotrain_variant="image,lift",
                   cotrain_overrides=("gap=visual", "render.height=16", "render.width=16", "eval.episodes=100",
                                      "ckpt_eval.episodes=0", "best_metric=", "keep_best=0"))
  c.methods = ("cotrain", "uot_joint")

  variants = cli_common.variants(arg, ("smoke",))
  if "smoke" in variants:  # small, for tests
    c.update(methods=("cotrain",), num_seeds=1, cotrain_variant="image,smoke",
             cotrain_overrides=("gap=visual", "steps=20", "keep_best=0"))
  return c
