"""Device-resident datasets of demos and the samplers that draw training batches.

Sampling is a pure function of a key, under `jit`: it draws (episode, frame) pairs
uniformly over the valid frames (for a domain that mixes several datasets: first a dataset,
by its per-sample weight, then a frame uniformly within it), then gathers the observation history ending at the frame
(repeating the first frame at episode start) and the action chunk starting at it
(repeating the last action past the episode end, as Diffusion Policy pads).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gdacot.data.demos import Demos
from gdacot.data.observations import state_of, with_state


def _identity(x):
  return x


@struct.dataclass
class Normalizer:
  """Per-dimension z-score of the observations' state part, fitted on the frames the run
  trains on. Images pass through as uint8; the image encoder scales them."""

  mean: jax.Array
  std: jax.Array

  def __call__(self, obs):
    return with_state(obs, (state_of(obs) - self.mean) / self.std)

  @classmethod
  def fit(cls, *demos: Demos, min_std: float = 1e-3) -> "Normalizer":
    frames = np.concatenate([_valid_frames(state_of(d.obs), d.lengths) for d in demos])
    std = np.maximum(frames.std(0), min_std)
    return cls(mean=jnp.asarray(frames.mean(0)), std=jnp.asarray(std))


def _valid_frames(x, lengths) -> np.ndarray:
  x, lengths = np.asarray(x), np.asarray(lengths)
  return np.concatenate([x[e, : lengths[e]] for e in range(len(lengths))])


@struct.dataclass
class Batch:
  obs: jax.Array | dict  # (n, obs_horizon, ...) per observation part; the state normalised
  actions: jax.Array  # (n, chunk, action_size)
  part: jax.Array | None = None  # (n,) int32: which dataset of the domain's mixture each sample came from


@struct.dataclass
class Dataset:
  """Normalised demos on the device plus a flat table of valid (episode, frame) pairs."""

  obs: jax.Array | dict  # (E, T, ...) per observation part; the state normalised
  actions: jax.Array  # (E, T, action_size)
  lengths: jax.Array  # (E,)
  frames: jax.Array  # (N, 2) int32: every valid (episode, t)
  obs_horizon: int = struct.field(pytree_node=False, default=2)
  chunk: int = struct.field(pytree_node=False, default=8)
  # A mixture of datasets (None for one): per dataset, its first row in `frames`, its number of
  # frames and the log of its share of the samples; its name for the logged shares.
  part_start: jax.Array | None = None
  part_frames: jax.Array | None = None
  part_log_share: jax.Array | None = None
  part_names: tuple[str, ...] = struct.field(pytree_node=False, default=())

  @classmethod
  def create(cls, demos: Demos, normalizer: Normalizer, obs_horizon: int, chunk: int,
             parts: Sequence[tuple[str, int, float]] = ()) -> "Dataset":
    """`parts`: a mixture's (name, episodes, share) per dataset, whose episodes are consecutive
    in `demos` in that order (sources.load_mixture); () or one part: every frame alike."""
    lengths = np.asarray(demos.lengths)
    frames = np.array([(e, t) for e in range(len(lengths)) for t in range(lengths[e])], np.int32)
    mixture = {}
    if len(parts) > 1:
      episodes = np.array([n for _, n, _ in parts])
      if episodes.sum() != len(lengths):
        raise ValueError(f"the parts hold {episodes.sum()} episodes, the demos {len(lengths)}")
      first_episode = np.concatenate([[0], np.cumsum(episodes)])
      frame_start = np.concatenate([[0], np.cumsum(lengths)])[first_episode]
      shares = np.array([share for _, _, share in parts], np.float64)
      mixture = dict(part_start=jnp.asarray(frame_start[:-1], jnp.int32),
                     part_frames=jnp.asarray(np.diff(frame_start), jnp.int32),
                     part_log_share=jnp.asarray(np.log(shares / shares.sum()), jnp.float32),
                     part_names=tuple(name for name, _, _ in parts))
    return cls(
        obs=jax.tree.map(jnp.asarray, normalizer(demos.obs)),  # dataset images arrive from the host
        actions=demos.actions,
        lengths=demos.lengths,
        frames=jnp.asarray(frames),
        obs_horizon=obs_horizon,
        chunk=chunk,
        **mixture,
    )

  @property
  def num_frames(self) -> int:
    return int(self.frames.shape[0])

  def gather(self, episode: jax.Array, t: jax.Array) -> Batch:
    """History and chunk for arrays of (episode, t)."""
    hist_t = t[:, None] + jnp.arange(-self.obs_horizon + 1, 1)[None]
    hist_t = jnp.maximum(hist_t, 0)
    chunk_t = t[:, None] + jnp.arange(self.chunk)[None]
    chunk_t = jnp.minimum(chunk_t, self.lengths[episode][:, None] - 1)
    e = episode[:, None]
    return Batch(obs=jax.tree.map(lambda x: x[e, hist_t], self.obs), actions=self.actions[e, chunk_t])

  def draw(self, key: jax.Array, n: int, constrain=_identity) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(episode, t, part) of n frames drawn uniformly, or for a mixture: each sample's dataset
    drawn by its share (per sample), then a frame uniformly within that dataset. `constrain`
    places the drawn indices (e.g. split over the devices' data axis), so every device gathers
    its own share from its copy of the data."""
    if self.part_log_share is None:
      idx = constrain(jax.random.randint(key, (n,), 0, self.frames.shape[0]))
      part = jnp.zeros_like(idx)
    else:
      k_part, k_frame = jax.random.split(key)
      part = constrain(jax.random.categorical(k_part, self.part_log_share, shape=(n,)).astype(jnp.int32))
      start = self.part_start[part]
      idx = constrain(jax.random.randint(k_frame, (n,), start, start + self.part_frames[part]))
    pick = self.frames[idx]
    return pick[:, 0], pick[:, 1], part

  def sample(self, key: jax.Array, n: int, constrain=_identity) -> Batch:
    """n frames drawn as `draw` says, with their history and action chunk."""
    episode, t, part = self.draw(key, n, constrain)
    return self.gather(episode, t).replace(part=part)


def num_real_in_batch(batch_size: int, w: float) -> int:
  """The mixing ratio w is PER SAMPLE: the share of real samples in every BC batch."""
  return int(round(w * batch_size))


def sample_mixed(key: jax.Array, sim: Dataset, real: Dataset, batch_size: int, w: float, constrain=_identity):
  """A BC batch with round(w * batch_size) real samples (the last ones) and the rest sim.

  Returns the batch and a domain label per sample (0 sim, 1 real). Both domains are drawn
  for every slot and each slot keeps its domain's draw (a select, not a concatenation), so a
  batch split over devices needs no communication to assemble.
  """
  n_real = num_real_in_batch(batch_size, w)
  k_sim, k_real = jax.random.split(key)
  is_real = constrain((jnp.arange(batch_size) >= batch_size - n_real).astype(jnp.int32))
  if n_real == 0:
    return sim.sample(k_sim, batch_size, constrain), is_real
  if n_real == batch_size:
    return real.sample(k_real, batch_size, constrain), is_real
  from_sim, from_real = sim.sample(k_sim, batch_size, constrain), real.sample(k_real, batch_size, constrain)
  select = lambda s, r: jnp.where(is_real.reshape((-1,) + (1,) * (s.ndim - 1)) > 0, r, s)
  return jax.tree.map(select, from_sim, from_real), is_real
