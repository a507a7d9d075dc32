"""Encoders, policy heads and the policy."""

from gdacot.models.encoders import ENCODERS, MLPEncoder
from gdacot.models.heads import HEADS, MLPHead
from gdacot.models.policy import Policy, make_policy
