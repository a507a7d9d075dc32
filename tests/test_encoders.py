"""Image encoder: shapes, jit, gradients, the spatial-softmax and avg poolings, and the DrQ random shift."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gdacot.models.encoders import (ENCODERS, CNNEncoder, MLPEncoder, PatchNorm, ResNetEncoder, random_shift,
                                    spatial_softmax)

B, T, STATE, LATENT = 4, 2, 5, 8


def _obs(h=16, w=16, c=3, seed=0):
  ks, ki = jax.random.split(jax.random.PRNGKey(seed))
  return {"state": jax.random.normal(ks, (B, T, STATE)),
          "image": jax.random.randint(ki, (B, T, h, w, c), 0, 256).astype(jnp.uint8)}


def _enc(shape=(16, 16, 3), **kw):
  return CNNEncoder(STATE, shape, T, LATENT, 32, 2, rngs=nnx.Rngs(0), **kw)


def test_registry():
  assert ENCODERS == {"mlp": MLPEncoder, "cnn": CNNEncoder, "resnet": ResNetEncoder}


# Few distinct layer shapes: on a CPU each new kernel shape costs about a second to compile.
@pytest.mark.parametrize("pooling,channels,shape", [("spatial_softmax", (16, 32), (16, 16, 3)),
                                                    ("avg", (16, 32), (16, 16, 3)),
                                                    ("spatial_softmax", (16, 32, 32), (32, 32, 4))])
def test_jitted_forward_shape_and_features(pooling, channels, shape):
  enc = _enc(shape, pooling=pooling, channels=channels)
  feats = channels[-1] * (2 if pooling == "spatial_softmax" else 1)
  assert enc.net.dense_0.in_features == feats + T * STATE
  z = nnx.jit(lambda m, o: m(o))(enc, _obs(*shape))
  assert z.shape == (B, LATENT) and bool(jnp.all(jnp.isfinite(z)))


def test_gradients_reach_conv_kernels_and_temperature():
  enc = _enc()
  obs = _obs()
  grads = nnx.jit(nnx.grad(lambda m: jnp.sum(m(obs) ** 2)))(enc)
  for g in [grads.stem.conv.kernel, grads.block_0.a.conv.kernel, grads.down_1.conv.kernel,
            grads.block_1.b.conv.kernel, grads.log_temperature]:
    assert float(jnp.abs(g[...]).sum()) > 0


def test_bad_pooling_raises():
  with pytest.raises(ValueError, match="max.*avg.*spatial_softmax"):
    _enc(pooling="max")


def test_patch_stem_is_a_strided_convolution():
  # The patch stem is the convolution of kernel p, stride p, no padding, with the same weights
  # (reshaped), followed by the same GroupNorm.
  stem = PatchNorm(6, 8, 4, 4, rngs=nnx.Rngs(1))
  x = jax.random.normal(jax.random.PRNGKey(2), (3, 16, 24, 6))
  kernel = stem.proj.kernel[...].reshape(4, 4, 6, 8)  # rows ordered (dy, dx, c), as the patches
  conv = jax.lax.conv_general_dilated(x, kernel, (4, 4), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(stem(x), stem.norm(conv), atol=1e-5)


def test_patch_stem_encoder_trains_and_refuses_indivisible_images():
  enc = _enc((16, 32, 3), stem="patch", patch=4, channels=(16,))
  assert isinstance(enc.stem, PatchNorm)
  grads = nnx.grad(lambda m: (m(_obs(16, 32)) ** 2).mean())(enc)
  assert float(jnp.abs(grads.stem.proj.kernel[...]).sum()) > 0
  with pytest.raises(ValueError, match="divisible by patch=4"):
    _enc((18, 16, 3), stem="patch", patch=4)
  with pytest.raises(ValueError, match="unknown stem"):
    _enc(stem="fft")


def test_spatial_softmax_finds_a_peak():
  h, w = 8, 12
  peaks = [(0, 0), (7, 11), (3, 5)]  # (row, col) per channel
  feats = np.zeros((1, h, w, len(peaks)), np.float32)
  for ch, (r, c) in enumerate(peaks):
    feats[0, r, c, ch] = 10.0
  out = np.asarray(spatial_softmax(jnp.asarray(feats), 0.1))
  assert out.shape == (1, 2 * len(peaks))
  xs = np.linspace(-1, 1, w)
  ys = np.linspace(-1, 1, h)
  np.testing.assert_allclose(out[0, :3], [xs[c] for _, c in peaks], atol=1e-3)
  np.testing.assert_allclose(out[0, 3:], [ys[r] for r, _ in peaks], atol=1e-3)
  # A flat map has its expectation at the centre.
  np.testing.assert_allclose(spatial_softmax(jnp.zeros((2, h, w, 3)), 1.0), 0.0, atol=1e-6)


def _images(seed=0, h=10, w=9, c=3):
  return jax.random.randint(jax.random.PRNGKey(seed), (B, T, h, w, c), 0, 256).astype(jnp.uint8)


def test_random_shift_identity_dtype_shape():
  imgs = _images()
  assert random_shift(imgs, jax.random.PRNGKey(0), 0) is imgs
  out = jax.jit(random_shift, static_argnums=2)(imgs, jax.random.PRNGKey(0), 3)
  assert out.dtype == jnp.uint8 and out.shape == imgs.shape


def test_random_shift_same_shift_for_all_frames():
  frame = _images()[:, :1]
  imgs = jnp.repeat(frame, 3, axis=1)
  out = np.asarray(random_shift(imgs, jax.random.PRNGKey(1), 4))
  for t in range(1, 3):
    np.testing.assert_array_equal(out[:, t], out[:, 0])


def test_random_shift_keys_differ():
  imgs = _images()
  a, b = (random_shift(imgs, jax.random.PRNGKey(k), 4) for k in (0, 1))
  assert not np.array_equal(a, b)


def test_random_shift_is_a_crop_of_the_replicate_padded_input():
  pad, imgs = 2, np.asarray(_images())
  h, w = imgs.shape[2:4]
  out = np.asarray(random_shift(jnp.asarray(imgs), jax.random.PRNGKey(3), pad))
  padded = np.pad(imgs, ((0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
  for i in range(B):
    hits = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
            if np.array_equal(out[i], padded[i, :, dy:dy + h, dx:dx + w])]
    assert hits, f"sample {i} is no crop of the padded input"
