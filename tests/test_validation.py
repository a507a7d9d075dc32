"""Held-out episodes (sources.<domain>.val_episodes): split off the domain's last episodes,
scored on fixed frames, and refused where they cannot be."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdacot.data import Dataset, Demos, Normalizer
from gdacot.data.sources import check_sources
from gdacot.train.config import ConfigError, get_config, validate_config
from gdacot.train.validation import fixed_batch, held_out
from test_sources import _config


def _demos(episodes=5, length=6):
  obs = jnp.arange(episodes * length * 2, dtype=jnp.float32).reshape(episodes, length, 2)
  return Demos(obs=obs, actions=jnp.zeros((episodes, length, 1)), lengths=jnp.full((episodes,), length, jnp.int32))


def test_the_last_episodes_are_held_out_and_scored_on_the_same_frames():
  demos = _demos()
  train, val = held_out(demos, 2)
  assert train.num_episodes == 3 and val.num_episodes == 2
  np.testing.assert_array_equal(np.asarray(val.obs), np.asarray(demos.obs[3:]))
  assert held_out(demos, 0) == (demos, None)
  data = Dataset.create(val, Normalizer(mean=jnp.zeros(2), std=jnp.ones(2)), obs_horizon=1, chunk=2)
  a, b = fixed_batch(data, frames=4), fixed_batch(data, frames=4)
  np.testing.assert_array_equal(np.asarray(a.obs), np.asarray(b.obs))
  assert a.obs.shape[0] == 4 and fixed_batch(data).obs.shape[0] == 12  # all 12 held-out frames when fewer
  assert jax.tree.leaves(a)[0].shape[0] == 4


def test_val_episodes_that_cannot_be_held_out_are_refused():
  c = _config(data={"num_sim_demos": 4, "num_real_demos": 4})
  c.sources.real.val_episodes = 4
  c.sources.sim.val_episodes = -1
  problems = []
  check_sources(c, problems)
  assert any("sources.real.val_episodes=4 leaves no real demo to train on" in p for p in problems)
  assert any("sources.sim.val_episodes must be an integer >= 0" in p for p in problems)
  c = _config(data={"num_sim_demos": 4, "num_real_demos": 4})
  c.sources.sim.mixture = ({"path": "a", "weight": 1},)
  c.sources.sim.val_episodes = 1
  problems = []
  check_sources(c, problems)
  assert any("sources.sim.val_episodes=1 with a mixture" in p for p in problems)
  cfg = get_config("smoke")
  cfg.best_metric, cfg.best_mode = "val/real/action_mse", "min"
  with pytest.raises(ConfigError, match="set sources.real.val_episodes"):
    validate_config(cfg)
  cfg.sources.real.val_episodes = 1
  validate_config(cfg)
