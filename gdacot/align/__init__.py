"""Alignment losses between sim and real features, behind one registry."""

from gdacot.align.adversarial import adversarial_loss, gradient_reversal
from gdacot.align.mmd import mmd2
from gdacot.align.registry import DOMAIN_LABELS, METHODS, Method, get_method
from gdacot.align.uot import joint_cost, tau_from_rho, unbalanced_plan, uot_loss
