r"""Paper B's toy model: how the separation of the two domains' inputs and the mixing ratio
shape transfer in a small diffusion model.

  python -m experiments.toy_spiral --workdir=/tmp/toy
  python -m experiments.toy_spiral --workdir=/tmp/toy_smoke --config=experiments/configs/toy_spiral.py:smoke
  python -m experiments.toy_spiral --workdir=/tmp/toy_v1 --config=experiments/configs/toy_spiral.py:rotated_third

A spiral point t in [0, 1] has a 2-d input u(t) on an arc, lifted to 3-d on one plane per domain:
(u, 0) for the source, (u, dz) for the target; with normalize_inputs the in-plane coordinates are
standardised with the source training inputs' statistics (dz stays raw). The output is the source
spiral y(t), or for the target its copy scale * R(rotation) y(t) + shift. A conditional DDPM
(gdacot's DiffusionHead, chunk 1, action size 2, conditioned on the 3-d input) learns the map from
num_source source samples over the whole spiral and num_target target samples, either scattered
over the whole spiral (one per slice of t) or on its first `target_cover` only. The score of a
(dz, w) cell is the mean L2 distance between DDIM samples and the true target output for
`eval_points` inputs evenly covering the WHOLE target spiral; "covered" is the part of those
inputs near a target sample (see `covered_mask`).

Alignment, as paper B measures it: the denoiser's last hidden layer for the eval inputs of each
plane (noisy action 0, diffusion step feature_step, so a function of the input alone), and
between the source and target features gdacot's W2 (`gdacot.align.analysis.wasserstein_distance`)
and discernibility (`discernibility`: held-out accuracy of a 2-layer MLP domain classifier).

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
from gdacot.sweep.outputs import json_safe, portable

_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "toy_spiral.py")
OUTPUTS = ("toy_spiral.json", "toy_spiral.md", "toy_spiral.png")
LAYOUTS = ("scattered", "contiguous")


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
  if cfg.target_layout not in LAYOUTS:
    problems.append(f"target_layout must be one of {LAYOUTS}, got {cfg.target_layout!r}")
  if isinstance(cfg.num_target, int) and cfg.num_target < 2:
    problems.append(f"num_target must be >= 2 (discernibility holds out part of each domain), got {cfg.num_target}")
  if isinstance(cfg.eval_points, int) and cfg.eval_points < 4:
    problems.append(f"eval_points must be >= 4 (the feature metrics split them), got {cfg.eval_points}")
  if isinstance(cfg.diffusion_steps, int) and (isinstance(cfg.feature_step, bool) or not isinstance(cfg.feature_step, int)
                                               or not 0 <= cfg.feature_step < cfg.diffusion_steps):
    problems.append(f"feature_step must be an integer in [0, diffusion_steps), got {cfg.feature_step!r}")
  s = cfg.spiral
  if not 0.0 <= s.r_min <= s.r_max or s.turns <= 0 or not 0.0 < s.input_arc_deg < 360.0:
    problems.append(f"spiral needs 0 <= r_min <= r_max, turns > 0 and input_arc_deg in (0, 360), got {s}")
  shift = tuple(cfg.shift)
  if not cfg.target_scale > 0:
    problems.append(f"target_scale must be positive, got {cfg.target_scale}")
  elif len(shift) != 2:
    problems.append(f"shift must be 2 numbers, got {shift}")
  elif max(1.0, cfg.target_scale) * s.r_max + max(abs(shift[0]), abs(shift[1])) > 1.0:  # the head samples in [-1, 1]
    problems.append(f"max(1, target_scale) * spiral.r_max + |shift| must be <= 1 (the diffusion head's outputs are "
                    f"clipped to [-1, 1]), got r_max={s.r_max}, target_scale={cfg.target_scale}, shift={shift}")
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
  """The target output: the source spiral scaled by target_scale and rotated by rotation_deg about
  the origin, then shifted."""
  import jax.numpy as jnp
  linear = cfg.target_scale * rotation(cfg.rotation_deg)
  return source_spiral(t, cfg.spiral) @ linear.T + jnp.asarray(cfg.shift, jnp.float32)


def plane_inputs(t, z, spiral):
  """Inputs (n, 3): u(t) = (cos, sin)(input_arc t) on the plane at height z. The arc is shorter
  than a circle so that every t has its own input."""
  import jax.numpy as jnp
  psi = math.radians(spiral.input_arc_deg) * t
  return jnp.stack([jnp.cos(psi), jnp.sin(psi), jnp.broadcast_to(z, t.shape).astype(t.dtype)], axis=-1)


def target_t(key, cfg):
  """The target samples' spiral points: "scattered", one uniform draw in each of num_target equal
  slices of [0, 1] (sparse, but no stretch of the spiral left without a sample); "contiguous",
  t ~ U(0, target_cover)."""
  import jax
  import jax.numpy as jnp
  if cfg.target_layout == "scattered":
    return (jnp.arange(cfg.num_target) + jax.random.uniform(key, (cfg.num_target,))) / cfg.num_target
  return jax.random.uniform(key, (cfg.num_target,), maxval=cfg.target_cover)


def input_stats(x_source):
  """(mean, std) of the in-plane input coordinates of the source training inputs, (2,) each."""
  return x_source[:, :2].mean(0), x_source[:, :2].std(0)


def normalise(x, stats):
  """Standardises the in-plane coordinates of inputs (n, 3); the plane's height (0 or dz) is kept."""
  import jax.numpy as jnp
  mean, std = stats
  return jnp.concatenate([(x[:, :2] - mean) / std, x[:, 2:]], axis=-1)


