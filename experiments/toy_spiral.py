r"""Paper B's toy model: how the separation of the two domains' inputs and the mixing ratio
shape transfer in a small diffusion model.

  python -m experiments.toy_spiral --workdir=/tmp/toy
  python -m experiments.toy_spiral --workdir=/tmp/toy_smoke --config=experiments/configs/toy_spiral.py:smoke
  python -m experiments.toy_spiral --workdir=/tmp/toy5 --config.num_seeds=5 --config.rotation_deg=90

A spiral point t in [0, 1] has a 2-d input u(t) on an arc, lifted to 3-d on one plane per domain:
(u, 0) for the source, (u, dz) for the target. The output is the source spiral y(t), or for the
target its copy R(rotation) y(t) + shift. A conditional DDPM (gdacot's DiffusionHead, chunk 1,
action size 2, conditioned on the 3-d input) learns the map from num_source source samples over
the whole spiral and num_target target samples over its first `target_cover` only. The score of a
(dz, w) cell is the mean L2 distance between DDIM samples and the true target output for
`eval_points` inputs evenly covering the WHOLE target spiral.

The mixing ratio w is per sample, as paper B's `L_w = w L_target + (1 - w) L_source`: each step
draws batch_size samples of each domain and weights the two mean losses by w and 1 - w. That is a
batch with a share w of target samples in expectation, and stays exact at w = 0.001, which would
round to no target sample in any batch of a few hundred.

Every (dz, w, seed) cell is one call of a pure function that generates the seed's data, trains a
model in a `lax.scan` over the steps and scores it; one `jit(vmap(...))` runs the whole grid
(purejaxrl's recipe). A seed fixes the data, the initial parameters and the training noise of all
its cells, so the cells of a seed differ only in dz and w.

Writes toy_spiral.json, toy_spiral.md and toy_spiral.png into --workdir, which must be new or empty.
"""

from __future__ import annotations

import math
import os
import time

from absl import flags
from ml_collections import config_flags

from gdacot import cli, cli_common, io, machine
from gdacot.stats import t_interval

_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "toy_spiral.py")
OUTPUTS = ("toy_spiral.json", "toy_spiral.md", "toy_spiral.png")


class ToySpiralError(ValueError):
  """A bad config or workdir: reported before any work, exit code 2."""


def validate(cfg) -> None:
  """Refuses configs the experiment cannot run as described, before any work."""
  problems = []
  dz, w = tuple(cfg.dz), tuple(cfg.w)
  if not dz:
    problems.append("dz (plane separations) is empty")
  if any(not math.isfinite(d) or d < 0 for d in dz):
    problems.append(f"dz values must be finite and >= 0, got {dz}")
  if not w:
    problems.append("w (mixing ratios) is empty")
  if any(not 0.0 < x < 1.0 for x in w):
    problems.append(f"w values (target share of the loss) must be in (0, 1), got {w}")
  for name in ("num_seeds", "num_source", "num_target", "hidden", "depth", "steps", "batch_size", "eval_points",
               "diffusion_steps", "sample_steps"):
    value = cfg[name]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
      problems.append(f"{name} must be a positive integer, got {value!r}")
  if isinstance(cfg.sample_steps, int) and isinstance(cfg.diffusion_steps, int) and \
      cfg.sample_steps > cfg.diffusion_steps:
    problems.append(f"sample_steps ({cfg.sample_steps}) must be <= diffusion_steps ({cfg.diffusion_steps})")
  if not isinstance(cfg.time_dim, int) or cfg.time_dim < 2 or cfg.time_dim % 2:
    problems.append(f"time_dim must be an even integer >= 2, got {cfg.time_dim!r}")
  if not cfg.learning_rate > 0:
    problems.append(f"learning_rate must be positive, got {cfg.learning_rate}")
  if not 0.0 < cfg.target_cover <= 1.0:
    problems.append(f"target_cover must be in (0, 1], got {cfg.target_cover}")
  s = cfg.spiral
  if not 0.0 <= s.r_min <= s.r_max or s.turns <= 0 or not 0.0 < s.input_arc_deg < 360.0:
    problems.append(f"spiral needs 0 <= r_min <= r_max, turns > 0 and input_arc_deg in (0, 360), got {s}")
  shift = tuple(cfg.shift)
  if len(shift) != 2:
    problems.append(f"shift must be 2 numbers, got {shift}")
  elif s.r_max + max(abs(shift[0]), abs(shift[1])) > 1.0:  # the head samples in [-1, 1]
    problems.append(f"spiral.r_max + |shift| must be <= 1 (the diffusion head's outputs are clipped to "
                    f"[-1, 1]), got r_max={s.r_max}, shift={shift}")
  if problems:
    raise ToySpiralError("bad toy_spiral config: " + "; ".join(problems))


