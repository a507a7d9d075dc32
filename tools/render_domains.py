r"""Pictures of the domain gap: the same scenes through each domain's camera, and policy rollouts.

  python -m tools.render_domains --out=gap_pics                      # domains.png
  python -m tools.render_domains --out=gap_pics --workdir=runs/img   # + rollouts.gif of the run's policy

domains.png: one row per domain (sim, then real under each gap preset, then sim's depth), one
column per scene. A column is one initial state (same key), so a row differs from sim only by
its domain: look, camera pose and, for the physics gaps, the cube's size.
rollouts.gif: `--episodes` evaluation episodes of the run's policy in --domain/--region, as its
own on-device camera sees them (gdacot.evaluate --video_view=camera; green border = success);
the evaluation result goes to rollouts.json.
Nothing here needs OpenGL: every image comes from gdacot/render/camera.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

from absl import app, flags

from gdacot import cli_common, io

_OUT = flags.DEFINE_string("out", None, "Output directory (created; must not hold these files unless --overwrite).")
_SIZE = flags.DEFINE_integer("size", 96, "Image size in pixels.")
_SCENES = flags.DEFINE_integer("scenes", 4, "Scenes (initial states) per domain.")
_GAPS = flags.DEFINE_list("gaps", ["visual", "physics", "visual_physics"], "Gap presets of the real rows.")
_REGION = flags.DEFINE_string("region", "in", "Region of the scenes' initial cube placements.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A run (image observations) whose policy's rollouts go to a GIF.")
_DOMAIN = flags.DEFINE_string("domain", "real", "Domain of the rollouts.")
_EPISODES = flags.DEFINE_integer("episodes", 4, "Episodes in the GIF.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace existing output files.")


def domain_grid(size: int, scenes: int, gaps: list[str], region: str):
  """(rows of (label, images (scenes, size, size, 3) uint8))."""
  import jax
  import numpy as np

  from gdacot.envs import make_domain, make_env
  from gdacot.render.camera import Resolution, to_uint8

  env = make_env("push_cube", observation="image", resolution=Resolution(size, size))
  keys = jax.random.split(jax.random.PRNGKey(0), scenes)

  def views(domain):
    states = jax.vmap(env.reset, in_axes=(0, None))(keys, domain)
    return jax.vmap(lambda d, k: env.render(d, domain, k))(states.data, keys)

  sim = make_domain("sim", region)
  rgb, depth = views(sim)
  rows = [("sim", np.asarray(to_uint8(rgb)))]
  for gap in gaps:
    rows.append((f"real ({gap})", np.asarray(to_uint8(views(make_domain("real", region, gap=gap))[0]))))
  depth = np.asarray(depth)
  lo, hi = float(depth.min()), float(depth.max())
  grey = np.asarray(to_uint8((hi - depth) / max(hi - lo, 1e-6)))  # near is bright
  rows.append((f"sim depth ({lo:.2f}-{hi:.2f} m)", np.repeat(grey[..., None], 3, axis=-1)))
  return rows


def save_grid(path: str, rows) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  scenes = rows[0][1].shape[0]
  fig, axes = plt.subplots(len(rows), scenes, figsize=(1.9 * scenes + 1.2, 1.9 * len(rows)), squeeze=False)
  for r, (label, images) in enumerate(rows):
    for c in range(scenes):
      ax = axes[r, c]
      ax.imshow(images[c], interpolation="nearest")
      ax.set_xticks([]), ax.set_yticks([])
      if c == 0:
        ax.set_ylabel(label, fontsize=9)
      if r == 0:
        ax.set_title(f"scene {c}", fontsize=9)
  fig.tight_layout()
  with io.replacing(path) as tmp:
    fig.savefig(tmp, dpi=100)
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from gdacot.envs import GAP_NAMES, get_task
  regions = get_task("push_cube").regions
  problems = []
  if not _OUT.value:
    problems.append("--out is required")
  if _SIZE.value < 8 or _SCENES.value < 1 or _EPISODES.value < 1:
    problems.append(f"--size must be >= 8 and --scenes, --episodes >= 1; got {_SIZE.value}, {_SCENES.value}, "
                    f"{_EPISODES.value}")
  problems += [f"--gaps: unknown gap {g!r}; known: {sorted(GAP_NAMES)}" for g in _GAPS.value if g not in GAP_NAMES]
  if _REGION.value not in regions:
    problems.append(f"--region: unknown region {_REGION.value!r}; known: {sorted(regions)}")
  if _WORKDIR.value and not os.path.isfile(os.path.join(_WORKDIR.value, "config.json")):
    problems.append(f"--workdir={_WORKDIR.value} is not a gdacot run (no config.json)")
  outputs = {"grid": "domains.png"} | ({"gif": "rollouts.gif", "json": "rollouts.json"} if _WORKDIR.value else {})
  paths = {k: os.path.join(_OUT.value or ".", v) for k, v in outputs.items()}
  taken = [p for p in paths.values() if os.path.exists(p)]
  if taken and not _OVERWRITE.value:
    problems.append(f"{taken} exist; pass --overwrite to replace them")
  if problems:
    raise cli_common.BadInput("; ".join(problems))

  os.makedirs(_OUT.value, exist_ok=True)
  save_grid(paths["grid"], domain_grid(_SIZE.value, _SCENES.value, list(_GAPS.value), _REGION.value))
  print(f"wrote {paths['grid']}", flush=True)
  if _WORKDIR.value:  # the evaluation CLI, as a user would run it (its flags are its own)
    cmd = [sys.executable, "-m", "gdacot.evaluate", f"--workdir={_WORKDIR.value}", f"--domain={_DOMAIN.value}",
           f"--region={_REGION.value}", f"--episodes={_EPISODES.value}", f"--out={paths['json']}",
           f"--video={paths['gif']}", f"--video_episodes={_EPISODES.value}", "--video_view=camera"]
    sys.exit(subprocess.run(cmd + (["--overwrite"] if _OVERWRITE.value else [])).returncode)


if __name__ == "__main__":
  cli_common.run(main)