def make_data(key, dz, cfg) -> dict:
  """One seed's training data: num_source source points with t ~ U(0, 1) on the plane z = 0, and
  num_target target points laid out by `target_t` on the plane z = dz. With normalize_inputs the
  inputs are standardised in-plane and "stats" holds what to standardise other inputs with."""
  import jax
  k_source, k_target = jax.random.split(key)
  t_source = jax.random.uniform(k_source, (cfg.num_source,))
  t_target = target_t(k_target, cfg)
  data = {"x_source": plane_inputs(t_source, 0.0, cfg.spiral), "y_source": source_spiral(t_source, cfg.spiral),
          "x_target": plane_inputs(t_target, dz, cfg.spiral), "y_target": target_spiral(t_target, cfg),
          "t_source": t_source, "t_target": t_target, "stats": None}
  if cfg.normalize_inputs:
    data["stats"] = input_stats(data["x_source"])
    data["x_source"] = normalise(data["x_source"], data["stats"])
    data["x_target"] = normalise(data["x_target"], data["stats"])
  return data


def model_inputs(t, z, cfg, stats):
  """Inputs the trained model is given for spiral points t on the plane z (normalised as in training)."""
  x = plane_inputs(t, z, cfg.spiral)
  return x if stats is None else normalise(x, stats)


def eval_t(cfg):
  """eval_points values of t evenly covering the whole spiral, [0, 1]."""
  import jax.numpy as jnp
  return jnp.linspace(0.0, 1.0, cfg.eval_points)


def covered_mask(t_eval, t_target, cfg):
  """The eval points that target data cover: contiguous layout, t <= target_cover (the stretch the
  samples are drawn from); scattered, within half a slice (0.5 / num_target) of a target sample."""
  import jax.numpy as jnp
  if cfg.target_layout == "contiguous":
    return t_eval <= cfg.target_cover
  return jnp.abs(t_eval[:, None] - t_target[None]).min(axis=1) <= 0.5 / cfg.num_target


def hidden_features(head, x, step: int):
  """The denoiser's last hidden layer (n, hidden) for conditioning inputs x (n, 3), at noisy
  action 0 and diffusion step `step`: what the network makes of the input, the same noise for
  both domains. (Walks gdacot's MLP layers; the head exposes no feature method.)"""
  import jax
  import jax.numpy as jnp
  from gdacot.models.heads import timestep_embedding
  den = head.denoiser
  n = x.shape[0]
  time = jnp.full((n,), (step + 1.0) / head.train_steps)  # the head's time of step k: (k + 1) / T
  h = jnp.concatenate([jnp.zeros((n, den.chunk * den.action_size)), x, timestep_embedding(time, den.time_dim)], -1)
  for i in range(den.net.num_layers - 1):  # every layer but the output one, GELU after each
    h = jax.nn.gelu(getattr(den.net, f"dense_{i}")(h))
  return h


# --- One cell: data, training in a lax.scan, scoring; vmapped over the grid. -------------------

