"""The compiled train step: BC on a mixed batch + lambda * alignment on OT batches.

`make_train_step` returns a pure function `step(state, data) -> (state, metrics)`;
`make_train_chunk` scans it `n` times under one `jit` (purejaxrl style), so the host only
wakes up to log and checkpoint (image runs on a CPU call the compiled step n times instead).
Randomness comes from `fold_in(state.rng, state.step)`: a resumed run draws exactly the batches
an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from gdacot import parallel
from gdacot.align import Method
from gdacot.align.options import alignment_features, alignment_weight, option
from gdacot.data import Batch, Dataset, sample_mixed
from gdacot.data.observations import image_of, state_of
from gdacot.data.pairing import Pairing, sample_paired
from gdacot.models.encoders import random_shift


@struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar
  params: Any  # pure dict of the policy's nnx.Param values
  ema_params: Any  # exponential moving average of params: what evaluation uses
  opt_state: Any
  rng: jax.Array  # uint32[2] raw key, so checkpoints hold plain arrays


@struct.dataclass
class TrainData:
  sim: Dataset
  real: Dataset
  pairing: Pairing | None = None  # DTW pairing of OT batches (paper A); None: random pairs


def make_optimizer(optim_cfg) -> optax.GradientTransformation:
  return optax.chain(
      optax.clip_by_global_norm(optim_cfg.grad_clip),
      optax.adamw(optim_cfg.learning_rate, weight_decay=optim_cfg.weight_decay),
  )


def init_train_state(params, tx, seed: int) -> TrainState:
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      ema_params=jax.tree.map(jnp.copy, params),  # own buffers: the train chunk donates both
      opt_state=tx.init(params),
      rng=jax.random.PRNGKey(seed),
  )


def ema_decay_at(step: jax.Array, decay: float) -> jax.Array:
  """EMA decay with warm-up, min(decay, (1 + step) / (10 + step)): early averages are not
  dominated by the random initialisation (as in Diffusion Policy's EMA)."""
  step = step.astype(jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def _masked_mean(x, mask):
  return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def alignment_target(batch: Batch, kind: str, proprio_slice: slice) -> jax.Array:
  """y of paper A's joint cost: the chunk's first action, or the latest proprioception."""
  if kind == "action":
    return batch.actions[:, 0]
  if kind == "proprio":
    return state_of(batch.obs)[:, -1, proprio_slice]
  raise ValueError(f"unknown alignment target {kind!r}; use 'action' or 'proprio'")


def augment(obs, key: jax.Array, pad: int):
  """DrQ's random shift of the image part of training observations (none without images)."""
  if pad == 0 or image_of(obs) is None:
    return obs
  return {**obs, "image": random_shift(obs["image"], key, pad)}


def ot_batches(key, data: TrainData, n: int, constrain=lambda x: x) -> tuple[Batch, Batch]:
  """Equal-size sim and real batches for the alignment loss: DTW-paired when the data holds
  a pairing (a real frame's sim partner is near a DTW-matched frame), else independent."""
  if data.pairing is not None:
    return sample_paired(key, data.sim, data.real, data.pairing, n, constrain)
  k_sim, k_real = jax.random.split(key)
  return data.sim.sample(k_sim, n, constrain), data.real.sample(k_real, n, constrain)


def make_train_step(graphdef, tx, method: Method, cfg, proprio_slice: slice, mesh=None):
  """The step for one global batch. With a `mesh`, every batch (BC and OT) is split along the
  mesh's data axis, so each device runs its share; parameters stay replicated and XLA adds the
  gradient all-reduce. The OT problem stays GLOBAL: every device's OT features (and joint-cost
  targets) are gathered once and the plan is solved on each device, so the loss and its
  gradient are exactly those of one device with the same global batch."""
  w = method.mixing_ratio(cfg.w)
  split = lambda x: parallel.shard_batch(x, mesh)  # batch axis over the devices (identity without a mesh)
  shift = cfg.augment.random_shift

  def loss_fn(params, data: TrainData, key, step):
    policy = nnx.merge(graphdef, params)
    k_bc, k_head, k_ot, k_drop = jax.random.split(key, 4)
    # Augmentation keys are folded in, not split off, so state-only runs keep their streams.
    k_aug = jax.random.split(jax.random.fold_in(key, 1_000_003), 3)
    batch, is_real = sample_mixed(k_bc, data.sim, data.real, cfg.batch_size, w, split)
    z = policy.features(augment(batch.obs, k_aug[0], shift))
    # CFG: sample_mixed's is_real (0 sim, 1 real) is the DOMAIN_LABELS index; it is dropped
    # (to "none") with probability p.
    if method.domain_label:
      keep = jax.random.bernoulli(k_drop, 1.0 - cfg.domain_label.dropout, is_real.shape)
      z_cond = policy.condition(z, is_real, keep)
    else:
      z_cond = z
    per_sample = policy.bc_loss(z_cond, batch.actions, k_head)
    bc = per_sample.mean()
    real_mask = is_real.astype(jnp.float32)
    metrics = {
        "bc_loss": bc,
        "bc_loss_sim": _masked_mean(per_sample, 1.0 - real_mask),
        "bc_loss_real": _masked_mean(per_sample, real_mask),
    }
    # A domain that mixes datasets logs each one's realised share of that domain's BC samples.
    for name, domain, mask in (("sim", data.sim, 1.0 - real_mask), ("real", data.real, real_mask)):
      for k, part in enumerate(domain.part_names):
        metrics[f"share/{name}/{part}"] = _masked_mean((batch.part == k).astype(jnp.float32), mask)
    align = jnp.zeros(())
    if method.align is not None:
      sim_batch, real_batch = ot_batches(k_ot, data, cfg.align.batch_size, split)
      # Three encoder passes: one over the three batches joined ran the 32x32 image step 1.65x
      # slower on XLA:CPU (issue 18, BUILD_NOTES).
      z_sim = policy.features(augment(sim_batch.obs, k_aug[1], shift))
      z_real = policy.features(augment(real_batch.obs, k_aug[2], shift))
      y_sim = alignment_target(sim_batch, cfg.align.target, proprio_slice)
      y_real = alignment_target(real_batch, cfg.align.target, proprio_slice)
      # A global OT batch: every device's features are gathered once, then the plan is solved
      # (redundantly) on each device.
      z_sim, z_real, y_sim, y_real = parallel.gather_replicated((z_sim, z_real, y_sim, y_real), mesh)
      # The align block's options (gdacot/align/options.py): which side the gradient reaches,
      # whether the features are L2-normalised, and the weight's warm-up.
      z_sim, z_real = alignment_features(z_sim, z_real, cfg.align)
      align, align_metrics = method.align(z_sim, z_real, y_sim, y_real, cfg.align, policy)
      metrics.update(align_metrics)
    weight = alignment_weight(cfg.align, method.weight, step)
    loss = bc + weight * align
    metrics.update(loss=loss, align_loss=align)
    if method.align is not None and option(cfg.align, "warmup_steps"):
      metrics["align_weight"] = jnp.asarray(weight, jnp.float32)
    return loss, metrics

  def step(state: TrainState, data: TrainData):
    key = jax.random.fold_in(state.rng, state.step)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, data, key, state.step)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    decay = ema_decay_at(state.step, cfg.ema_decay)
    ema_params = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, params)
    metrics["grad_norm"] = optax.global_norm(grads)
    new_state = state.replace(step=state.step + 1, params=params, ema_params=ema_params, opt_state=opt_state)
    return new_state, metrics

  return step