def claim_workdir(workdir: str) -> None:
  """Creates the workdir; a non-empty one is refused (results are never overwritten)."""
  if os.path.exists(workdir) and (not os.path.isdir(workdir) or os.listdir(workdir)):
    raise ToySpiralError(f"workdir {workdir} exists and is not empty; refusing to overwrite it (use a new "
                         "--workdir)")
  os.makedirs(workdir, exist_ok=True)


# --- Data: pure functions of t, usable eagerly and under jit / vmap. ---------------------------

def source_spiral(t, spiral):
  """The source output y(t), (n, 2): angle 2 pi turns t, radius from r_min to r_max."""
  import jax.numpy as jnp
  angle = 2.0 * jnp.pi * spiral.turns * t
  radius = spiral.r_min + (spiral.r_max - spiral.r_min) * t
  return radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)


def rotation(deg: float):
  import jax.numpy as jnp
  a = math.radians(deg)
  return jnp.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], jnp.float32)


def target_spiral(t, cfg):
  """The target output: the source spiral rotated by rotation_deg about the origin, then shifted."""
  import jax.numpy as jnp
  return source_spiral(t, cfg.spiral) @ rotation(cfg.rotation_deg).T + jnp.asarray(cfg.shift, jnp.float32)


def plane_inputs(t, z, spiral):
  """Inputs (n, 3): u(t) = (cos, sin)(input_arc t) on the plane at height z. The arc is shorter
  than a circle so that every t has its own input."""
  import jax.numpy as jnp
  psi = math.radians(spiral.input_arc_deg) * t
  return jnp.stack([jnp.cos(psi), jnp.sin(psi), jnp.broadcast_to(z, t.shape).astype(t.dtype)], axis=-1)


def make_data(key, dz, cfg) -> dict:
  """One seed's training data: num_source source points with t ~ U(0, 1) on the plane z = 0, and
  num_target target points with t ~ U(0, target_cover) on the plane z = dz."""
  import jax
  k_source, k_target = jax.random.split(key)
  t_source = jax.random.uniform(k_source, (cfg.num_source,))
  t_target = jax.random.uniform(k_target, (cfg.num_target,), maxval=cfg.target_cover)
  return {"x_source": plane_inputs(t_source, 0.0, cfg.spiral), "y_source": source_spiral(t_source, cfg.spiral),
          "x_target": plane_inputs(t_target, dz, cfg.spiral), "y_target": target_spiral(t_target, cfg),
          "t_source": t_source, "t_target": t_target}


def eval_t(cfg):
  """eval_points values of t evenly covering the whole spiral, [0, 1]."""
  import jax.numpy as jnp
  return jnp.linspace(0.0, 1.0, cfg.eval_points)


# --- One cell: data, training in a lax.scan, scoring; vmapped over the grid. -------------------

def make_grid_fn(cfg):
  """Returns jitted `fn(keys (C, 2), dz (C,), w (C,)) -> dict` of per-cell arrays:
  "target_err" (C, eval_points): L2 distance of each DDIM sample to the true target output over
  the whole target spiral; "source_err" (C, eval_points): the same on the source plane (is the
  source map learned?); "loss" (C,): the weighted training loss over the last tenth of the steps."""
  import jax
  import jax.numpy as jnp
  import optax
  from flax import nnx

  from gdacot.models.heads import DiffusionHead

  def init(key):
    head = DiffusionHead(3, 1, 2, cfg.hidden, cfg.depth, rngs=nnx.Rngs(key), train_steps=cfg.diffusion_steps,
                         sample_steps=cfg.sample_steps, time_dim=cfg.time_dim)
    return nnx.split(head, nnx.Param)

  graphdef, _ = init(jax.random.PRNGKey(0))  # the structure; each cell draws its own parameters
  tx = optax.adam(optax.cosine_decay_schedule(cfg.learning_rate, cfg.steps))
  t_eval = eval_t(cfg)
  tail = max(1, cfg.steps // 10)

  def cell(key, dz, w):
    k_data, k_init, k_train, k_eval = jax.random.split(key, 4)
    data = make_data(k_data, dz, cfg)
    _, params = init(k_init)

    def loss_fn(params, key):
      head = nnx.merge(graphdef, params)
      k_s, k_t, k_ls, k_lt = jax.random.split(key, 4)
      i_s = jax.random.randint(k_s, (cfg.batch_size,), 0, cfg.num_source)
      i_t = jax.random.randint(k_t, (cfg.batch_size,), 0, cfg.num_target)
      loss_s = head.loss(data["x_source"][i_s], data["y_source"][i_s][:, None], k_ls).mean()
      loss_t = head.loss(data["x_target"][i_t], data["y_target"][i_t][:, None], k_lt).mean()
      return w * loss_t + (1.0 - w) * loss_s

    def step(carry, key):
      params, opt_state = carry
      loss, grads = jax.value_and_grad(loss_fn)(params, key)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(k_train, cfg.steps))
    head = nnx.merge(graphdef, params)

    def err(z, truth):
      pred = head.sample(plane_inputs(t_eval, z, cfg.spiral), k_eval)[:, 0]
      return jnp.linalg.norm(pred - truth, axis=-1)

    return {"target_err": err(dz, target_spiral(t_eval, cfg)),
            "source_err": err(0.0, source_spiral(t_eval, cfg.spiral)),
            "loss": losses[-tail:].mean()}

  return jax.jit(jax.vmap(cell))


