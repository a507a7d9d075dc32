import jax
import jax.numpy as jnp
import numpy as np

from gdacot.data import Dataset, Demos, Normalizer, num_real_in_batch, sample_mixed
from gdacot.stats import wilson_interval


def _demos(lengths, T=6, obs_size=2, act_size=1, offset=0.0):
  E = len(lengths)
  obs = np.zeros((E, T, obs_size), np.float32)
  act = np.zeros((E, T, act_size), np.float32)
  for e in range(E):
    for t in range(T):
      obs[e, t] = 100 * e + t + offset
      act[e, t] = 100 * e + t + offset
  return Demos(obs=jnp.asarray(obs), actions=jnp.asarray(act), lengths=jnp.asarray(lengths, jnp.int32))


def test_history_repeats_first_frame_and_chunk_repeats_last_action():
  demos = _demos([4, 6])
  identity = Normalizer(mean=jnp.zeros(2), std=jnp.ones(2))
  ds = Dataset.create(demos, identity, obs_horizon=3, chunk=4)
  assert ds.num_frames == 10
  b = ds.gather(jnp.array([0, 1]), jnp.array([0, 4]))
  np.testing.assert_array_equal(b.obs[0, :, 0], [0, 0, 0])  # episode start: first frame repeated
  np.testing.assert_array_equal(b.obs[1, :, 0], [102, 103, 104])
  np.testing.assert_array_equal(b.actions[0, :, 0], [0, 1, 2, 3])
  np.testing.assert_array_equal(b.actions[1, :, 0], [104, 105, 105, 105])  # past the end: last action


def test_samples_only_valid_frames():
  ds = Dataset.create(_demos([2, 3]), Normalizer(jnp.zeros(2), jnp.ones(2)), obs_horizon=1, chunk=1)
  b = ds.sample(jax.random.PRNGKey(0), 2000)
  values = set(np.asarray(b.obs[:, 0, 0]).astype(int).tolist())
  assert values == {0, 1, 100, 101, 102}


def test_mixing_ratio_is_per_sample():
  identity = Normalizer(jnp.zeros(2), jnp.ones(2))
  sim = Dataset.create(_demos([6] * 50), identity, 1, 1)
  real = Dataset.create(_demos([6] * 2, offset=0.5), identity, 1, 1)
  for w in [0.0, 0.1, 0.5, 1.0]:
    batch, is_real = sample_mixed(jax.random.PRNGKey(1), sim, real, 100, w)
    assert int(is_real.sum()) == num_real_in_batch(100, w) == round(100 * w)
    frac = np.asarray(batch.obs[:, 0, 0]) % 1 == 0.5
    np.testing.assert_array_equal(frac, np.asarray(is_real) == 1)


def test_normalizer_uses_only_valid_frames():
  demos = _demos([2, 2], T=6)
  norm = Normalizer.fit(demos)
  np.testing.assert_allclose(norm.mean, [50.5, 50.5])


def test_wilson_interval_reference_values():
  lo, hi = wilson_interval(5, 10)
  assert abs(lo - 0.2366) < 1e-3 and abs(hi - 0.7634) < 1e-3
  lo, hi = wilson_interval(0, 20)
  assert lo == 0.0 and abs(hi - 0.1611) < 1e-3
