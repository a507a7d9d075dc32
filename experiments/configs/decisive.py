"""Config of experiments.decisive: issue 32's decisive test, as registered in experiments/README.md.

  python -m experiments.decisive --workdir=runs/decisive \
      --config.choice_from=runs/dose/dose_response.json                          # lift + pick_place, 4 draws x 6 seeds
  python -m experiments.decisive --workdir=runs/decisive_ot \
      --config.choice_from=runs/dose_ot/dose_response.json \
      --config.methods="('cotrain', 'uot_joint')" --config.holm_over=all           # the second test: paper A's plan
  python -m experiments.decisive --workdir=runs/decisive_smoke \
      --config=experiments/configs/decisive.py:smoke \
      --config.choice_from=runs/dose_smoke/dose_response.json                    # seconds a cell, for trying it
"""

import ml_collections

from gdacot import cli_common
from gdacot.sweep import sweep_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  # num_seeds (per draw), seed (the first draw's first seed), eval_pairs, cotrain_variant, cotrain_overrides
  c = sweep_config(eval_pairs=("real:in", "real:ood", "sim:ood"), num_seeds=6)
  # Demo draws: draw d trains seeds seed + d * num_seeds onwards on its own demos (cotrain draws
  # them from its first seed). 4 x 6 = 24 seeds per method: the sd of paired differences, about
  # 0.14, needs 18-21 for +0.10 at power 0.8.
  c.num_draws = 4
  c.tasks = ("lift", "pick_place")
  c.gap = "visual"
  c.observation = "image"  # "state" only for trying the module (a state policy sees no visual gap)
  # The dose-response's dose_response.json: its choice (the kept form and dose) is applied to
  # every aligned method alike. Required: the test runs at the dose the rule chose, never another.
  c.choice_from = ""
  # The registered endpoints: uot_joint - cotrain and uot_joint - ot_marginal on primary_pair,
  # Holm over the two per task at alpha; the same contrasts on secondary_pairs, uncorrected.
  # The methods the test runs: cotrain and uot_joint always; ot_marginal for uot_joint - ot_marginal.
  c.methods = ("cotrain", "ot_marginal", "uot_joint")
  # Holm's family: "task" (each task's contrasts, as first registered) or "all" (every task's).
  c.holm_over = "task"
  c.primary_pair = "real:ood"
  c.secondary_pairs = ("real:in",)
  c.alpha = 0.05
  # Paper A's data balance at this machine's image size: 10 real demos, 500 + 500 sim.
  c.cotrain_overrides = ("render.height=16", "render.width=16", "data.num_real_demos=10", "data.num_sim_demos=1000",
                         "eval.episodes=200")

  variants = cli_common.variants(arg, ("smoke",))
  if "smoke" in variants:  # small, for trying the module: one state task, 2 draws x 2 seeds
    c.update(num_draws=2, num_seeds=2, tasks=("push_cube",), gap="physics", observation="state",
             cotrain_variant="smoke", cotrain_overrides=())
  return c
