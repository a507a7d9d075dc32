"""One registry of co-training methods.

A method says which domains feed the BC loss (through the mixing ratio w it forces, if
any) and which alignment loss, if any, regularises the encoder. The train step asks the
registry and never branches on a method's name.

Alignment losses share one signature:
  align(z_sim, z_real, y_sim, y_real, cfg) -> (loss, metrics)
with z the encoder features of equal-size sim and real OT batches, y the detached action
(or proprioception) used by joint costs, and cfg the config's `align` block.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax

from gdacot.align.mmd import mmd2
from gdacot.align.uot import joint_cost, uot_loss

AlignFn = Callable[..., tuple[jax.Array, dict]]


@dataclasses.dataclass(frozen=True)
class Method:
  name: str
  description: str
  forced_w: float | None = None  # Overrides the config's w (real_only: 1, sim_only: 0).
  align: AlignFn | None = None

  def mixing_ratio(self, w: float) -> float:
    return w if self.forced_w is None else self.forced_w


def _mmd(z_sim, z_real, y_sim, y_real, cfg):
  del y_sim, y_real
  loss = mmd2(z_sim, z_real)
  return loss, {"mmd2": loss}


def _uot_joint(z_sim, z_real, y_sim, y_real, cfg):
  cost = joint_cost(
      z_sim, z_real, y_sim, y_real, cfg.alpha_feat, cfg.alpha_y, normalize_terms=cfg.normalize_cost
  )
  return uot_loss(
      cost,
      epsilon=cfg.epsilon,
      rho=cfg.rho,
      normalize=cfg.normalize_cost,
      differentiate_plan=cfg.differentiate_plan,
      max_iterations=cfg.sinkhorn_iters,
      threshold=cfg.sinkhorn_threshold,
  )


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("real_only", "BC on the real demos only", forced_w=1.0),
        Method("sim_only", "BC on the sim demos only", forced_w=0.0),
        Method("cotrain", "BC on sim and real mixed by w, no alignment"),
        Method("mmd", "co-training + Gaussian-kernel MMD on encoder features", align=_mmd),
        Method(
            "uot_joint",
            "co-training + unbalanced OT on (features, action) (paper A)",
            align=_uot_joint,
        ),
    ]
}


def get_method(name: str) -> Method:
  if name not in METHODS:
    raise ValueError(f"unknown method {name!r}; known: {sorted(METHODS)}")
  return METHODS[name]
