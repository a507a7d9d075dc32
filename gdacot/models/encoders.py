"""Observation encoders: map an observation history to the latent z that alignment acts on."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
  """Linear layers with GELU between them (none after the last)."""

  def __init__(self, sizes: list[int], *, rngs: nnx.Rngs):
    # Named attributes (not a list) so checkpoints have readable string keys.
    self.num_layers = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
      setattr(self, f"dense_{i}", nnx.Linear(a, b, rngs=rngs))

  def __call__(self, x: jax.Array) -> jax.Array:
    for i in range(self.num_layers):
      x = getattr(self, f"dense_{i}")(x)
      if i < self.num_layers - 1:
        x = jax.nn.gelu(x)
    return x


class MLPEncoder(nnx.Module):
  """Flattens (obs_horizon, obs_size) state observations and maps them to a `latent_dim` feature vector."""

  def __init__(self, obs_size: int, image_shape, obs_horizon: int, latent_dim: int, hidden: int, depth: int, *,
               views: int = 1, rngs):
    del views  # no images
    if image_shape is not None:
      raise ValueError("the mlp encoder takes state vectors; image observations need model.encoder='cnn' or 'resnet'")
    self.net = MLP([obs_size * obs_horizon] + [hidden] * depth + [latent_dim], rngs=rngs)

  def __call__(self, obs: jax.Array) -> jax.Array:
    return self.net(obs.reshape(obs.shape[0], -1))


def spatial_softmax(features: jax.Array, temperature: jax.Array | float) -> jax.Array:
  """(B, H, W, C) -> (B, 2C): per channel, the expected (x, y) of softmax(features / temperature)
  over the H*W pixels, in [-1, 1] (pixel centres; x ascends with the column, y with the row).
  The first C features are x, the last C are y."""
  b, h, w, c = features.shape
  probs = jax.nn.softmax((features / temperature).reshape(b, h * w, c), axis=1).reshape(b, h, w, c)
  x = jnp.einsum("bhwc,w->bc", probs, jnp.linspace(-1.0, 1.0, w))
  y = jnp.einsum("bhwc,h->bc", probs, jnp.linspace(-1.0, 1.0, h))
  return jnp.concatenate([x, y], axis=-1)


def random_shift(images: jax.Array, key: jax.Array, pad: int) -> jax.Array:
  """DrQ augmentation of (B, T, H, W, C) image histories: replicate-pad by `pad` pixels and crop
  back to H x W at a random offset per sample, shared by its T frames (keeps inter-frame motion)."""
  if pad == 0:
    return images
  b, t, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
  offsets = jax.random.randint(key, (b, 2), 0, 2 * pad + 1)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (0, o[0], o[1], 0), (t, h, w, c))
  return jax.vmap(crop)(padded, offsets)


class ConvNorm(nnx.Module):
  """kernel x kernel conv (no bias: the GroupNorm after it has one) then GroupNorm."""

  def __init__(self, cin: int, cout: int, stride: int, groups: int, *, kernel: int = 3, rngs: nnx.Rngs):
    self.conv = nnx.Conv(cin, cout, (kernel, kernel), strides=stride, use_bias=False, rngs=rngs)
    # gcd, not min: GroupNorm needs the group count to divide the channels.
    self.norm = nnx.GroupNorm(cout, num_groups=math.gcd(groups, cout), rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.norm(self.conv(x))


class ResBlock(nnx.Module):
  """ResNet's basic block: two 3x3 ConvNorms around a skip connection. With `cout` or `stride`
  it changes width or halves the resolution, and the skip is a 1x1 ConvNorm to match (as
  ResNet-18's first block of each later stage)."""

  def __init__(self, channels: int, groups: int, *, cout: int | None = None, stride: int = 1, rngs: nnx.Rngs):
    cout = cout or channels
    self.a = ConvNorm(channels, cout, stride, groups, rngs=rngs)
    self.b = ConvNorm(cout, cout, 1, groups, rngs=rngs)
    self.skip = (ConvNorm(channels, cout, stride, groups, kernel=1, rngs=rngs)
                 if cout != channels or stride != 1 else None)

  def __call__(self, x: jax.Array) -> jax.Array:
    skip = x if self.skip is None else self.skip(x)
    return jax.nn.relu(skip + self.b(jax.nn.relu(self.a(x))))


class PatchNorm(nnx.Module):
  """Non-overlapping p x p patches, each mapped by one linear layer (no bias), then GroupNorm:
  a convolution of kernel p and stride p written as a reshape and a matmul, which XLA's CPU
  backend runs far faster than its convolutions (the ViT / ConvNeXt "patchify" stem)."""

  def __init__(self, cin: int, cout: int, patch: int, groups: int, *, rngs: nnx.Rngs):
    self.patch = patch
    self.proj = nnx.Linear(patch * patch * cin, cout, use_bias=False, rngs=rngs)
    self.norm = nnx.GroupNorm(cout, num_groups=math.gcd(groups, cout), rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    p = self.patch
    x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // p, w // p, p * p * c)
    return self.norm(self.proj(x))


POOLINGS = ("spatial_softmax", "avg")
STEMS = ("conv", "patch")


class CNNEncoder(nnx.Module):
  """Image + proprioception history -> `latent_dim`: a small ResNet on the frames, pooled, then an
  MLP on [pooled image features, flattened state]. obs = {"state": (B, T, state_size) float,
  "image": (B, T, H, W, C) uint8}.

  stem "conv": a 3x3 convolution of stride 2 (the ResNet-style stem); "patch": `patch` x `patch`
  patches through one matmul (PatchNorm), the image sides divisible by `patch`. Several camera
  views are seen as the one image they make side by side (`views` is not read)."""

  def __init__(self, state_size: int, image_shape: tuple[int, int, int], obs_horizon: int, latent_dim: int,
               hidden: int, depth: int, *, views: int = 1, channels: tuple[int, ...] = (16, 32), groups: int = 8,
               pooling: str = "spatial_softmax", stem: str = "conv", patch: int = 4, rngs: nnx.Rngs):
    if image_shape is None:
      raise ValueError("the cnn encoder needs image observations (observation='image')")
    if pooling not in POOLINGS:
      raise ValueError(f"unknown pooling {pooling!r}; known: {sorted(POOLINGS)}")
    if stem not in STEMS:
      raise ValueError(f"unknown stem {stem!r}; known: {sorted(STEMS)}")
    if stem == "patch" and (patch < 1 or image_shape[0] % patch or image_shape[1] % patch):
      raise ValueError(f"the patch stem needs image sides divisible by patch={patch}, got {image_shape[:2]}")
    self.pooling = pooling
    self.num_stages = len(channels)
    # The T frames are stacked on channels: one CNN pass per sample, much cheaper on a CPU than
    # encoding each frame separately, and the first conv sees the motion between frames.
    cin = obs_horizon * image_shape[2]
    self.stem = (ConvNorm(cin, channels[0], 2, groups, rngs=rngs) if stem == "conv"
                 else PatchNorm(cin, channels[0], patch, groups, rngs=rngs))
    for i, ch in enumerate(channels):
      if i:
        setattr(self, f"down_{i}", ConvNorm(channels[i - 1], ch, 2, groups, rngs=rngs))
      setattr(self, f"block_{i}", ResBlock(ch, groups, rngs=rngs))
    if pooling == "spatial_softmax":
      self.log_temperature = nnx.Param(jnp.zeros(()))
    feats = channels[-1] * (2 if pooling == "spatial_softmax" else 1)
    self.net = MLP([feats + obs_horizon * state_size] + [hidden] * depth + [latent_dim], rngs=rngs)

  def __call__(self, obs: dict) -> jax.Array:
    img = obs["image"]
    b, t, h, w, c = img.shape
    x = img.astype(jnp.float32) / 255.0 - 0.5
    x = jnp.moveaxis(x, 1, 3).reshape(b, h, w, t * c)
    x = jax.nn.relu(self.stem(x))
    for i in range(self.num_stages):
      if i:
        x = jax.nn.relu(getattr(self, f"down_{i}")(x))
      x = getattr(self, f"block_{i}")(x)
    if self.pooling == "spatial_softmax":
      pooled = spatial_softmax(x, jnp.exp(self.log_temperature[...]))
    else:
      pooled = x.mean(axis=(1, 2))
    state = obs["state"].reshape(b, -1)
    return self.net(jnp.concatenate([pooled, state.astype(pooled.dtype)], axis=-1))


class ResNetTrunk(nnx.Module):
  """One camera's ResNet: a 3x3 stride-2 stem, then per stage `blocks[i]` basic blocks of width
  `channels[i]`, every stage after the first starting at half the resolution; (B, H, W, C) ->
  (B, 2 * channels[-1]) by spatial softmax. ResNet-18 is channels (64, 128, 256, 512), blocks
  (2, 2, 2, 2); its 7x7 stem and max-pool are left out, which suit 224-pixel images, not 64."""

  def __init__(self, cin: int, channels: tuple[int, ...], blocks: tuple[int, ...], groups: int, *, rngs: nnx.Rngs):
    self.stem = ConvNorm(cin, channels[0], 2, groups, rngs=rngs)
    self.num_blocks = sum(blocks)
    width, i = channels[0], 0
    for stage, (ch, n) in enumerate(zip(channels, blocks)):
      for j in range(n):
        stride = 2 if stage and not j else 1
        setattr(self, f"block_{i}", ResBlock(width, groups, cout=ch, stride=stride, rngs=rngs))
        width, i = ch, i + 1
    # Spatial softmax, not ResNet's global average pool: Diffusion Policy (paper A's policy, and
    # robomimic before it) swaps the average pool for it, since keypoint positions are what a
    # manipulation policy needs and an average throws the positions away.
    self.log_temperature = nnx.Param(jnp.zeros(()))

  def __call__(self, x: jax.Array) -> jax.Array:
    x = jax.nn.relu(self.stem(x))
    for i in range(self.num_blocks):
      x = getattr(self, f"block_{i}")(x)
    return spatial_softmax(x, jnp.exp(self.log_temperature[...]))


class ResNetEncoder(nnx.Module):
  """Paper A's image encoder (Diffusion Policy's): a ResNet with GroupNorm per camera view, each
  frame of the history encoded on its own, then an MLP on [every view's and frame's features,
  flattened state]. obs as CNNEncoder's, the `views` cameras side by side in "image".

  GroupNorm, not BatchNorm: batch statistics differ between the sim and real halves of a batch
  and between devices of a sharded step, and Diffusion Policy uses GroupNorm for the same reason.
  Each view has its own weights (Diffusion Policy's default): a wrist camera sees another world
  than a front one. Frames share them, and are encoded apart rather than stacked on channels."""

  def __init__(self, state_size: int, image_shape: tuple[int, int, int], obs_horizon: int, latent_dim: int,
               hidden: int, depth: int, *, views: int = 1, channels: tuple[int, ...] = (64, 128, 256, 512),
               blocks: tuple[int, ...] = (2, 2, 2, 2), groups: int = 8, rngs: nnx.Rngs):
    if image_shape is None:
      raise ValueError("the resnet encoder needs image observations (observation='image')")
    channels, blocks = tuple(channels), tuple(blocks)
    if not channels or len(blocks) != len(channels):
      raise ValueError(f"channels and blocks need one entry per stage, got channels={channels}, blocks={blocks}")
    if min(channels) < 1 or min(blocks) < 1:
      raise ValueError(f"channels and blocks must be >= 1, got channels={channels}, blocks={blocks}")
    if views < 1 or image_shape[1] % views:
      raise ValueError(f"an image {image_shape[1]} pixels wide does not split into {views} views")
    self.views = views
    for v in range(views):
      setattr(self, f"view_{v}", ResNetTrunk(image_shape[2], channels, blocks, groups, rngs=rngs))
    feats = views * obs_horizon * 2 * channels[-1]
    self.net = MLP([feats + obs_horizon * state_size] + [hidden] * depth + [latent_dim], rngs=rngs)

  def __call__(self, obs: dict) -> jax.Array:
    img = obs["image"]
    b, t, h, w, c = img.shape
    x = (img.astype(jnp.float32) / 255.0 - 0.5).reshape(b * t, h, w, c)
    width = w // self.views
    pooled = [getattr(self, f"view_{v}")(x[:, :, v * width:(v + 1) * width]).reshape(b, -1)
              for v in range(self.views)]
    state = obs["state"].reshape(b, -1)
    return self.net(jnp.concatenate([*pooled, state.astype(pooled[0].dtype)], axis=-1))


ENCODERS = {"mlp": MLPEncoder, "cnn": CNNEncoder, "resnet": ResNetEncoder}
