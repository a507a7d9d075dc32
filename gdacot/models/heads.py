"""Policy heads: map the conditioning vector z to an action chunk.

Every head is built as `Head(cond_dim, chunk, action_size, hidden, depth, *, rngs, **head_kwargs)`,
where `cond_dim` is the size of z (encoder features, possibly with a domain label appended by the
policy), and has the same two methods, so the trainer and the rollouts never ask which head they
hold:
  loss(z, actions, key) -> per-sample loss (n,)
  sample(z, key, z_uncond=None, guidance=0.0) -> actions (n, chunk, action_size), in [-1, 1]

Classifier-free guidance (paper B): when `z_uncond` (same shape as z: the conditioning with the
domain label dropped) is given, every network evaluation f(x, t, z) used for sampling is replaced by
`(1 + guidance) * f(x, t, z) - guidance * f(x, t, z_uncond)`. With guidance 0 this is exactly the
conditional model. `guidance` may be a traced scalar; nothing branches on its value.

Heads:
  "mlp":       deterministic regression of the chunk (MSE). Fast; averages multimodal actions.
  "diffusion": DDPM, epsilon prediction, cosine noise schedule (Nichol & Dhariwal 2021) with
               `train_steps` steps; sampled with deterministic DDIM (eta = 0) in `sample_steps`
               evenly spaced steps ending at step 0, the predicted x0 clipped to [-1, 1] each step.
  "flow":      conditional flow matching / rectified flow, x_t = (1 - t) noise + t action, sampled
               by Euler integration from t = 0 to 1 in `sample_steps` steps.
The generative heads draw training noise from `key` in `loss` and the initial noise from `key` in
`sample`. All heads hold only nnx.Param state plus static Python ints (the noise schedule is a
constant computed from `train_steps` at trace time), so `nnx.split(head, nnx.Param)` /
`nnx.merge` work inside jit, and sampling is a `lax.scan`, usable under jit and vmap.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gdacot.models.encoders import MLP


def _guided(f, z: jax.Array, z_uncond: jax.Array | None, guidance) -> jax.Array:
  """f(z), or the classifier-free guided `(1 + g) f(z) - g f(z_uncond)` when z_uncond is given."""
  out = f(z)
  if z_uncond is None:
    return out
  if z_uncond.shape != z.shape:
    raise ValueError(f"z_uncond must have the shape of z {z.shape}, got {z_uncond.shape}")
  return (1.0 + guidance) * out - guidance * f(z_uncond)


def _check_int(name: str, value, low: int, high: int | None = None, high_name: str = "") -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an integer, got {value!r}")
  value = int(value)
  if value < low or (high is not None and value > high):
    bound = f"[{low}, {high_name or high}]" if high is not None else f">= {low}"
    raise ValueError(f"{name} must be {'in ' if high is not None else ''}{bound}, got {value}")
  return value


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
  """Sinusoidal embedding (n, dim) of times t (n,) in [0, 1] (scaled to [0, 1000] as DDPM steps)."""
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
  args = (1000.0 * t.astype(jnp.float32))[:, None] * freqs[None]
  return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


@functools.lru_cache(maxsize=None)
def cosine_alphas_cumprod(train_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
  """alpha_bar_k, k = 0 .. train_steps - 1, of the cosine schedule (Nichol & Dhariwal 2021):
  f(u) = cos((u + s) / (1 + s) * pi / 2)^2, beta_k = min(1 - f((k + 1) / T) / f(k / T), max_beta),
  alpha_bar_k = prod_{j <= k} (1 - beta_j) (diffusers' "squaredcos_cap_v2"). float64 numpy, cached;
  read-only so the cached value cannot be changed by a caller."""
  f = lambda u: np.cos((u + s) / (1 + s) * np.pi / 2) ** 2
  k = np.arange(train_steps, dtype=np.float64)
  betas = np.minimum(1.0 - f((k + 1) / train_steps) / f(k / train_steps), max_beta)
  out = np.cumprod(1.0 - betas)
  out.setflags(write=False)
  return out


def ddim_timesteps(train_steps: int, sample_steps: int) -> np.ndarray:
  """The `sample_steps` evenly spaced training steps DDIM visits, descending: floor(i * T / S) for
  i = S - 1 .. 0, ending at step 0 (T=100, S=10: 90, 80, ..., 0). This is diffusers' default
  "leading" spacing, which Diffusion Policy's DDIM used; with S == T it is every step. The
  "trailing" spacing that starts at step T - 1 is worse here: the capped cosine schedule has
  alpha_bar_{T-1} ~ 2e-7, so the first predicted x0 amplifies the model's error ~2000x and the
  clip turns it into a +-1 bias (it unbalanced a bimodal toy target, 36/58% instead of 47/47%)."""
  i = np.arange(sample_steps)
  return (i * train_steps // sample_steps)[::-1]


class Denoiser(nnx.Module):
  """MLP f(x_t, t, z) -> (n, chunk, action_size) on [flattened x_t, z, sinusoidal embedding of t],
  width `hidden`, `depth` hidden layers, GELU."""

  def __init__(self, cond_dim: int, chunk: int, action_size: int, hidden: int, depth: int, time_dim: int,
               *, rngs):
    self.chunk, self.action_size, self.time_dim = chunk, action_size, time_dim
    flat = chunk * action_size
    self.net = MLP([flat + cond_dim + time_dim] + [hidden] * depth + [flat], rngs=rngs)

  def __call__(self, x: jax.Array, t: jax.Array, z: jax.Array) -> jax.Array:
    n = x.shape[0]
    h = jnp.concatenate([x.reshape(n, -1), z, timestep_embedding(t, self.time_dim)], axis=-1)
    return self.net(h).reshape(n, self.chunk, self.action_size)


class MLPHead(nnx.Module):
  """Deterministic regression of the whole chunk (mean squared error). The fast option."""

  def __init__(self, cond_dim: int, chunk: int, action_size: int, hidden: int, depth: int, *, rngs):
    self.chunk, self.action_size = chunk, action_size
    self.net = MLP([cond_dim] + [hidden] * depth + [chunk * action_size], rngs=rngs)

  def predict(self, z: jax.Array) -> jax.Array:
    return self.net(z).reshape(z.shape[0], self.chunk, self.action_size)

  def loss(self, z: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    del key
    return jnp.mean((self.predict(z) - actions) ** 2, axis=(1, 2))

  def sample(self, z: jax.Array, key: jax.Array, z_uncond: jax.Array | None = None,
             guidance: jax.Array | float = 0.0) -> jax.Array:
    del key
    return jnp.clip(_guided(self.predict, z, z_uncond, guidance), -1.0, 1.0)


class DiffusionHead(nnx.Module):
  """DDPM with epsilon prediction and the cosine schedule (`train_steps` steps, default 100, as in
  paper A's Diffusion Policy); deterministic DDIM sampling (eta = 0) in `sample_steps` (default 10)
  evenly spaced steps (`ddim_timesteps`: 90, 80, ..., 0 for 100 / 10), clipping the predicted x0 to
  [-1, 1] each step as Diffusion Policy's clip_sample does; the model's epsilon is kept for the
  update and the step after step 0 goes to alpha_bar = 1 (diffusers' DDIMScheduler with
  clip_sample=True, set_alpha_to_one=True). Sampling starts from N(0, I) at the first visited step.
  Network input time: (k + 1) / train_steps for step k."""

  def __init__(self, cond_dim: int, chunk: int, action_size: int, hidden: int, depth: int, *, rngs,
               train_steps: int = 100, sample_steps: int = 10, time_dim: int = 32):
    self.train_steps = _check_int("diffusion train_steps", train_steps, 1)
    self.sample_steps = _check_int("diffusion sample_steps", sample_steps, 1, self.train_steps,
                                   f"train_steps={self.train_steps}")
    time_dim = _check_int("diffusion time_dim", time_dim, 2)
    if time_dim % 2:
      raise ValueError(f"diffusion time_dim must be even, got {time_dim}")
    self.chunk, self.action_size = chunk, action_size
    self.denoiser = Denoiser(cond_dim, chunk, action_size, hidden, depth, time_dim, rngs=rngs)

  def _time(self, k: jax.Array) -> jax.Array:
    # Step k has noise level alpha_bar((k + 1) / T) of the continuous schedule.
    return (k.astype(jnp.float32) + 1.0) / self.train_steps

  def loss(self, z: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    n = actions.shape[0]
    k_t, k_eps = jax.random.split(key)
    k = jax.random.randint(k_t, (n,), 0, self.train_steps)
    ab = jnp.asarray(cosine_alphas_cumprod(self.train_steps), jnp.float32)[k][:, None, None]
    eps = jax.random.normal(k_eps, actions.shape, actions.dtype)
    x = jnp.sqrt(ab) * actions + jnp.sqrt(1.0 - ab) * eps
    return jnp.mean((self.denoiser(x, self._time(k), z) - eps) ** 2, axis=(1, 2))

  def sample(self, z: jax.Array, key: jax.Array, z_uncond: jax.Array | None = None,
             guidance: jax.Array | float = 0.0) -> jax.Array:
    n = z.shape[0]
    ac = cosine_alphas_cumprod(self.train_steps)
    ts = ddim_timesteps(self.train_steps, self.sample_steps)
    a_t = ac[ts]
    a_prev = np.concatenate([ac[ts[1:]], [1.0]])  # after the last step: the clean sample
    xs = (jnp.asarray(ts, jnp.int32), jnp.asarray(a_t, jnp.float32), jnp.asarray(a_prev, jnp.float32))

    def step(x, inp):
      k, a, a_p = inp
      t = jnp.full((n,), self._time(k))
      eps = _guided(lambda c: self.denoiser(x, t, c), z, z_uncond, guidance)
      x0 = jnp.clip((x - jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(a), -1.0, 1.0)
      return jnp.sqrt(a_p) * x0 + jnp.sqrt(1.0 - a_p) * eps, None

    x = jax.random.normal(key, (n, self.chunk, self.action_size), z.dtype)
    x, _ = jax.lax.scan(step, x, xs)
    return jnp.clip(x, -1.0, 1.0)


class FlowHead(nnx.Module):
  """Conditional flow matching / rectified flow: x_t = (1 - t) x0 + t x1 with x0 ~ N(0, I) noise
  and x1 the action chunk, t ~ U(0, 1), regressing the velocity x1 - x0 (per-sample MSE); sampled by
  Euler integration from noise at t = 0 to t = 1 in `sample_steps` (default 10) steps."""

  def __init__(self, cond_dim: int, chunk: int, action_size: int, hidden: int, depth: int, *, rngs,
               sample_steps: int = 10, time_dim: int = 32):
    self.sample_steps = _check_int("flow sample_steps", sample_steps, 1)
    time_dim = _check_int("flow time_dim", time_dim, 2)
    if time_dim % 2:
      raise ValueError(f"flow time_dim must be even, got {time_dim}")
    self.chunk, self.action_size = chunk, action_size
    self.velocity = Denoiser(cond_dim, chunk, action_size, hidden, depth, time_dim, rngs=rngs)

  def loss(self, z: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    n = actions.shape[0]
    k_t, k_noise = jax.random.split(key)
    t = jax.random.uniform(k_t, (n,), actions.dtype)
    x0 = jax.random.normal(k_noise, actions.shape, actions.dtype)
    tt = t[:, None, None]
    x = (1.0 - tt) * x0 + tt * actions
    return jnp.mean((self.velocity(x, t, z) - (actions - x0)) ** 2, axis=(1, 2))

  def sample(self, z: jax.Array, key: jax.Array, z_uncond: jax.Array | None = None,
             guidance: jax.Array | float = 0.0) -> jax.Array:
    n = z.shape[0]
    dt = 1.0 / self.sample_steps

    def step(x, i):
      t = jnp.full((n,), i.astype(jnp.float32) * dt)
      v = _guided(lambda c: self.velocity(x, t, c), z, z_uncond, guidance)
      return x + dt * v, None

    x = jax.random.normal(key, (n, self.chunk, self.action_size), z.dtype)
    x, _ = jax.lax.scan(step, x, jnp.arange(self.sample_steps))
    return jnp.clip(x, -1.0, 1.0)


HEADS = {"mlp": MLPHead, "diffusion": DiffusionHead, "flow": FlowHead}
