"""Config of experiments.toy_spiral: paper B's toy model (R^3 -> R^2 spirals, a dz x w grid).

  python -m experiments.toy_spiral --workdir=/tmp/toy --config=experiments/configs/toy_spiral.py
  python -m experiments.toy_spiral --workdir=/tmp/toy_smoke --config=experiments/configs/toy_spiral.py:smoke
  python -m experiments.toy_spiral --workdir=/tmp/toy_v1 --config=experiments/configs/toy_spiral.py:rotated_third

The default is paper B's toy as the issue tracker reads it (issue 32, item 6): the target spiral a
shifted copy of the source one, the few target samples scattered over the whole spiral, inputs
normalised. The variant `rotated_third` is the first version of this experiment (a 45-degree
rotated copy, target samples on the first third only, raw inputs); it is the same as the flags
  --config.spiral.r_max=0.9 --config.rotation_deg=45 --config.shift="(0.0,0.0)"
  --config.target_layout=contiguous --config.normalize_inputs=False
"""

import ml_collections

from gdacot import cli_common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()

  # The grid (paper B's values). Every (dz, w, seed) cell trains its own model.
  c.dz = (0.01, 0.1, 0.5, 1.0, 3.0, 5.0, 10.0, 20.0, 50.0)  # separation of the two input planes
  c.w = (0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)  # target share of the BC loss, in (0, 1)
  c.num_seeds = 3  # seeds 0 .. num_seeds - 1; a seed fixes the data, the init and the noise of all its cells

  # Data: spiral point t in [0, 1] -> input u(t) on an arc of the plane z = 0 (source) or z = dz
  # (target); output the source spiral y(t), or its copy scale * R(rotation) y(t) + shift for the target.
  c.num_source = 3000
  c.num_target = 30
  # "scattered": one target sample in each of num_target equal slices of t in [0, 1] (the whole
  # spiral, sparsely); "contiguous": t ~ U(0, target_cover), one stretch of the spiral.
  c.target_layout = "scattered"
  c.target_cover = 1.0 / 3.0  # used by the contiguous layout only
  c.spiral = ml_collections.ConfigDict()
  c.spiral.turns = 1.5  # spiral angle 2 pi turns t
  c.spiral.r_min = 0.2  # radius r_min + (r_max - r_min) t
  c.spiral.r_max = 0.6  # the 0.6: with the 0.3 shift the target stays inside the head's [-1, 1]
  c.spiral.input_arc_deg = 270.0  # u(t) = (cos, sin)(input_arc t): one input per point, ends apart
  c.target_scale = 1.0  # target spiral = target_scale * R(rotation_deg) source + shift
  c.rotation_deg = 0.0
  c.shift = (0.3, 0.0)  # the shift 0.3; outputs must stay in [-1, 1] (the head clips)
  # Standardise the in-plane input coordinates (zero mean, unit std, statistics of the source
  # training inputs); the third coordinate (0 or dz) stays raw, so dz is in units of the
  # in-plane spread (standardising it too would map every dz > 0 to the same two values).
  c.normalize_inputs = True

  # Model: gdacot's DiffusionHead (DDPM, cosine schedule, DDIM sampling), chunk 1, action size 2,
  # conditioned on the 3-d input.
  c.hidden = 64
  c.depth = 3
  c.time_dim = 16
  c.diffusion_steps = 100
  c.sample_steps = 10
  # Hidden features for W2 and discernibility: the denoiser's last hidden layer for each input,
  # at noisy action 0 and this diffusion step, so they are a function of the input alone.
  c.feature_step = 50

  # 3000 steps: the source map is learned (L2 ~0.02 on the source plane) and the whole 9 x 9 x 3
  # grid took 4 min 40 s on a shared 2-core CPU (one jit(vmap) call) before the feature metrics.
  c.steps = 3000
  c.batch_size = 128  # per domain: each step draws this many source and this many target samples
  c.learning_rate = 3e-3  # Adam, cosine decay to 0 over `steps`
  c.eval_points = 512  # inputs evenly covering the WHOLE target spiral, t in [0, 1]

  variants = cli_common.variants(arg, ("smoke", "rotated_third"))
  if "rotated_third" in variants:  # the first version (experiments/results/toy_spiral/README.md)
    c.spiral.r_max = 0.9
    c.update(rotation_deg=45.0, shift=(0.0, 0.0), target_layout="contiguous", normalize_inputs=False)
  if "smoke" in variants:  # small, for tests
    c.update(dz=(0.1, 3.0), w=(0.1, 0.5), num_seeds=1, num_source=300, hidden=32, depth=2, steps=50, batch_size=32,
             eval_points=64)
  return c