def make_grid_fn(cfg):
  """Returns jitted `fn(keys (C, 2), dz (C,), w (C,)) -> dict` of per-cell arrays:
  "target_err" (C, eval_points): L2 distance of each DDIM sample to the true target output over
  the whole target spiral; "covered" (C, eval_points): the eval points near target data;
  "source_err" (C, eval_points): the same on the source plane (is the source map learned?);
  "loss" (C,): the weighted training loss over the last tenth of the steps; "w2", "discernibility",
  "feature_scale" (C,): the hidden features' W2 and discernibility between the planes, and the
  source features' root-mean-square distance to their mean (the unit W2 is read against)."""
  import jax
  import jax.numpy as jnp
  import optax
  from flax import nnx

  from gdacot.align.analysis import discernibility, wasserstein_distance
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
      pred = head.sample(model_inputs(t_eval, z, cfg, data["stats"]), k_eval)[:, 0]
      return jnp.linalg.norm(pred - truth, axis=-1)

    # The metric's key comes from the cell's key by fold_in, so the splits above (data, init,
    # training, sampling) stay those of the first version and its numbers reproduce.
    f_source = hidden_features(head, model_inputs(t_eval, 0.0, cfg, data["stats"]), cfg.feature_step)
    f_target = hidden_features(head, model_inputs(t_eval, dz, cfg, data["stats"]), cfg.feature_step)
    return {"target_err": err(dz, target_spiral(t_eval, cfg)),
            "covered": covered_mask(t_eval, data["t_target"], cfg),
            "source_err": err(0.0, source_spiral(t_eval, cfg.spiral)),
            "loss": losses[-tail:].mean(),
            "w2": wasserstein_distance(f_source, f_target),
            "discernibility": discernibility(f_source, f_target, jax.random.fold_in(key, 1)),
            "feature_scale": jnp.sqrt(jnp.mean(jnp.sum((f_source - f_source.mean(0)) ** 2, axis=-1)))}

  return jax.jit(jax.vmap(cell))


# --- Statistics and reports. ------------------------------------------------------------------

def source_only_l2(cfg) -> float:
  """The error of a model that ignores the domain and outputs the source spiral for target inputs."""
  import jax.numpy as jnp
  t = eval_t(cfg)
  return float(jnp.linalg.norm(target_spiral(t, cfg) - source_spiral(t, cfg.spiral), axis=-1).mean())


def _interval(values):
  """(mean, [lo, hi] or None) over seeds; (None, None) where a value is NaN (no such points)."""
  import numpy as np
  if not np.all(np.isfinite(values)):
    return None, None
  mean, lo, hi = t_interval(list(values))
  return mean, (None if lo is None else [lo, hi])


def grid_stats(values):
  """(dz, w, seed) values -> (means, intervals), each a dz x w nested list."""
  cells = [[_interval(values[i, j]) for j in range(values.shape[1])] for i in range(values.shape[0])]
  return [[c[0] for c in row] for row in cells], [[c[1] for c in row] for row in cells]


def per_dz_summary(result: dict, per_seed: dict) -> list:
  """One row per dz at its best w (lowest mean L2 on the whole target spiral): every measure's mean
  and interval over seeds there. The best w is chosen on the same seeds, so its L2 interval is a
  little optimistic."""
  import numpy as np
  rows = []
  for i, d in enumerate(result["dz"]):
    j = int(np.argmin(result["l2"][i]))
    row = {"dz": d, "best_w": result["w"][j]}
    for name in ("l2", "l2_covered", "l2_uncovered", "w2", "discernibility", "feature_scale"):
      row[name], row[name + "_ci95"] = _interval(per_seed[name][i, j])
    rows.append(row)
  return rows


def u_shape_test(result: dict, values) -> dict:
  """Paper B's U: is the error at the best intermediate dz lower than at both ends of the dz grid?
  Each dz at its best w (by the mean whole-target L2); the differences are paired by seed (a seed
  fixes the data and the init of all its dz), with 95% t-intervals. "shown": the best dz is an inner
  one and both intervals lie below 0. Choosing the best dz and w on the same seeds biases the
  differences down, so "shown" is generous; "not shown" is firm."""
  import numpy as np
  best_w = [int(np.argmin(row)) for row in result["l2"]]
  at_best = np.stack([values[i, j] for i, j in enumerate(best_w)])  # (dz, seed)
  if not np.all(np.isfinite(at_best)):
    return {"shown": None, "note": "undefined: a dz has no eval point in this part"}
  i_min = int(np.argmin(at_best.mean(axis=1)))
  diff = lambda k: _interval(at_best[i_min] - at_best[k])
  out = {"best_dz": result["dz"][i_min], "vs_smallest_dz": diff(0), "vs_largest_dz": diff(-1)}
  inner = 0 < i_min < len(result["dz"]) - 1
  ends = (out["vs_smallest_dz"][1], out["vs_largest_dz"][1])
  out["shown"] = bool(inner and all(ci is not None and ci[1] < 0 for ci in ends))
  out["note"] = ("differences (best dz minus an end), each dz at its best w, paired by seed: [mean, 95% t-interval]; "
                 "shown = inner best dz and both intervals below 0")
  return out


