"""The `paper` config variant (issue 32, item 7): paper A's sizes, the ResNet encoder it brings,
and its `smoke` size, which trains here in seconds."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from runs import cotrain

from gdacot.data import Demos
from gdacot.models.encoders import ENCODERS, ResNetEncoder
from gdacot.train import build, get_config
from gdacot.train.config import ConfigError, validate_config

B, T, STATE, LATENT = 3, 2, 5, 8


def _obs(h, w, seed=0):
  ks, ki = jax.random.split(jax.random.PRNGKey(seed))
  return {"state": jax.random.normal(ks, (B, T, STATE)),
          "image": jax.random.randint(ki, (B, T, h, w, 3), 0, 256).astype(jnp.uint8)}


def test_resnet_encodes_each_view_with_its_own_trunk():
  enc = ENCODERS["resnet"](STATE, (16, 32, 3), T, LATENT, 32, 1, views=2, channels=(8, 16), blocks=(2, 1),
                           rngs=nnx.Rngs(0))
  assert isinstance(enc, ResNetEncoder) and enc.views == 2
  # Every view's and frame's spatial-softmax features (2 x the last width), then the state.
  assert enc.net.dense_0.in_features == 2 * T * 2 * 16 + T * STATE
  # Stage 2 halves the resolution and widens: its first block's skip is a strided 1x1 conv.
  assert enc.view_0.block_1.skip is None and enc.view_0.block_2.skip.conv.strides == 2
  obs = _obs(16, 32)
  z = nnx.jit(lambda m, o: m(o))(enc, obs)
  assert z.shape == (B, LATENT) and bool(jnp.all(jnp.isfinite(z)))
  # Per view: the left half of the image reaches view_0's trunk only, the right half view_1's.
  x = (obs["image"].astype(jnp.float32) / 255.0 - 0.5).reshape(B * T, 16, 32, 3)
  changed = obs["image"].at[..., 16:, :].set(255 - obs["image"][..., 16:, :])
  x2 = (changed.astype(jnp.float32) / 255.0 - 0.5).reshape(B * T, 16, 32, 3)
  np.testing.assert_array_equal(enc.view_0(x[:, :, :16]), enc.view_0(x2[:, :, :16]))
  assert not np.allclose(enc.view_1(x[:, :, 16:]), enc.view_1(x2[:, :, 16:]))
  assert not np.allclose(z, enc({"state": obs["state"], "image": changed}))


def test_resnet_refuses_what_it_cannot_build():
  with pytest.raises(ValueError, match="one entry per stage"):
    ResNetEncoder(STATE, (16, 16, 3), T, LATENT, 32, 1, channels=(8, 16), blocks=(1,), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="does not split into 3 views"):
    ResNetEncoder(STATE, (16, 32, 3), T, LATENT, 32, 1, views=3, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="needs image observations"):
    ResNetEncoder(STATE, None, T, LATENT, 32, 1, rngs=nnx.Rngs(0))


def test_paper_holds_paper_a_settings_and_validates():
  cfg = get_config("paper")
  validate_config(cfg)
  assert (cfg.task, cfg.observation, cfg.gap, cfg.render.height, cfg.render.width) == ("lift", "image", "visual", 64, 64)
  assert (cfg.model.encoder, cfg.model.resnet.channels, cfg.model.resnet.blocks) == ("resnet", (64, 128, 256, 512),
                                                                                    (2, 2, 2, 2))
  assert (cfg.model.head, cfg.model.diffusion.train_steps, cfg.model.diffusion.sample_steps) == ("diffusion", 100, 100)
  assert (cfg.obs_horizon, cfg.chunk, cfg.execute) == (2, 16, 8)
  assert (cfg.w, cfg.data.num_sim_demos, cfg.data.num_real_demos, cfg.optim.learning_rate) == (0.1, 1000, 10, 1e-4)
  assert cfg.steps >= 100_000
  # A task variant picks another arm; the gap variants still compose.
  assert get_config("paper,stack").task == "stack" and get_config("paper,visual_physics").gap == "visual_physics"
  cfg.model.resnet.blocks = (2, 2)
  with pytest.raises(ConfigError, match="model.resnet: channels and blocks need one entry per stage"):
    validate_config(cfg)
  cfg.model.resnet.channels = ()
  with pytest.raises(ConfigError, match="model.resnet.channels must be a non-empty tuple"):
    validate_config(cfg)


def _image_demos(seed, episodes=4, horizon=20):
  rng = np.random.default_rng(seed)
  return Demos(obs={"state": jnp.asarray(rng.normal(size=(episodes, horizon, 11)), jnp.float32),
                    "image": jnp.asarray(rng.integers(0, 256, (episodes, horizon, 16, 32, 3)), jnp.uint8)},
               actions=jnp.asarray(rng.uniform(-1, 1, (episodes, horizon, 4)), jnp.float32),
               lengths=jnp.full((episodes,), horizon, jnp.int32))


def test_paper_smoke_trains_a_few_steps():
  """The train step `gdacot.train.train` runs, built as it builds it, on synthetic front + wrist
  images (generating the arm's image demos and rolling it out in MJX costs minutes on a CPU)."""
  cfg = get_config("paper,smoke")
  validate_config(cfg)
  assert (cfg.render.height, cfg.model.resnet.channels, cfg.model.encoder, cfg.chunk) == (16, (8, 16), "resnet", 16)
  cfg.align.pairing = "random"  # synthetic demos: no DTW
  cfg.batch_size, cfg.align.batch_size = 16, 8
  run = build(cfg, None, demos={"sim": _image_demos(0), "real": _image_demos(1)}, log=lambda line: None)
  assert tuple(run.spec["image_shape"]) == (16, 32, 3)
  policy = nnx.merge(run.graphdef, run.state.params)
  assert policy.encoder.views == 2  # front and wrist, each its own ResNet
  before = jax.tree.map(np.asarray, run.state.params)  # the chunk donates the state's buffers
  state, losses = run.state, []
  for _ in range(3):
    state, metrics = run.chunk_fn(state, run.data, 1)
    losses.append(float(metrics["loss"]))
  assert int(state.step) == 3 and all(np.isfinite(losses)) and float(metrics["ot_mass"]) > 0
  moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()), state.params, before)
  assert max(jax.tree.leaves(moved["encoder"]["view_1"])) > 0  # the wrist trunk trains


def test_print_config_of_paper():
  proc = cotrain("--config=experiments/configs/cotrain.py:paper", "--print_config")
  assert proc.returncode == 0, proc.stderr[-2000:]
  printed = json.loads(proc.stdout)
  assert printed["model"]["encoder"] == "resnet" and printed["render"]["height"] == 64
  assert printed["steps"] == get_config("paper").steps
