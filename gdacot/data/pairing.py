"""Temporally aligned OT batches (paper A's sampler): DTW pairs each real demo with sim demos.

`make_pairing` runs DTW (`gdacot.data.dtw`) between every real and every sim demo on the
proprioceptive part of the normalised observations and turns the distances into, for each
real demo j, a distribution over sim demos i:

    w_ij = 1 / (1 + exp(sharpness * (d_ij - cutoff))),   probs[j, i] = w_ij / sum_i w_ij

computed in log space (log w = -softplus(sharpness * (d - cutoff)), normalised with logsumexp),
so it stays finite and normalised when every raw weight underflows (it then tends to a
softmax of -sharpness * d: the nearest sim demos). d is the DTW distance of `dtw`: the mean
Euclidean distance along the optimal warping path, in normalised (z-score) units.

`sample_paired` draws the real frames uniformly (as `Dataset.sample`), then for each real
(e_r, t) a sim demo e_s ~ probs[e_r] and the sim frame match[e_r, e_s, t] + U{-window..window},
clipped to the sim episode. The OT plan is still solved over the full B_ot x B_ot cost matrix;
the sampler only makes the two batches state-matched.

Calibration on the built-in benchmark (push_cube, 400 sim demos in regions in+ood, 20 real in
"in", DTW on the z-scored pusher position): d ranges 0.13 to 3.4 (median 1.8); the nearest sim
demo of a real demo is at 0.24 on average, the 10th nearest at 0.39. In normalised units,
sharpness 20, cutoff 0.3 gives about 18 effective sim demos per real demo (exp of the row
entropy; 3.6 to 31); paper A's sharpness 10, cutoff 0.01 gives about 33 (12 to 60). When every
d is well above the cutoff the weights are exp(-sharpness * d) up to a constant and the cutoff
no longer matters. Window 5: the mean proprioceptive gap between paired frames grows from 0.34
(window 0) to 0.51 (4) and 0.70 (8), against 2.3 for sim frames drawn at random.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gdacot.data.dataset import Batch, Dataset
from gdacot.data.dtw import dtw_table
from gdacot.io import open_atomic
from gdacot.data.observations import state_of


@struct.dataclass
class Pairing:
  """DTW pairing of real demos (rows) with sim demos (columns)."""

  probs: jax.Array  # (Er, Es) float32: sim demo distribution per real demo, rows sum to 1
  match: jax.Array  # (Er, Es, Tr) int32: sim frame matched to each real frame
  dist: jax.Array  # (Er, Es) float32: DTW distance (mean ground distance on the path)
  window: int = struct.field(pytree_node=False, default=5)
  sharpness: float = struct.field(pytree_node=False, default=0.0)  # recorded, for save/summary
  cutoff: float = struct.field(pytree_node=False, default=0.0)


_dtw_table = jax.jit(dtw_table, static_argnames="batch_size")


def pairing_probs(dist: jax.Array, sharpness: float, cutoff: float) -> jax.Array:
  """Normalised 1 / (1 + exp(sharpness * (d - cutoff))) over the last axis, in log space.

  log w = -softplus(a) with a = sharpness * (d - cutoff). Normalising, only
  log w_i - log w_min = -(softplus(a_i) - softplus(a_min)) matters, with a_min the row minimum.
  It is computed without the large common term that makes float32 lose the differences when
  every weight underflows (a >> 0): there softplus(a) = a + softplus(-a), so the difference is
  sharpness * (d_i - d_min) + softplus(-a_i) - softplus(-a_min), every term small or exact.
  """
  d = jnp.asarray(dist, jnp.float32)
  d_min = jnp.min(d, axis=-1, keepdims=True)
  a, a_min = sharpness * (d - cutoff), sharpness * (d_min - cutoff)
  large = (sharpness * (d - d_min) + jax.nn.softplus(-a)) - jax.nn.softplus(-a_min)
  small = jax.nn.softplus(a) - jax.nn.softplus(a_min)
  return jax.nn.softmax(-jnp.where(a_min >= 0, large, small), axis=-1)


def make_pairing(real: Dataset, sim: Dataset, proprio_slice: slice, *, sharpness: float, cutoff: float,
                 window: int, batch_size: int = 1) -> Pairing:
  """DTW of every real demo against every sim demo on `obs[..., proprio_slice]`.

  `batch_size` real demos are processed at once (memory ~ batch_size * Es * Tr * (Tr + Ts) * 5 bytes).
  Padding past the longest episode is dropped before DTW; `match` is padded back to Tr with 0.
  """
  if window < 0:
    raise ValueError(f"window must be >= 0, got {window}")
  if sharpness < 0:
    raise ValueError(f"sharpness must be >= 0, got {sharpness}")
  # Padding past the longest episode of each side is dropped: the DP grid shrinks, nothing changes.
  tr, ts = int(np.max(np.asarray(real.lengths))), int(np.max(np.asarray(sim.lengths)))
  dist, match = _dtw_table(
      state_of(real.obs)[:, :tr, proprio_slice], real.lengths, state_of(sim.obs)[:, :ts, proprio_slice], sim.lengths,
      batch_size=batch_size)
  match = jnp.pad(match, ((0, 0), (0, 0), (0, real.actions.shape[1] - tr)))
  return Pairing(probs=pairing_probs(dist, sharpness, cutoff), match=match, dist=dist, window=int(window),
                 sharpness=float(sharpness), cutoff=float(cutoff))


def sample_paired(key: jax.Array, sim: Dataset, real: Dataset, pairing: Pairing, n: int,
                  constrain=lambda x: x) -> tuple[Batch, Batch]:
  """n temporally aligned (sim, real) frame pairs: returns (sim_batch, real_batch).
  `constrain` places the drawn indices (see `Dataset.draw`)."""
  er, es = pairing.probs.shape
  if (er, es) != (real.lengths.shape[0], sim.lengths.shape[0]) or pairing.match.shape[-1] != real.actions.shape[1]:
    raise ValueError(f"pairing of shape probs {pairing.probs.shape}, match {pairing.match.shape} does not fit "
                     f"{real.lengths.shape[0]} real demos of {real.actions.shape[1]} frames and "
                     f"{sim.lengths.shape[0]} sim demos")
  k_real, k_sim, k_off = jax.random.split(key, 3)
  e_r, t_r, _ = real.draw(k_real, n, constrain)  # a real mixture's frames by their shares; sim follows DTW
  e_s = constrain(jax.random.categorical(k_sim, jnp.log(pairing.probs[e_r]), axis=-1).astype(jnp.int32))
  offset = constrain(jax.random.randint(k_off, (n,), -pairing.window, pairing.window + 1))
  t_s = jnp.clip(pairing.match[e_r, e_s, t_r] + offset, 0, sim.lengths[e_s] - 1)
  return sim.gather(e_s, t_s), real.gather(e_r, t_r)


def effective_sim_demos(probs: jax.Array) -> np.ndarray:
  """exp(entropy) of each row: how many sim demos a real demo effectively draws from."""
  p = np.asarray(probs, np.float64)
  logp = np.log(np.where(p > 0, p, 1.0))
  return np.exp(-(p * logp).sum(-1))


def summary(pairing: Pairing) -> dict:
  """DTW distance statistics and how peaked the weights are (effective sim demos per real demo)."""
  d = np.asarray(pairing.dist, np.float64)
  eff = effective_sim_demos(pairing.probs)
  return {
      "real_demos": int(d.shape[0]), "sim_demos": int(d.shape[1]),
      "dist_mean": float(d.mean()), "dist_median": float(np.median(d)),
      "dist_min": float(d.min()), "dist_max": float(d.max()),
      "nearest_dist_mean": float(d.min(1).mean()),  # mean over real demos of the closest sim demo
      "effective_sim_demos_mean": float(eff.mean()),
      "effective_sim_demos_min": float(eff.min()), "effective_sim_demos_max": float(eff.max()),
      "window": pairing.window, "sharpness": pairing.sharpness, "cutoff": pairing.cutoff,
  }


def save_pairing(path: str, pairing: Pairing) -> None:
  """Writes the pairing as .npz atomically (a temporary file in the same folder, then os.replace)."""
  with open_atomic(path, "wb") as f:
    np.savez(f, probs=np.asarray(pairing.probs), match=np.asarray(pairing.match), dist=np.asarray(pairing.dist),
             window=np.int64(pairing.window), sharpness=np.float64(pairing.sharpness), cutoff=np.float64(pairing.cutoff))


def load_pairing(path: str) -> Pairing:
  with np.load(path, allow_pickle=False) as z:
    return Pairing(probs=jnp.asarray(z["probs"], jnp.float32), match=jnp.asarray(z["match"], jnp.int32),
                   dist=jnp.asarray(z["dist"], jnp.float32), window=int(z["window"]),
                   sharpness=float(z["sharpness"]), cutoff=float(z["cutoff"]))