def make_train_chunk(step_fn, mesh=None, *, stepped: bool = False, seeds: int = 0):
  """`chunk(state, data, n)`: n steps in one compiled `lax.scan`; metrics averaged over the
  steps (per seed when the step is vmapped over seeds). With a mesh, the state, the datasets
  and the metrics are replicated over it. `stepped`: the n steps are n calls of one compiled
  step from Python instead (SteppedChunk), for XLA:CPU, which runs convolutions inside a loop
  about 6x slower than outside one (BUILD_NOTES, issue 18).

  `seeds`: the state holds this many seeds stacked on a leading axis. The scanned chunk takes
  a step already vmapped over them; a stepped chunk takes the one-seed step and steps each seed
  in turn, because XLA:CPU runs a convolution vmapped over seeds' kernels (a grouped
  convolution) about 3x slower per seed than one seed's (BUILD_NOTES, issue 18)."""
  shardings = {} if mesh is None else {"in_shardings": (parallel.replicated(mesh),) * 2,
                                       "out_shardings": (parallel.replicated(mesh),) * 2}
  if stepped:
    return SteppedChunk(jax.jit(step_fn, donate_argnums=0, **shardings), seeds=seeds)

  def chunk(state, data, n: int):
    state, metrics = jax.lax.scan(lambda s, _: step_fn(s, data), state, None, length=n)
    return state, _mean_over_steps(metrics)

  return jax.jit(chunk, static_argnums=2, donate_argnums=0, **shardings)


def _mean_over_steps(metrics):
  return jax.tree.map(lambda m: jnp.mean(m.astype(jnp.float32), axis=0), metrics)


class SteppedChunk:
  """A train chunk run as n calls of one compiled step, with the jitted chunk's interface:
  `chunk(state, data, n)` and `chunk.lower(state, data, n).compile()` -> `compiled(state, data)`
  (what tools/ use to time the compile apart), so callers need not know which they hold.
  With `seeds`, the step is one seed's and the state holds `seeds` seeds stacked: each takes its
  n steps in turn, and the state and metrics come back stacked as a vmapped step gives them."""

  def __init__(self, step, seeds: int = 0):
    self.step, self.seeds = step, seeds

  def _steps(self, state, data, n: int):
    metrics = []
    for _ in range(n):
      state, m = self.step(state, data)
      metrics.append(m)
    return state, _mean_over_steps(jax.tree.map(lambda *m: jnp.stack(m), *metrics))

  def __call__(self, state, data, n: int):
    if not self.seeds:
      return self._steps(state, data, n)
    per_seed = [self._steps(jax.tree.map(lambda x, i=i: x[i], state), data, n) for i in range(self.seeds)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *per_seed)

  def lower(self, state, data, n: int) -> "SteppedChunk._Lowered":
    one = jax.tree.map(lambda x: x[0], state) if self.seeds else state
    return SteppedChunk._Lowered(self.step.lower(one, data), n, self.seeds)

  class _Lowered:
    def __init__(self, lowered, n: int, seeds: int):
      self.lowered, self.n, self.seeds = lowered, n, seeds

    def compile(self) -> "SteppedChunk._Compiled":
      return SteppedChunk._Compiled(self.lowered.compile(), self.n, self.seeds)

  class _Compiled:
    def __init__(self, compiled, n: int, seeds: int):
      self.compiled, self.n, self.seeds = compiled, n, seeds

    def __call__(self, state, data):
      return SteppedChunk(self.compiled, self.seeds)(state, data, self.n)

    def as_text(self) -> str:
      return self.compiled.as_text()
