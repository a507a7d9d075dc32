"""One registry of co-training methods (DESIGN.md names; PAPERS.md for the papers).

A method says
  - which domains feed the BC loss (through the mixing ratio w it forces, if any),
  - which alignment loss, if any, regularises the encoder, and with which config weight,
  - whether the policy conditions on a one-hot domain label (paper B's CFG),
  - whether the policy carries a domain discriminator (adversarial alignment).
The train step, the policy builder and the rollouts ask the registry; nothing branches on a
method's name.

Alignment losses share one signature:
  align(z_sim, z_real, y_sim, y_real, cfg, policy) -> (loss, metrics)
with z the encoder features of equal-size sim and real OT batches, y the detached action
(or proprioception) used by joint costs, cfg the config's `align` block and policy the
merged policy (the adversarial loss uses its discriminator). The train step hands z over
after the block's options (gdacot/align/options.py: L2-normalised, sim side stopped) and weighs
the loss with the warmed-up weight, so every loss gets them without knowing of them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax

from gdacot.align.adversarial import adversarial_loss
from gdacot.align.mmd import mmd2
from gdacot.align.uot import SOLVER_DEFAULTS, joint_cost, uot_loss

AlignFn = Callable[..., tuple[jax.Array, dict]]


@dataclasses.dataclass(frozen=True)
class Method:
  name: str
  description: str
  forced_w: float | None = None  # Overrides the config's w (real_only: 1, sim_only: 0).
  align: AlignFn | None = None
  weight: str = "lam"  # the config.align field weighing the alignment loss
  domain_label: bool = False  # one-hot domain label appended to the features (CFG)
  discriminator: bool = False  # the policy carries a domain discriminator (adversarial)

  def mixing_ratio(self, w: float) -> float:
    return w if self.forced_w is None else self.forced_w


def _mmd(z_sim, z_real, y_sim, y_real, cfg, policy):
  del y_sim, y_real, cfg, policy
  loss = mmd2(z_sim, z_real)
  return loss, {"mmd2": loss}


def _ot(*, joint: bool, balanced: bool) -> AlignFn:
  """OT between the sim and real batches: on features alone or on (features, y); balanced
  (exact marginals) or unbalanced (KL-relaxed marginals, rho = cfg.rho)."""

  def align(z_sim, z_real, y_sim, y_real, cfg, policy):
    del policy
    cost = joint_cost(z_sim, z_real, y_sim, y_real, cfg.alpha_feat, cfg.alpha_y if joint else 0.0,
                      normalize_terms=cfg.normalize_cost)
    return uot_loss(cost, epsilon=cfg.epsilon, rho=None if balanced else cfg.rho,
                    normalize=cfg.normalize_cost, differentiate_plan=cfg.differentiate_plan,
                    max_iterations=cfg.sinkhorn_iters, threshold=cfg.sinkhorn_threshold,
                    **{k: cfg[f"sinkhorn_{k}"] for k in SOLVER_SETTINGS if f"sinkhorn_{k}" in cfg})

  return align


# align.sinkhorn_<setting> fields passed to the solver when the config has them (uot_loss's
# defaults otherwise, for an align block built by hand).
SOLVER_SETTINGS = tuple(SOLVER_DEFAULTS)


def _adversarial(z_sim, z_real, y_sim, y_real, cfg, policy):
  del y_sim, y_real, cfg
  return adversarial_loss(policy.discriminator, z_sim, z_real)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("real_only", "BC on the real demos only", forced_w=1.0),
        Method("sim_only", "BC on the sim demos only", forced_w=0.0),
        Method("cotrain", "BC on sim and real mixed by w, no alignment"),
        Method("mmd", "co-training + Gaussian-kernel MMD on encoder features", align=_mmd),
        Method("ot_marginal", "co-training + balanced OT on encoder features alone",
               align=_ot(joint=False, balanced=True)),
        Method("ot_joint", "co-training + balanced OT on (features, action)",
               align=_ot(joint=True, balanced=True)),
        Method("uot_joint", "co-training + unbalanced OT on (features, action) (paper A)",
               align=_ot(joint=True, balanced=False)),
        Method("adda", "co-training + adversarial domain discriminator, gradient reversal",
               align=_adversarial, weight="adv_lam", discriminator=True),
        Method("cfg", "co-training + one-hot domain label (dropped in training), guided at inference",
               domain_label=True),
        Method("cfg_adda", "cfg + adversarial alignment of the other feature dimensions (paper B)",
               align=_adversarial, weight="adv_lam", domain_label=True, discriminator=True),
    ]
}

# The domain label's index in the one-hot vector (CFG methods); "none" is all zeros.
DOMAIN_LABELS = {"sim": 0, "real": 1}


def get_method(name: str) -> Method:
  if name not in METHODS:
    raise ValueError(f"unknown method {name!r}; known: {sorted(METHODS)}")
  return METHODS[name]
