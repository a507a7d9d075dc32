"""Policy heads: the generative heads fit a bimodal target the MLP head averages, classifier-free
guidance, the samplers' arithmetic, kwarg validation, and jit / vmap / split-merge."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from gdacot.models.heads import HEADS, DiffusionHead, FlowHead, MLPHead, cosine_alphas_cumprod, ddim_timesteps

COND, CHUNK, ACT = 6, 4, 3


def _head(name, seed=0, cond=COND, chunk=CHUNK, act=ACT, hidden=32, depth=2, **kw):
  return HEADS[name](cond, chunk, act, hidden, depth, rngs=nnx.Rngs(seed), **kw)


def _inputs(n=5, seed=0):
  kz, ku, ka = jax.random.split(jax.random.PRNGKey(seed), 3)
  z = jax.random.normal(kz, (n, COND))
  z_uncond = z.at[:, -2:].set(0.0)  # "domain label dropped"
  actions = jax.random.uniform(ka, (n, CHUNK, ACT), minval=-1.0, maxval=1.0)
  return z, z_uncond, actions


def test_heads_registry():
  assert HEADS == {"mlp": MLPHead, "diffusion": DiffusionHead, "flow": FlowHead}


# --- the bimodal toy: 1-D actions at +-0.8 under a constant conditioning -------------------------

def _fit_bimodal(name, seed, steps=1000, batch=256, lr=3e-3):
  head = HEADS[name](4, 1, 1, 64, 2, rngs=nnx.Rngs(seed))
  graphdef, params = nnx.split(head, nnx.Param)
  params = nnx.to_pure_dict(params)
  tx = optax.adam(lr)
  z = jnp.zeros((batch, 4))

  def loss_fn(p, key):
    k_mode, k_jitter, k_head = jax.random.split(key, 3)
    mode = jnp.where(jax.random.bernoulli(k_mode, 0.5, (batch, 1, 1)), 0.8, -0.8)
    actions = mode + 0.02 * jax.random.normal(k_jitter, mode.shape)
    return nnx.merge(graphdef, p).loss(z, actions, k_head).mean()

  @jax.jit
  def train(params, key):
    def step(carry, k):
      p, opt = carry
      grads = jax.grad(loss_fn)(p, k)
      updates, opt = tx.update(grads, opt, p)
      return (optax.apply_updates(p, updates), opt), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
    return params

  params = train(params, jax.random.PRNGKey(100 + seed))
  sample = jax.jit(lambda p, k: nnx.merge(graphdef, p).sample(jnp.zeros((512, 4)), k))
  a = np.asarray(sample(params, jax.random.PRNGKey(7 + seed)))
  assert a.shape == (512, 1, 1)
  return a.ravel()


@pytest.mark.parametrize("name", ["diffusion", "flow"])
def test_generative_heads_recover_both_modes(name):
  a = _fit_bimodal(name, seed=0)
  pos, neg, mid = np.mean(np.abs(a - 0.8) < 0.2), np.mean(np.abs(a + 0.8) < 0.2), np.mean(np.abs(a) < 0.3)
  # Measured over seeds 0-5: diffusion 0.40-0.54 per mode, flow 0.43-0.51; <= 5% in the middle.
  assert 0.3 < pos < 0.7 and 0.3 < neg < 0.7, (pos, neg)
  assert pos + neg > 0.8, (pos, neg)
  assert mid < 0.1, mid


def test_mlp_head_averages_the_modes():
  """The contrast that makes the test above meaningful: regression collapses to the mean."""
  a = _fit_bimodal("mlp", seed=0, steps=300)
  assert np.all(np.abs(a) < 0.3), a[:5]


# --- classifier-free guidance ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "diffusion", "flow"])
def test_zero_guidance_is_exactly_the_conditional_model(name):
  head = _head(name)
  z, z_uncond, _ = _inputs()
  key = jax.random.PRNGKey(3)
  # Compiled, with guidance a traced scalar, as in the rollouts.
  graphdef, params = nnx.split(head, nnx.Param)
  plain = jax.jit(lambda p, z, k: nnx.merge(graphdef, p).sample(z, k))
  guided = jax.jit(lambda p, z, zu, k, g: nnx.merge(graphdef, p).sample(z, k, zu, g))
  cond = plain(params, z, key)
  assert cond.shape == (5, CHUNK, ACT)
  assert float(jnp.max(jnp.abs(cond))) <= 1.0
  np.testing.assert_array_equal(guided(params, z, z_uncond, key, jnp.float32(0.0)), cond)
  # Guidance with z_uncond == z is the conditional model too (up to rounding).
  np.testing.assert_allclose(guided(params, z, z, key, jnp.float32(-0.5)), cond, atol=1e-5)
  # Non-zero guidance with a different z_uncond changes the result.
  for g in (-0.5, 1.0):
    assert float(jnp.max(jnp.abs(guided(params, z, z_uncond, key, jnp.float32(g)) - cond))) > 1e-4
  if name == "mlp":
    g = 0.3
    expected = jnp.clip((1 + g) * head.predict(z) - g * head.predict(z_uncond), -1.0, 1.0)
    np.testing.assert_allclose(guided(params, z, z_uncond, key, jnp.float32(g)), expected, atol=1e-6)


def test_zero_guidance_is_exact_outside_jit_too():
  head = _head("flow", hidden=16)
  z, z_uncond, _ = _inputs()
  key = jax.random.PRNGKey(3)
  np.testing.assert_array_equal(head.sample(z, key, z_uncond, 0.0), head.sample(z, key))


def test_guidance_rejects_mismatched_uncond_shape():
  z, z_uncond, _ = _inputs()
  with pytest.raises(ValueError, match="z_uncond"):
    _head("flow").sample(z, jax.random.PRNGKey(0), z_uncond[:, :-1], 1.0)


# --- the samplers' arithmetic, with oracle networks ---------------------------------------------

class _Oracle(nnx.Module):
  """The exact network for data that is always `target`: fn(x, t) -> eps or velocity."""

  def __init__(self, fn):
    self.fn = fn

  def __call__(self, x, t, z):
    return self.fn(x, t[:, None, None])


@pytest.mark.parametrize("train_steps,sample_steps", [(100, 10), (100, 100), (20, 3), (7, 1)])
def test_ddim_with_exact_noise_prediction_recovers_the_data(train_steps, sample_steps):
  target = jnp.linspace(-0.9, 0.9, CHUNK * ACT).reshape(1, CHUNK, ACT)
  head = _head("diffusion", train_steps=train_steps, sample_steps=sample_steps)
  ac = jnp.asarray(cosine_alphas_cumprod(train_steps), jnp.float32)

  def eps(x, t):  # t = (k + 1) / T
    a = ac[jnp.round(t * train_steps).astype(jnp.int32) - 1]
    return (x - jnp.sqrt(a) * target) / jnp.sqrt(1.0 - a)

  head.denoiser = _Oracle(eps)
  out = head.sample(jnp.zeros((4, COND)), jax.random.PRNGKey(0))
  np.testing.assert_allclose(out, jnp.broadcast_to(target, out.shape), atol=1e-4)


def test_flow_euler_with_exact_velocity_recovers_the_data():
  target = jnp.linspace(-0.9, 0.9, CHUNK * ACT).reshape(1, CHUNK, ACT)
  head = _head("flow", sample_steps=7)
  head.velocity = _Oracle(lambda x, t: (target - x) / (1.0 - t))  # straight paths: Euler is exact
  out = head.sample(jnp.zeros((4, COND)), jax.random.PRNGKey(0))
  np.testing.assert_allclose(out, jnp.broadcast_to(target, out.shape), atol=1e-4)


def test_cosine_schedule_and_ddim_steps():
  ac = cosine_alphas_cumprod(100)
  assert ac.shape == (100,) and np.all(np.diff(ac) < 0)
  assert 0.999 < ac[0] < 1.0 and ac[-1] < 1e-5
  f = lambda u: np.cos((u + 0.008) / 1.008 * np.pi / 2) ** 2
  np.testing.assert_allclose(ac[49], f(0.5) / f(0.0), rtol=1e-6)  # before the 0.999 cap bites
  np.testing.assert_array_equal(ddim_timesteps(100, 10), np.arange(90, -1, -10))
  np.testing.assert_array_equal(ddim_timesteps(100, 100), np.arange(99, -1, -1))
  steps = ddim_timesteps(100, 3)
  assert len(steps) == 3 and steps[-1] == 0 and np.all(np.diff(steps) < 0)


# --- kwargs --------------------------------------------------------------------------------------

def test_diffusion_sample_steps_equal_to_train_steps():
  head = _head("diffusion", train_steps=12, sample_steps=12)
  z, z_uncond, _ = _inputs()
  out = head.sample(z, jax.random.PRNGKey(0), z_uncond, 0.5)
  assert out.shape == (5, CHUNK, ACT) and bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("name,kwargs,match", [
    ("diffusion", dict(sample_steps=0), "sample_steps"),
    ("diffusion", dict(train_steps=10, sample_steps=11), "sample_steps"),
    ("diffusion", dict(sample_steps=101), "sample_steps"),
    ("diffusion", dict(train_steps=0), "train_steps"),
    ("diffusion", dict(sample_steps=2.5), "sample_steps"),
    ("diffusion", dict(sample_steps=True), "sample_steps"),
    ("diffusion", dict(time_dim=7), "time_dim"),
    ("flow", dict(sample_steps=0), "sample_steps"),
    ("flow", dict(sample_steps="10"), "sample_steps"),
])
def test_bad_kwargs_raise(name, kwargs, match):
  with pytest.raises(ValueError, match=match):
    _head(name, **kwargs)


def test_kwargs_from_a_config_dict():
  """The way make_policy passes them: HEADS[name](..., **dict(model_cfg.get(name, {})))."""
  import ml_collections
  cfg = ml_collections.ConfigDict(dict(diffusion=dict(train_steps=50, sample_steps=5),
                                       flow=dict(sample_steps=4)))
  d = _head("diffusion", **dict(cfg.get("diffusion", {})))
  f = _head("flow", **dict(cfg.get("flow", {})))
  m = _head("mlp", **dict(cfg.get("mlp", {})))
  assert (d.train_steps, d.sample_steps, f.sample_steps) == (50, 5, 4)
  assert isinstance(m, MLPHead)


# --- jit, vmap, split / merge --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "diffusion", "flow"])
def test_loss_and_grads_through_split_merge_in_jit(name):
  head = _head(name)
  graphdef, params, rest = nnx.split(head, nnx.Param, ...)
  assert not jax.tree.leaves(rest)  # no state besides the parameters
  params = nnx.to_pure_dict(params)
  assert all(isinstance(k, str) for path, _ in nnx.traversals.flatten_mapping(params).items() for k in path)
  z, _, actions = _inputs()

  @jax.jit
  def loss_and_grad(params, key):
    f = lambda p: nnx.merge(graphdef, p).loss(z, actions, key)
    per_sample = f(params)
    return per_sample, jax.grad(lambda p: f(p).mean())(params)

  per_sample, grads = loss_and_grad(params, jax.random.PRNGKey(1))
  assert per_sample.shape == (5,) and bool(jnp.all(jnp.isfinite(per_sample)))
  assert bool(jnp.all(per_sample >= 0))
  assert sum(float(jnp.sum(g ** 2)) for g in jax.tree.leaves(grads)) > 0
  # The loss is random only through the key.
  np.testing.assert_array_equal(loss_and_grad(params, jax.random.PRNGKey(1))[0], per_sample)
  if name != "mlp":
    assert float(jnp.max(jnp.abs(loss_and_grad(params, jax.random.PRNGKey(2))[0] - per_sample))) > 0


@pytest.mark.parametrize("name", ["mlp", "diffusion", "flow"])
def test_sample_under_jit_and_vmap_one_per_episode(name):
  """As the rollouts do: vmap over episodes, each calling sample with n = 1, guidance traced."""
  head = _head(name)
  graphdef, params = nnx.split(head, nnx.Param)
  params = nnx.to_pure_dict(params)
  z, z_uncond, _ = _inputs(n=3)
  keys = jax.random.split(jax.random.PRNGKey(4), 3)

  @jax.jit
  def rollout(params, z, z_uncond, keys, g):
    def episode(z1, zu1, k):
      return nnx.merge(graphdef, params).sample(z1[None], k, zu1[None], g)[0]
    return jax.vmap(episode)(z, z_uncond, keys)

  single = jax.jit(lambda params, z1, zu1, k, g: nnx.merge(graphdef, params).sample(z1, k, zu1, g))
  out = rollout(params, z, z_uncond, keys, jnp.float32(-0.5))
  assert out.shape == (3, CHUNK, ACT)
  for i in range(3):
    one = single(params, z[i:i + 1], z_uncond[i:i + 1], keys[i], jnp.float32(-0.5))[0]
    np.testing.assert_allclose(out[i], one, atol=1e-5)
