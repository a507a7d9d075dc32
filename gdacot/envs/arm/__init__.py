"""The arm every arm manipulation task shares: its MJCF, its control and its expert."""

from gdacot.envs.arm.task import ArmDomain, ArmTask
