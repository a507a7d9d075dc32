"""Config of experiments.toy_spiral: paper B's toy model (R^3 -> R^2 spirals, a dz x w grid).

  python -m experiments.toy_spiral --workdir=/tmp/toy --config=experiments/configs/toy_spiral.py
  python -m experiments.toy_spiral --workdir=/tmp/toy_smoke --config=experiments/configs/toy_spiral.py:smoke
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
  # (target); output the source spiral y(t), or its rotated / shifted copy for the target.
  c.num_source = 3000
  c.num_target = 30
  c.target_cover = 1.0 / 3.0  # target samples have t in [0, target_cover]: the first third
  c.spiral = ml_collections.ConfigDict()
  c.spiral.turns = 1.5  # spiral angle 2 pi turns t
  c.spiral.r_min = 0.2  # radius r_min + (r_max - r_min) t; outputs must stay in [-1, 1] (the head clips)
  c.spiral.r_max = 0.9
  c.spiral.input_arc_deg = 270.0  # u(t) = (cos, sin)(input_arc t): one input per point, ends apart
  c.rotation_deg = 45.0  # target spiral = R(rotation) source + shift
  c.shift = (0.0, 0.0)

  # Model: gdacot's DiffusionHead (DDPM, cosine schedule, DDIM sampling), chunk 1, action size 2,
  # conditioned on the 3-d input.
  c.hidden = 64
  c.depth = 3
  c.time_dim = 16
  c.diffusion_steps = 100
  c.sample_steps = 10

  # 3000 steps: the source map is learned (L2 ~0.02 on the source plane) and the whole 9 x 9 x 3
  # grid took 4 min 40 s on a shared 2-core CPU (one jit(vmap) call).
  c.steps = 3000
  c.batch_size = 128  # per domain: each step draws this many source and this many target samples
  c.learning_rate = 3e-3  # Adam, cosine decay to 0 over `steps`
  c.eval_points = 512  # inputs evenly covering the WHOLE target spiral, t in [0, 1]

  variants = cli_common.variants(arg, ("smoke",))
  if "smoke" in variants:  # small, for tests
    c.update(dz=(0.1, 3.0), w=(0.1, 0.5), num_seeds=1, num_source=300, hidden=32, depth=2, steps=50, batch_size=32,
             eval_points=64)
  return c
