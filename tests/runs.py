"""Runs the command-line entry points as users do: subprocesses on the CPU."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = "--config=experiments/configs/cotrain.py:smoke"
# The smoke run most tests share: uot_joint, 60 steps, checkpoints at 20, 40, 60.
SMOKE_RUN_ARGS = (SMOKE, "--config.steps=60", "--config.method=uot_joint")
ENTRY_KEYS = {"method", "domain", "region", "episodes", "successes", "success_rate", "ci95", "step", "seed"}


def env_for_subprocess(**extra):
  return dict(os.environ, JAX_PLATFORMS="cpu", **extra)


def module(name, *args, timeout=600, **env):
  return subprocess.run([sys.executable, "-m", name, *args], cwd=ROOT, env=env_for_subprocess(**env),
                        capture_output=True, text=True, timeout=timeout)


def cotrain(*args, timeout=600, **env):
  return module("experiments.cotrain", *args, timeout=timeout, **env)


def start_cotrain(*args, **env):
  """A background training process (for kill and preemption tests)."""
  return subprocess.Popen([sys.executable, "-m", "experiments.cotrain", *args], cwd=ROOT,
                          env=env_for_subprocess(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