# --- Statistics and reports. ------------------------------------------------------------------

def source_only_l2(cfg) -> float:
  """The error of a model that ignores the domain and outputs the source spiral for target inputs."""
  import jax.numpy as jnp
  t = eval_t(cfg)
  return float(jnp.linalg.norm(target_spiral(t, cfg) - source_spiral(t, cfg.spiral), axis=-1).mean())


def markdown(result: dict) -> str:
  dz, w, l2, ci = result["dz"], result["w"], result["l2"], result["ci95"]
  cfg, n = result["config"], len(result["seeds"])
  cell = lambda i, j: (f"{l2[i][j]:.3f}" if ci[i][j] is None
                       else f"{l2[i][j]:.3f} ± {(ci[i][j][1] - ci[i][j][0]) / 2:.3f}")
  lines = [
      "# Toy spiral (paper B): L2 error on the whole target spiral",
      "",
      f"Mean over {n} seed(s) {result['seeds']}" + (" ± half-width of the 95% t-interval" if n > 1 else
                                                    " (one seed: no interval)") +
      f"; {cfg['num_source']} source and {cfg['num_target']} target samples (t <= {cfg['target_cover']:.3g}), "
      f"rotation {cfg['rotation_deg']} deg, shift {list(cfg['shift'])}, {cfg['steps']} steps. "
      f"Rows: plane separation dz; columns: mixing ratio w. Predicting the source spiral for target inputs "
      f"scores {result['source_only_l2']:.3f}.",
      "",
      "| dz \\ w | " + " | ".join(f"{x:g}" for x in w) + " | best w |",
      "|---" * (len(w) + 2) + "|",
  ]
  for i, d in enumerate(dz):
    best = min(range(len(w)), key=lambda j: l2[i][j])
    lines.append(f"| {d:g} | " + " | ".join(cell(i, j) for j in range(len(w))) + f" | {w[best]:g} |")
  lines += ["", f"Wall time {result['wall_time_s']:.1f} s on {result['machine']['platform']} "
                f"({result['machine']['jax_backend']}, {result['machine']['cpu_count']} CPUs).", ""]
  return "\n".join(lines)


