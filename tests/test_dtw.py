import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdacot.data.dataset import Dataset, Normalizer
from gdacot.data.demos import Demos
from gdacot.data.dtw import dtw, dtw_table
from gdacot.data.pairing import (Pairing, effective_sim_demos, load_pairing, make_pairing, pairing_probs,
                                 sample_paired, save_pairing, summary)

_dtw = jax.jit(dtw)


def _reference(x, y):
  """Plain DTW on unpadded x (n, d), y (m, d): (distance / path cells, match as in gdacot.data.dtw)."""
  n, m = len(x), len(y)
  c = np.sqrt(((x[:, None].astype(np.float64) - y[None].astype(np.float64)) ** 2).sum(-1))
  D = np.full((n + 1, m + 1), np.inf)
  D[0, 0] = 0.0
  for i in range(1, n + 1):
    for j in range(1, m + 1):
      D[i, j] = c[i - 1, j - 1] + min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
  i, j, path = n, m, [(n - 1, m - 1)]
  while (i, j) != (1, 1):
    moves = [(i - 1, j - 1), (i - 1, j), (i, j - 1)]  # ties: diagonal, up, left
    i, j = moves[int(np.argmin([D[a, b] for a, b in moves]))]
    path.append((i - 1, j - 1))
  rows = {}
  for a, b in path:
    rows.setdefault(a, []).append(b)
  match = np.array([(min(rows[a]) + max(rows[a])) // 2 for a in range(n)])
  return D[n, m] / len(path), match, path


def _pad(x, T, value=7.0):
  out = np.full((T, x.shape[1]), value, np.float32)
  out[: len(x)] = x
  return out


@pytest.mark.parametrize("seed", range(6))
def test_dtw_equals_numpy_reference_with_padding(seed):
  rng = np.random.default_rng(seed)
  n, m = rng.integers(1, 14, size=2)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  y = rng.normal(size=(m, 3)).astype(np.float32)
  dist, match = _dtw(_pad(x, 15), _pad(y, 17, value=np.nan), n, m)  # padding never leaks in
  ref_dist, ref_match, path = _reference(x, y)
  np.testing.assert_allclose(dist, ref_dist, rtol=1e-5)
  np.testing.assert_array_equal(match[:n], ref_match)
  np.testing.assert_array_equal(match[n:], 0)
  assert all((a, int(match[a])) in path for a in range(n))  # every match is a cell of the path


def test_identical_trajectories_and_stretched_copy():
  x = np.cumsum(np.random.default_rng(0).normal(size=(10, 2)), 0).astype(np.float32)
  dist, match = _dtw(_pad(x, 12), _pad(x, 12), 10, 10)
  assert float(dist) == 0.0
  np.testing.assert_array_equal(match[:10], np.arange(10))
  # y runs at half speed: frame k of x appears twice in y, at 2k and 2k + 1.
  y = np.repeat(x, 2, axis=0)
  dist, match = _dtw(_pad(x, 12), _pad(y, 25), 10, 20)
  assert float(dist) == 0.0
  np.testing.assert_array_equal(match[:10], 2 * np.arange(10))
  # y is x delayed by 3 frames (it holds its first frame).
  y = np.concatenate([np.repeat(x[:1], 3, 0), x])
  dist, match = _dtw(_pad(x, 12), _pad(y, 14), 10, 13)
  assert float(dist) == 0.0
  np.testing.assert_array_equal(match[:10], [1] + list(range(4, 13)))  # frame 0: middle of y 0..3
  # A copy offset by v orthogonal to a monotone motion: the diagonal, at distance |v| per cell.
  x = np.stack([np.cumsum(np.random.default_rng(1).uniform(0.1, 1.0, 10)), np.zeros(10)], 1).astype(np.float32)
  dist, match = _dtw(_pad(x, 12), _pad(x + np.array([0.0, 0.5], np.float32), 12), 10, 10)
  np.testing.assert_allclose(dist, 0.5, rtol=1e-6)
  np.testing.assert_array_equal(match[:10], np.arange(10))


def test_table_equals_pairwise():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(3, 9, 2)).astype(np.float32)
  y = rng.normal(size=(5, 11, 2)).astype(np.float32)
  lx, ly = np.array([9, 4, 1]), np.array([11, 2, 7, 5, 1])
  dist, match = jax.jit(dtw_table, static_argnames="batch_size")(x, lx, y, ly, batch_size=2)
  assert dist.shape == (3, 5) and match.shape == (3, 5, 9) and match.dtype == jnp.int32
  for a in range(3):
    for b in range(5):
      d, mt = _dtw(x[a], y[b], lx[a], ly[b])
      np.testing.assert_allclose(dist[a, b], d, rtol=1e-6)
      np.testing.assert_array_equal(match[a, b], mt)


def _datasets(sim_len, real_len, T=12):
  def demos(lengths, base):
    E = len(lengths)
    t = np.arange(T, dtype=np.float32)[None, :, None]
    e = np.arange(E, dtype=np.float32)[:, None, None]
    obs = np.concatenate([np.broadcast_to(t / T, (E, T, 1)), np.broadcast_to(base + e, (E, T, 1))], -1)
    act = np.broadcast_to(base + 100 * e + t, (E, T, 1))
    return Demos(obs=jnp.asarray(obs), actions=jnp.asarray(act, jnp.float32),
                 lengths=jnp.asarray(lengths, jnp.int32))

  identity = Normalizer(jnp.zeros(2), jnp.ones(2))
  sim = Dataset.create(demos(sim_len, 0.0), identity, obs_horizon=1, chunk=1)
  real = Dataset.create(demos(real_len, 1000.0), identity, obs_horizon=1, chunk=1)
  return sim, real


def test_sample_paired_window_episode_and_determinism():
  sim, real = _datasets([12, 5, 9, 7], [10, 6])
  pairing = make_pairing(real, sim, slice(0, 1), sharpness=1.0, cutoff=0.0, window=2)
  assert pairing.match.shape == (2, 4, 12) and pairing.probs.shape == pairing.dist.shape == (2, 4)
  np.testing.assert_allclose(pairing.probs.sum(1), 1.0, rtol=1e-6)
  n = 4000
  sample = jax.jit(sample_paired, static_argnums=4)
  sim_b, real_b = sample(jax.random.PRNGKey(0), sim, real, pairing, n)
  # Decode (episode, frame) from the actions: base + 100 * episode + t.
  e_s, t_s = np.divmod(np.asarray(sim_b.actions[:, 0, 0]).astype(int), 100)
  e_r, t_r = np.divmod(np.asarray(real_b.actions[:, 0, 0]).astype(int) - 1000, 100)
  assert (t_r < np.asarray(real.lengths)[e_r]).all()
  assert (t_s >= 0).all() and (t_s < np.asarray(sim.lengths)[e_s]).all()
  matched = np.asarray(pairing.match)[e_r, e_s, t_r]
  assert (np.abs(t_s - matched) <= 2).all()
  assert set(np.unique(t_s - matched)) <= set(range(-2, 3))
  assert set(np.unique(e_s)) == {0, 1, 2, 3}
  sim_b2, real_b2 = sample(jax.random.PRNGKey(0), sim, real, pairing, n)
  np.testing.assert_array_equal(sim_b.actions, sim_b2.actions)
  np.testing.assert_array_equal(real_b.obs, real_b2.obs)
  # One-hot probs: real demo 0 always draws sim demo 2, real demo 1 sim demo 1.
  probs = jnp.zeros((2, 4)).at[0, 2].set(1.0).at[1, 1].set(1.0)
  onehot = pairing.replace(probs=probs)
  sim_b, real_b = sample(jax.random.PRNGKey(3), sim, real, onehot, 500)
  e_s = np.asarray(sim_b.actions[:, 0, 0]).astype(int) // 100
  e_r = (np.asarray(real_b.actions[:, 0, 0]).astype(int) - 1000) // 100
  np.testing.assert_array_equal(e_s, np.where(e_r == 0, 2, 1))


def test_probs_formula_and_underflow():
  dist = jnp.asarray(np.random.default_rng(2).uniform(0.0, 1.0, size=(3, 6)), jnp.float32)
  w = 1.0 / (1.0 + np.exp(4.0 * (np.asarray(dist, np.float64) - 0.5)))
  np.testing.assert_allclose(pairing_probs(dist, 4.0, 0.5), w / w.sum(1, keepdims=True), rtol=1e-5)
  # Every raw weight underflows (exp(-1e4)): still finite, normalised, peaked on the nearest.
  probs = pairing_probs(dist + 1000.0, 10.0, 0.01)
  assert np.isfinite(probs).all()
  np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(np.argmax(probs, 1), np.argmin(dist, 1))
  log_w = -np.logaddexp(0.0, 10.0 * (np.asarray(dist + 1000.0, np.float64) - 0.01))  # float64 reference
  ref = np.exp(log_w - np.logaddexp.reduce(log_w, axis=1, keepdims=True))
  np.testing.assert_allclose(probs, ref, rtol=2e-3, atol=1e-7)
  np.testing.assert_allclose(effective_sim_demos(jnp.full((2, 5), 0.2)), [5.0, 5.0], rtol=1e-6)


def test_save_load_round_trip(tmp_path):
  sim, real = _datasets([12, 5, 9], [10, 6])
  pairing = make_pairing(real, sim, slice(0, 1), sharpness=3.0, cutoff=0.1, window=4)
  path = str(tmp_path / "pairing.npz")
  save_pairing(path, pairing)
  loaded = load_pairing(path)
  assert isinstance(loaded, Pairing)
  assert (loaded.window, loaded.sharpness, loaded.cutoff) == (4, 3.0, 0.1)
  for a, b in [(loaded.probs, pairing.probs), (loaded.match, pairing.match), (loaded.dist, pairing.dist)]:
    np.testing.assert_array_equal(a, b)
    assert a.dtype == b.dtype
  assert [p.name for p in tmp_path.iterdir()] == ["pairing.npz"]  # no temporary file left
  s = summary(loaded)
  assert s["dist_min"] <= s["dist_median"] <= s["dist_max"] and 1.0 <= s["effective_sim_demos_mean"] <= 3.0
