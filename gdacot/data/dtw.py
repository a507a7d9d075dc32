"""Dynamic time warping (DTW) in JAX: one pair, and a table over all real x sim demo pairs.

The dynamic programme runs over anti-diagonals: cell (i, j) of the accumulated cost
`D[i, j] = c[i, j] + min(D[i-1, j-1], D[i-1, j], D[i, j-1])` depends only on the two previous
diagonals, so a `lax.scan` of Tx + Ty - 1 steps, each a vector operation over the diagonal,
fills the whole grid. It keeps only the two last diagonals and, per cell, the chosen
predecessor (int8); the backtrack is a second scan of the same fixed length with a `done`
flag, and the match comes from one scatter-min / scatter-max over the visited cells.
Everything is pure and works under `jit` and `vmap`; no Python loops over time.

Conventions (used by `gdacot.data.pairing`):
- Ground distance: Euclidean, `c[i, j] = ||x_i - y_j||_2`.
- Padding: only frames i < len_x of x and j < len_y of y take part. The grid is filled over
  the padded size, but a cell only depends on cells with smaller indices, so the valid block
  is exact whatever the padding holds (padded costs are zeroed so they cannot be NaN).
- Distance: the cost of the optimal warping path from (0, 0) to (len_x - 1, len_y - 1)
  divided by the NUMBER OF CELLS ON THAT PATH (between max(len_x, len_y) and
  len_x + len_y - 1). It is the mean ground distance along the alignment, in the units of
  the data: a copy of x offset by a constant vector v has distance ||v||; a time-stretched
  copy has distance 0.
- Path ties: among equal predecessors, (i-1, j-1) first, then (i-1, j), then (i, j-1).
- Match: for frame i < len_x of x, the cells of row i on the path form a contiguous range
  [lo_i, hi_i] of y frames; `match[i] = (lo_i + hi_i) // 2`, the middle of that range (rounded
  down), which is itself on the path. Entries for i >= len_x are 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_INF = jnp.inf


def _cost(x, y, len_x, len_y):
  """Euclidean ground distance (Tx, Ty), zero outside the valid block."""
  diff = x[:, None, :] - y[None, :, :]
  c = jnp.sqrt(jnp.sum(diff * diff, axis=-1))
  valid = (jnp.arange(x.shape[0])[:, None] < len_x) & (jnp.arange(y.shape[0])[None, :] < len_y)
  return jnp.where(valid, c, 0.0)


def _forward(c, len_x, len_y):
  """The DP by anti-diagonal. Returns the path cost D[len_x-1, len_y-1] and the moves
  (Tx + Ty - 1, Tx) int8, entry [k, i] the best predecessor of cell (i, k - i):
  0 = (i-1, j-1), 1 = (i-1, j), 2 = (i, j-1); ties go to the lower code."""
  tx, ty = c.shape
  k = jnp.arange(tx + ty - 1)[:, None]
  i = jnp.arange(tx)[None, :]
  j = k - i
  # The cost matrix skewed by anti-diagonal (one gather); inf outside the grid.
  skewed = jnp.where((j >= 0) & (j < ty), c[i, jnp.clip(j, 0, ty - 1)], _INF)
  inf_row = jnp.full((tx,), _INF, c.dtype)
  shift = lambda v: jnp.concatenate([inf_row[:1], v[:-1]])  # v[i-1]
  k_end, i_end = len_x + len_y - 2, len_x - 1

  def step(carry, inputs):
    prev, prev2, total = carry  # diagonals k-1 and k-2, and D at the end cell once reached
    ck, kk = inputs
    diag, up, left = shift(prev2), shift(prev), prev  # D at (i-1, j-1), (i-1, j), (i, j-1)
    up_left = jnp.minimum(up, left)
    dk = ck + jnp.minimum(diag, up_left)
    move = jnp.where(diag <= up_left, 0, jnp.where(up <= left, 1, 2)).astype(jnp.int8)
    total = jnp.where(kk == k_end, dk[i_end], total)
    return (dk, prev, total), move

  d0 = jnp.where(jnp.arange(tx) == 0, skewed[0], _INF)  # the start cell (0, 0) has no predecessor
  init = (d0, inf_row, jnp.where(k_end == 0, d0[0], 0.0))
  (_, _, total), moves = jax.lax.scan(step, init, (skewed[1:], jnp.arange(1, tx + ty - 1)))
  moves = jnp.concatenate([jnp.zeros((1, tx), jnp.int8), moves])
  return total, moves


def _backtrack(moves, len_x, len_y):
  """Walks the optimal path back from (len_x-1, len_y-1): the cells (i, j) per step and
  whether the step was on the path (a fixed number of steps; those after (0, 0) are not)."""

  def step(carry, _):
    i, j, done = carry
    move = moves[i + j, i]
    finished = done | ((i == 0) & (j == 0))
    ni = jnp.where(finished | (move == 2), i, i - 1)
    nj = jnp.where(finished | (move == 1), j, j - 1)
    return (ni, nj, finished), (i, j, ~done)

  init = (len_x - 1, len_y - 1, jnp.array(False))
  _, (i, j, live) = jax.lax.scan(step, init, None, length=moves.shape[0])
  return i, j, live


def dtw(x: jax.Array, y: jax.Array, len_x: jax.Array, len_y: jax.Array) -> tuple[jax.Array, jax.Array]:
  """DTW between padded trajectories x (Tx, d) and y (Ty, d) with valid lengths len_x, len_y >= 1.

  Returns (distance, match): distance () float32, the optimal path cost divided by the number
  of cells on the path; match (Tx,) int32, for each frame i < len_x of x the middle frame of y
  among those matched to it on the path (0 for i >= len_x). See the module docstring.
  """
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
  len_x, len_y = jnp.asarray(len_x, jnp.int32), jnp.asarray(len_y, jnp.int32)
  tx, ty = x.shape[0], y.shape[0]
  total, moves = _forward(_cost(x, y, len_x, len_y), len_x, len_y)
  i, j, live = _backtrack(moves, len_x, len_y)
  lo = jnp.full(tx, ty, jnp.int32).at[i].min(jnp.where(live, j, ty))
  hi = jnp.full(tx, -1, jnp.int32).at[i].max(jnp.where(live, j, -1))
  match = jnp.where(jnp.arange(tx) < len_x, (lo + hi) // 2, 0).astype(jnp.int32)
  return total / jnp.sum(live).astype(jnp.float32), match


def dtw_table(x: jax.Array, len_x: jax.Array, y: jax.Array, len_y: jax.Array, *,
              batch_size: int = 1) -> tuple[jax.Array, jax.Array]:
  """DTW for every pair of x (Ex, Tx, d) (real) and y (Ey, Ty, d) (sim) trajectories.

  Returns dist (Ex, Ey) float32 and match (Ex, Ey, Tx) int32 (as `dtw`). `lax.map` runs over
  the x trajectories, `batch_size` at a time, each against all of y with `vmap`; the live
  memory is about batch_size * Ey * Tx * (Tx + Ty) * 5 bytes (the float32 cost matrix skewed
  by anti-diagonal, and the int8 predecessor table).
  """
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
  len_x, len_y = jnp.asarray(len_x, jnp.int32), jnp.asarray(len_y, jnp.int32)
  one_vs_all = jax.vmap(dtw, in_axes=(None, 0, None, 0))
  return jax.lax.map(lambda a: one_vs_all(a[0], y, a[1], len_y), (x, len_x), batch_size=batch_size)