def plot(result: dict, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np
  from matplotlib.colors import LogNorm

  dz, w, l2 = result["dz"], result["w"], np.asarray(result["l2"])
  fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
  im = ax.imshow(l2, norm=LogNorm(vmin=l2.min(), vmax=l2.max()), cmap="viridis", aspect="auto", origin="lower")
  ax.set_xticks(range(len(w)), [f"{x:g}" for x in w])
  ax.set_yticks(range(len(dz)), [f"{d:g}" for d in dz])
  ax.set_xlabel("mixing ratio w (target share of the loss)")
  ax.set_ylabel("plane separation dz")
  ax.set_title(f"L2 error on the whole target spiral (mean of {len(result['seeds'])} seed(s))")
  for i in range(len(dz)):
    for j in range(len(w)):
      ax.text(j, i, f"{l2[i, j]:.2f}", ha="center", va="center", fontsize=7,
              color="k" if im.norm(l2[i, j]) > 0.6 else "w")  # readable on yellow and on purple
  fig.colorbar(im, ax=ax, label="L2 error (log scale)")

  # Best w per dz by mean; its interval ignores the selection, so it is a little optimistic.
  best = l2.argmin(axis=1)
  mean = l2[np.arange(len(dz)), best]
  ax2.plot(dz, mean, "o-", label="best w per dz")
  bounds = [result["ci95"][i][j] for i, j in enumerate(best)]
  if all(b is not None for b in bounds):
    ax2.fill_between(dz, [b[0] for b in bounds], [b[1] for b in bounds], alpha=0.25, label="95% t-interval over seeds")
  for d, m, j in zip(dz, mean, best):
    ax2.annotate(f"w={w[j]:g}", (d, m), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7)
  ax2.axhline(result["source_only_l2"], ls="--", c="gray", label="source spiral for target inputs")
  ax2.set_xscale("log")
  ax2.set_xlabel("plane separation dz (log)")
  ax2.set_ylabel("L2 error on the whole target spiral")
  ax2.set_title("Error at the best w per dz")
  ax2.legend(fontsize=8)
  fig.tight_layout()
  with io.replacing(path) as tmp:
    fig.savefig(tmp, dpi=120)
  plt.close(fig)


def run(cfg, workdir: str) -> dict:
  validate(cfg)
  claim_workdir(workdir)
  # Heavy imports after the checks, so config and workdir errors come back at once.
  import jax
  import jax.numpy as jnp
  import numpy as np

  t_start = time.perf_counter()
  dz, w, seeds = [float(d) for d in cfg.dz], [float(x) for x in cfg.w], list(range(cfg.num_seeds))
  shape = (len(dz), len(w), len(seeds))
  print(f"toy_spiral: {len(dz)} dz x {len(w)} w x {len(seeds)} seed(s) = {math.prod(shape)} models of "
        f"{cfg.steps} steps, one jit(vmap) on {jax.devices()[0].platform}; workdir={workdir}", flush=True)

  # Cells in (dz, w, seed) order; a cell's key is its seed's, shared across dz and w.
  i_dz, i_w, i_seed = (a.reshape(-1) for a in np.meshgrid(*map(np.arange, shape), indexing="ij"))
  keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(np.asarray(seeds)[i_seed]))
  out = make_grid_fn(cfg)(keys, jnp.asarray(np.asarray(dz)[i_dz], jnp.float32),
                          jnp.asarray(np.asarray(w)[i_w], jnp.float32))
  out = jax.tree.map(lambda a: np.asarray(a, np.float64).reshape(shape + a.shape[1:]), out)
  grid_s = time.perf_counter() - t_start
  if not all(np.all(np.isfinite(v)) for v in out.values()):
    raise FloatingPointError("non-finite errors or losses in the grid")

  l2_seeds = out["target_err"].mean(axis=-1)  # (dz, w, seed): mean over the evaluation inputs
  cover = np.asarray(eval_t(cfg)) <= cfg.target_cover
  stats = [[t_interval(list(l2_seeds[i, j])) for j in range(len(w))] for i in range(len(dz))]
  result = {
      "dz": dz, "w": w, "seeds": seeds,
      "l2": [[s[0] for s in row] for row in stats],
      "l2_seeds": l2_seeds.tolist(),
      "ci95": [[None if s[1] is None else [s[1], s[2]] for s in row] for row in stats],
      "ci95_note": ("95% Student t-interval of the mean over seeds" if len(seeds) > 1 else
                    "one seed: no interval (null)"),
      # Where the error comes from: the part of the target spiral the target samples cover, the rest.
      "l2_covered": out["target_err"][..., cover].mean(axis=(-1, -2)).tolist(),
      "l2_uncovered": (out["target_err"][..., ~cover].mean(axis=(-1, -2)).tolist() if (~cover).any() else None),
      "l2_source_plane": out["source_err"].mean(axis=(-1, -2)).tolist(),
      "final_loss": out["loss"].mean(axis=-1).tolist(),
      "source_only_l2": source_only_l2(cfg),
      "l2_definition": (f"mean over {cfg.eval_points} inputs evenly covering the whole target spiral (t in [0, 1]) "
                        "of the Euclidean distance between one DDIM sample and the true target output"),
      "config": cfg.to_dict(),
      "grid_time_s": grid_s,
      "machine": machine.describe(),
  }
  plot(result, os.path.join(workdir, "toy_spiral.png"))
  result["wall_time_s"] = time.perf_counter() - t_start
  io.write_json(os.path.join(workdir, "toy_spiral.json"), result)
  table = markdown(result)
  io.write_text(os.path.join(workdir, "toy_spiral.md"), table)
  print(table, flush=True)
  print(f"wrote {', '.join(os.path.join(workdir, name) for name in OUTPUTS)} ({result['wall_time_s']:.1f} s)",
        flush=True)
  return result


def define_flags() -> None:
  # Only when run as a program: tests import the pure functions above, and absl flags are global
  # (another entry point's --workdir would clash).
  flags.DEFINE_string("workdir", None, "Directory for the results; must be new or empty.")
  config_flags.DEFINE_config_file("config", _CONFIG_DEFAULT, "Config file [:variant].")
  cli.define_print_config()


if __name__ == "__main__":
  define_flags()
  cli_common.run(cli_common.config_main(run), ToySpiralError)
