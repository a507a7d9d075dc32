"""Compiled evaluation rollouts: episodes independent of batching, recorded trajectories."""

import jax
import jax.numpy as jnp
import numpy as np

from experiments.configs.cotrain import get_config
from gdacot import rollout as rollouts
from gdacot.data import Normalizer
from gdacot.envs import make_domain, make_env
from gdacot.train import build_policy_and_state


def test_episodes_do_not_depend_on_the_batch_size():
  cfg = get_config("smoke")
  env = make_env(cfg.task)
  graphdef, _, state = build_policy_and_state(cfg, env.obs_size, env.action_size)
  normalizer = Normalizer(mean=jnp.zeros(env.obs_size), std=jnp.ones(env.obs_size))
  domain, key = make_domain("real", "ood"), jax.random.PRNGKey(3)
  make = lambda b: rollouts.make_policy_rollout(env, graphdef, obs_horizon=cfg.obs_horizon, chunk=cfg.chunk,
                                                execute=cfg.execute, batch_size=b)
  _, qpos4 = make(4)(state.params, normalizer, key, domain)
  two = make(2)
  halves = [np.asarray(two(state.params, normalizer, key, domain, first)[1]) for first in (0, 2)]
  assert qpos4.shape == (4, env.horizon + 1, env.mj_model.nq)
  np.testing.assert_allclose(np.concatenate(halves), qpos4, atol=1e-6)
  assert not np.allclose(qpos4[0], qpos4[1])  # distinct episodes
  assert not np.allclose(qpos4[0, 0], qpos4[0, -1])  # the pusher moved: the recording follows the episode
