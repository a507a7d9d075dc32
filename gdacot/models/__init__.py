"""Encoders, policy heads, the domain discriminator and the policy."""

from gdacot.models.discriminator import DomainDiscriminator
from gdacot.models.encoders import ENCODERS, MLPEncoder
from gdacot.models.heads import HEADS, DiffusionHead, FlowHead, MLPHead
from gdacot.models.policy import Policy, make_policy