def _pm(mean, ci) -> str:
  """'mean ± half-width' (or the mean alone without an interval; '-' for no value)."""
  if mean is None:
    return "-"
  return f"{mean:.3f}" if ci is None else f"{mean:.3f} ± {(ci[1] - ci[0]) / 2:.3f}"


def markdown(result: dict) -> str:
  dz, w, l2, ci = result["dz"], result["w"], result["l2"], result["l2_ci95"]
  cfg, n = result["config"], len(result["seeds"])
  layout = ("scattered over the whole spiral" if cfg["target_layout"] == "scattered"
            else f"on t <= {cfg['target_cover']:.3g}")
  lines = [
      "# Toy spiral (paper B): L2 error on the whole target spiral",
      "",
      f"Mean over {n} seed(s) {result['seeds']}" + (" ± half-width of the 95% t-interval" if n > 1 else
                                                    " (one seed: no interval)") +
      f"; {cfg['num_source']} source and {cfg['num_target']} target samples ({layout}), target = "
      f"{cfg['target_scale']:g} x R({cfg['rotation_deg']:g} deg) source + {list(cfg['shift'])}, spiral r_max "
      f"{cfg['spiral']['r_max']:g}, inputs {'normalised' if cfg['normalize_inputs'] else 'raw'}, {cfg['steps']} steps. "
      f"Rows: plane separation dz; columns: mixing ratio w. Predicting the source spiral for target inputs "
      f"scores {result['source_only_l2']:.3f}.",
      "",
      "| dz \\ w | " + " | ".join(f"{x:g}" for x in w) + " | best w |",
      "|---" * (len(w) + 2) + "|",
  ]
  for i, d in enumerate(dz):
    best = min(range(len(w)), key=lambda j: l2[i][j])
    lines.append(f"| {d:g} | " + " | ".join(_pm(l2[i][j], ci[i][j]) for j in range(len(w))) + f" | {w[best]:g} |")
  lines += [
      "",
      "Per dz at its best w: L2 on the whole target spiral and on its part near target data, and the "
      "denoiser's hidden features (source vs target plane): W2, the source features' RMS spread (W2's "
      "unit) and discernibility (0.5 = indistinguishable).",
      "",
      "| dz | best w | L2 whole | L2 covered | W2 | feature spread | discernibility |",
      "|---|---|---|---|---|---|---|",
  ]
  for r in result["per_dz"]:
    lines.append(f"| {r['dz']:g} | {r['best_w']:g} | {_pm(r['l2'], r['l2_ci95'])} | "
                 f"{_pm(r['l2_covered'], r['l2_covered_ci95'])} | {_pm(r['w2'], r['w2_ci95'])} | "
                 f"{_pm(r['feature_scale'], r['feature_scale_ci95'])} | "
                 f"{_pm(r['discernibility'], r['discernibility_ci95'])} |")
  lines.append("")
  for part, u in result["u_shape"].items():
    if u["shown"] is None:
      lines.append(f"U-shape ({part}): {u['note']}.")
      continue
    lines.append(f"U-shape ({part}): best dz {u['best_dz']:g}; minus dz = {dz[0]:g}: "
                 f"{_pm(*u['vs_smallest_dz'])}, minus dz = {dz[-1]:g}: {_pm(*u['vs_largest_dz'])} "
                 f"(paired by seed) -> {'shown' if u['shown'] else 'not shown'}.")
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
  fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(19, 5.2))
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
  rows = result["per_dz"]

  def curve(axis, name, label, **style):
    mean = [r[name] for r in rows]
    if any(m is None for m in mean):
      return
    axis.plot(dz, mean, "o-", label=label, **style)
    bounds = [r[name + "_ci95"] for r in rows]
    if all(b is not None for b in bounds):
      axis.fill_between(dz, [b[0] for b in bounds], [b[1] for b in bounds], alpha=0.2, **style)

  curve(ax2, "l2", "whole target spiral")
  curve(ax2, "l2_covered", "near target data")
  for r in rows:
    ax2.annotate(f"w={r['best_w']:g}", (r["dz"], r["l2"]), textcoords="offset points", xytext=(0, 7), ha="center",
                 fontsize=7)
  ax2.axhline(result["source_only_l2"], ls="--", c="gray", label="source spiral for target inputs")
  ax2.set_xscale("log")
  ax2.set_yscale("log")  # a shallow U under the source-only line stays visible
  ax2.set_xlabel("plane separation dz (log)")
  ax2.set_ylabel("L2 error (log; 95% t-interval over seeds)")
  ax2.set_title("Error at the best w per dz")
  ax2.legend(fontsize=8)

  curve(ax3, "w2", "W2 (source vs target features)", color="C0")
  curve(ax3, "feature_scale", "RMS spread of source features", color="C7")
  ax3.set_xscale("log")
  ax3.set_yscale("log")
  ax3.set_xlabel("plane separation dz (log)")
  ax3.set_ylabel("feature distance (log)")
  ax3.set_title("Hidden features at the best w per dz")
  ax3b = ax3.twinx()
  curve(ax3b, "discernibility", "discernibility (right axis)", color="C3")
  ax3b.set_ylim(0.4, 1.02)
  ax3b.set_ylabel("discernibility (0.5 = indistinguishable)")
  handles = ax3.get_legend_handles_labels()[0] + ax3b.get_legend_handles_labels()[0]
  ax3.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
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

  # Per (dz, w, seed): means over the evaluation inputs, the covered part and the rest apart.
  err, cov = out["target_err"], out["covered"] > 0.5
  with np.errstate(invalid="ignore"):  # a part with no eval point (e.g. nothing uncovered) is NaN -> null
    per_seed = {
        "l2": err.mean(axis=-1),
        "l2_covered": (err * cov).sum(-1) / cov.sum(-1),
        "l2_uncovered": (err * ~cov).sum(-1) / (~cov).sum(-1),
        "w2": out["w2"], "discernibility": out["discernibility"], "feature_scale": out["feature_scale"],
    }
  result = {"dz": dz, "w": w, "seeds": seeds,
            "ci95_note": ("95% Student t-interval of the mean over seeds" if len(seeds) > 1 else
                          "one seed: no interval (null)")}
  for name, values in per_seed.items():
    result[name], result[name + "_ci95"] = grid_stats(values)
    result[name + "_seeds"] = values.tolist()
  result.update({
      "covered_fraction": cov.mean(axis=(-1, -2)).tolist(),
      "l2_source_plane": out["source_err"].mean(axis=(-1, -2)).tolist(),
      "final_loss": out["loss"].mean(axis=-1).tolist(),
      "source_only_l2": source_only_l2(cfg),
      "l2_definition": (f"mean over {cfg.eval_points} inputs evenly covering the whole target spiral (t in [0, 1]) "
                        "of the Euclidean distance between one DDIM sample and the true target output; "
                        "l2_covered / l2_uncovered: the same over the eval inputs near / away from target "
                        "data (covered_mask)"),
      "features_definition": (f"last hidden layer ({cfg.hidden} units) of the denoiser for the {cfg.eval_points} "
                              f"eval inputs of each plane, noisy action 0, diffusion step {cfg.feature_step}; "
                              "w2: gdacot.align.analysis.wasserstein_distance(source, target); discernibility: "
                              "gdacot.align.analysis.discernibility (held-out balanced accuracy, 0.5 = "
                              "indistinguishable); feature_scale: RMS distance of the source features to their mean"),
  })
  result["per_dz"] = per_dz_summary(result, per_seed)
  result["u_shape"] = {part: u_shape_test(result, per_seed[part]) for part in ("l2", "l2_covered")}
  result.update({"config": cfg.to_dict(), "grid_time_s": grid_s, "machine": machine.describe()})
  plot(result, os.path.join(workdir, "toy_spiral.png"))
  result["wall_time_s"] = time.perf_counter() - t_start
  # Checked-in results name no machine (tests/test_results_portable.py): no hostname, no
  # absolute path; NaN written as null.
  io.write_json(os.path.join(workdir, "toy_spiral.json"), portable(json_safe(result)))
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
