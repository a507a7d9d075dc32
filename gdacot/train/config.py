"""The co-training config: its defaults (`get_config`) and its checks (`validate_config`), in one place.

`experiments/configs/cotrain.py` is this config as a file for `--config=` (it re-exports
`get_config`). Variants, comma-separated after the path or as `get_config("smoke,image")`:

  (none)      the default benchmark (minutes on a CPU)
  smoke       seconds, for tests
  diffusion   the diffusion-policy head (paper A's policy); `flow`: the flow-matching head
  image       camera images + proprioception, CNN encoder, the visual gap (paper A's setting)
  paper       paper A's sizes on an arm task (lift): 64x64 front and wrist cameras, a ResNet-18 per
              view, the diffusion head with its chunking, 1000 sim / 10 real demos, long training;
              meant for a GPU (`paper,smoke` runs in seconds; docs/reproducing.md "Paper-sized runs")
  physics | visual | visual_physics | sensor   the gap preset (default: the task's, sensor_physics)
  TASK        a registered task name (push_cube, lift, stack, pick_place), or an import path
              `my_pkg.my_module:MyTask`: the config's
              `domains` block then holds that task's own domain fields (so
              `--config.domains.real.<its field>=...` works), and `render` its camera

Any field can be overridden, e.g. --config.method=cotrain --config.seed=3 --config.w=0.2.
"""

from __future__ import annotations

import dataclasses
import json

import ml_collections
import numpy as np
from flax import nnx
from ml_collections import config_dict

from gdacot.align import METHODS
from gdacot.align.options import FEATURE_NORMS, GRAD_SIDES, OPTION_DEFAULTS
from gdacot.align.uot import SOLVER_DEFAULTS, SOLVERS
from gdacot.data.sources.config import (check_sources, legacy_rlds_config, reads_datasets, sources_config,
                                        upgrade_saved_config)
from gdacot.envs import DEFAULT_TASK, DOMAIN_NAMES, GAP_NAMES, TASKS, domain_from_config, get_task
from gdacot.models import ENCODERS, HEADS
from gdacot.train.preemption import DEFAULT_GRACE_S


class ConfigError(ValueError):
  pass


def parse_eval_pair(pair: str) -> tuple[str, str]:
  """'real:ood' -> ('real', 'ood')."""
  domain, sep, region = str(pair).partition(":")
  if not sep:
    raise ConfigError(f"eval pair {pair!r} must read DOMAIN:REGION, e.g. 'real:ood'")
  return domain, region


# Fields every saved config has held since gdacot's first release: a config.json without them is
# not a gdacot run's. Fields added since are filled with their defaults (`complete_saved_config`).
REQUIRED_FIELDS = ("task", "method", "seed", "obs_horizon", "chunk", "execute", "model.encoder", "model.head",
                   "model.latent_dim", "model.hidden", "model.depth", "optim.learning_rate",
                   "optim.weight_decay", "optim.grad_clip", "domains", "eval.batch_size")


def complete_saved_config(saved: dict) -> dict:
  """A run's saved config (config.json) as this version reads it: fields it lacks (added to
  gdacot since the run started) take their defaults, so an older run resumes and evaluates.
  Raises ConfigError naming missing required fields or an unknown task."""
  missing = []
  for field in REQUIRED_FIELDS:
    node = saved
    for part in field.split("."):
      if not isinstance(node, dict) or part not in node:
        missing.append(field)
        break
      node = node[part]
  if missing:
    raise ConfigError(f"missing field(s) {missing}")
  try:
    defaults = defaults_for(saved["task"]).to_dict()
  except ValueError as e:
    raise ConfigError(f"task: {e}") from None
  return _fill(json.loads(json.dumps(defaults)), _old_solver(upgrade_saved_config(saved)))


# The Sinkhorn solver of runs saved before its settings were config fields (issue 18): OTT-JAX's,
# without re-centring or momentum, checked every 10 updates; the settings arrived before the
# solver field did.
OLD_SINKHORN = {"sinkhorn_recenter": False, "sinkhorn_momentum": 1.0, "sinkhorn_check_every": 10,
                "sinkhorn_solver": "ott"}


def _old_solver(saved: dict) -> dict:
  """A saved config without a solver setting ran the solver before it: it keeps it."""
  align = saved.get("align")
  if isinstance(align, dict):
    saved = dict(saved, align={**{k: v for k, v in OLD_SINKHORN.items() if k not in align}, **align})
  return saved


def _fill(defaults: dict, saved: dict) -> dict:
  """`saved`, with what it lacks taken from `defaults` (recursively)."""
  out = dict(defaults)
  for k, v in saved.items():
    out[k] = _fill(defaults[k], v) if isinstance(v, dict) and isinstance(defaults.get(k), dict) else v
  return out


def validate_config(cfg, *, for_evaluation: bool = False) -> None:
  """Refuses a config that cannot run, listing every problem (ConfigError). `for_evaluation`
  skips what only training reads (dataset files, which evaluating a checkpoint does not need)."""
  problems = []

  def check(ok, msg):
    if not ok:
      problems.append(msg)

  try:
    task_class = get_task(cfg.task)
  except ValueError as e:
    problems.append(f"task: {e}")
    raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems)) from None
  task_regions = task_class.regions
  problems += rule_problems(cfg)
  # The cross-field checks: what a field may hold depends on others (or on the task).
  log = cfg.get("log") or {}
  check(not log.get("wandb") or log.get("project"), "log.project must name a wandb project when log.wandb=True")
  check(cfg.ckpt_every > 0 and cfg.ckpt_every % max(cfg.log_every, 1) == 0,
        f"ckpt_every must be a positive multiple of log_every={cfg.log_every}, got {cfg.ckpt_every}")
  if cfg.best_metric.startswith("val/") and "sources" in cfg:
    name = cfg.best_metric.split("/")[1]
    check(name in cfg.sources and cfg.sources[name].get("val_episodes", 0) > 0,
          f"best_metric {cfg.best_metric!r} is not scored at checkpoints: set sources.{name}.val_episodes to "
          "hold episodes out for it")
  if cfg.best_metric.startswith("eval/"):
    scored = {f"eval/{p}" for p in cfg.ckpt_eval.pairs} if cfg.ckpt_eval.episodes > 0 else set()
    check(cfg.best_metric in scored, f"best_metric {cfg.best_metric!r} is not scored at checkpoints: "
          f"ckpt_eval scores {sorted(scored) or 'nothing (ckpt_eval.episodes=0)'}")
  check(1 <= cfg.execute <= cfg.chunk, f"execute must be in [1, chunk={cfg.chunk}], got {cfg.execute}")
  _check_observation(cfg, problems, task_class)
  if cfg.model.head in HEADS:  # the head checks its own settings (e.g. 1 <= sample_steps <= train_steps)
    try:  # on a 1-unit copy: cheap, and exactly the constructor's checks
      HEADS[cfg.model.head](1, 1, 1, 1, 1, rngs=nnx.Rngs(0), **dict(cfg.model.get(cfg.model.head, {})))
    except (ValueError, TypeError) as e:
      problems.append(f"model.{cfg.model.head}: {e}")
  d = cfg.data
  if task_class.batch_cap():
    for name, value in (("data.demo_batch", d.demo_batch), ("eval.batch_size", cfg.eval.batch_size)):
      check(value <= task_class.batch_cap(), f"{name}={value}: task {cfg.task!r} runs at most "
            f"{task_class.batch_cap()} episodes per compiled call on the CPU (see its max_batch)")
  for key in ("sim_regions", "real_regions"):
    regions = tuple(d[key])
    check(len(regions) > 0, f"data.{key} is empty")
    for r in regions:
      check(r in task_regions, f"data.{key}: unknown region {r!r} of task {cfg.task!r}; "
            f"known: {sorted(task_regions)}")
  gap = cfg.get("gap", None) or task_class.default_gap
  check(gap in task_class.gaps(), f"gap: unknown gap {gap!r}; known: {sorted(task_class.gaps())}")
  for name in DOMAIN_NAMES:
    try:
      domain_from_config(cfg, name, "in")
    except (ValueError, TypeError) as e:
      problems.append(f"domains.{name}: {e}")
  if not for_evaluation:
    check_sources(cfg, problems)
  for pair in tuple(cfg.eval.pairs) + tuple(cfg.ckpt_eval.pairs):
    try:
      domain, region = parse_eval_pair(pair)
      check(domain in DOMAIN_NAMES, f"eval pair {pair!r}: unknown domain {domain!r}; known: {list(DOMAIN_NAMES)}")
      check(region in task_regions, f"eval pair {pair!r}: unknown region {region!r} of task {cfg.task!r}; "
            f"known: {sorted(task_regions)}")
    except ConfigError as e:
      problems.append(str(e))
  if problems:
    raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def check_mesh(cfg, mesh) -> None:
  """Batches are split over the mesh's data axis: each must be a multiple of its size."""
  from gdacot import parallel  # pylint: disable=g-import-not-at-top
  n_data = parallel.data_parallel_size(mesh)
  split_sizes = {"batch_size": cfg.batch_size, "align.batch_size": cfg.align.batch_size,
                 "eval.batch_size": cfg.eval.batch_size, "data.demo_batch": cfg.data.demo_batch}
  uneven = [f"{name}={value}" for name, value in split_sizes.items() if value % n_data]
  if uneven:
    raise ConfigError(f"{', '.join(uneven)}: batches are split over the {n_data} devices; make each a multiple "
                      f"of {n_data}")


def _check_observation(cfg, problems: list, task_class) -> None:
  """Observation kind, camera and the encoder that must go with them."""
  observation = cfg.get("observation", "state")
  if observation not in ("state", "image"):  # the rule table says so
    return
  wants = {"state": ("mlp",), "image": ("cnn", "resnet")}[observation]
  if cfg.model.encoder not in wants:
    problems.append(f"observation={observation!r} needs model.encoder={' or '.join(map(repr, wants))}, "
                    f"got {cfg.model.encoder!r}")
  if observation == "image":
    r = cfg.render
    if not (r.height >= 8 and r.width >= 8):
      problems.append(f"render.height and render.width must be >= 8 pixels, got {r.height}x{r.width}")
    task_pos, task_lookat, task_fovy = task_class.default_camera
    pos = task_pos if r.get("camera_pos") is None else r.camera_pos
    lookat = task_lookat if r.get("camera_lookat") is None else r.camera_lookat
    fovy = task_fovy if r.get("fovy") is None else r.fovy
    if not 0 < fovy < 180:
      problems.append(f"render.fovy must be in (0, 180) degrees, got {fovy}")
    if not r.far > 0:
      problems.append(f"render.far must be positive, got {r.far}")
    if len(tuple(pos)) != 3 or len(tuple(lookat)) != 3:
      problems.append("render.camera_pos and render.camera_lookat must have 3 entries")
    elif np.allclose(np.asarray(pos, float), np.asarray(lookat, float)):
      problems.append("render.camera_pos and render.camera_lookat must differ")
    views = r.get("views", None)
    if views is not None:
      unknown = sorted(set(views) - set(task_class.camera_views))
      if unknown or not tuple(views):
        problems.append(f"render.views: unknown view(s) {unknown or list(views)} of task {cfg.task!r}; "
                        f"known: {list(task_class.camera_views)}")
    if cfg.augment.random_shift < 0 or cfg.augment.random_shift >= min(r.height, r.width):
      problems.append(f"augment.random_shift must be in [0, image size), got {cfg.augment.random_shift}")
    if reads_datasets(cfg) and r.get("depth", False):
      problems.append("render.depth with datasets: dataset cameras give colour only; set render.depth=False")
    if cfg.model.encoder in wants:
      enc = cfg.model.encoder
      try:  # the encoder checks its own settings, on an abstract copy (one view's image size): a
        # ResNet-18 allocated for real would compile each weight's initialiser, seconds on a CPU
        nnx.eval_shape(lambda: ENCODERS[enc](1, (r.height, r.width, 3), 1, 1, 1, 1, rngs=nnx.Rngs(0),
                                             **dict(cfg.model.get(enc, {}))))
      except (ValueError, TypeError) as e:
        problems.append(f"model.{enc}: {e}")


# --- Defaults. -------------------------------------------------------------------------------


def _domain_fields(task_class) -> ml_collections.ConfigDict:
  """Every domain field of the task, unset: a field left None takes the gap preset's value."""
  fields = {}
  for f in dataclasses.fields(task_class.domain_class):
    if f.name != "region":
      default = f.default
      fields[f.name] = config_dict.placeholder(str if isinstance(default, str) else
                                               tuple if isinstance(default, tuple) else float)
  return ml_collections.ConfigDict(fields)


def defaults_for(task: str) -> ml_collections.ConfigDict:
  """gdacot's defaults for `task`: what a field holds unless the user set it."""
  return get_config(task if task != DEFAULT_TASK else None)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = [v for v in (arg or "").split(",") if v]
  # A variant that names a task (registered, or an import path) builds the config for it.
  tasks = [v for v in variants if v in TASKS or ":" in v]
  if len(tasks) > 1:
    raise ValueError(f"config variants {tasks} name two tasks; choose one")
  # paper A's setting is an arm with a front and a wrist camera: lift, unless a task is named.
  task = tasks[0] if tasks else "lift" if "paper" in variants else DEFAULT_TASK
  task_class = get_task(task)
  variants = [v for v in variants if v not in tasks]

  c = ml_collections.ConfigDict()
  c.task = task
  # real_only | sim_only | cotrain | mmd | ot_marginal | ot_joint | uot_joint | adda | cfg | cfg_adda
  c.method = "uot_joint"
  c.seed = 0
  # Seeds trained together in one program (vmap over the train state, as purejaxrl does; an
  # image run on a CPU steps them in turn, gdacot.train.step.SteppedChunk):
  # seed, seed + 1, ..., seed + num_seeds - 1. They share the demos (generated with data.seed);
  # evaluation reports every seed and the interval over seeds.
  c.num_seeds = 1

  # The two domains: "sim", and "real" = sim shifted by the gap preset (gdacot/envs/domains.py):
  # sensor_physics (this state benchmark's) | physics | visual | visual_physics. Every field of
  # either domain can be set on top, e.g. --config.domains.real.cube_mass=0.5.
  c.gap = task_class.default_gap
  c.domains = ml_collections.ConfigDict({name: _domain_fields(task_class) for name in DOMAIN_NAMES})

  c.data = ml_collections.ConfigDict()
  c.data.seed = -1  # the demos' seed; -1: the run's seed
  c.data.num_sim_demos = 400  # split evenly over sim_regions
  c.data.num_real_demos = 20  # split evenly over real_regions
  c.data.sim_regions = ("in", "ood")
  c.data.real_regions = ("in",)  # real demos never start in "ood": that is the generalisation test
  c.data.expert_noise = 0.1
  c.data.demo_batch = 128
  # The domains' images live on every device (gdacot/data/dataset.py): a run whose images would
  # take more than this fraction of one device's memory (a CPU's: the host's) is refused before
  # the workdir is made, with the sizes and the ways out.
  c.data.image_memory_fraction = 0.5

  # Demos read from dataset files instead of generated (a dataset directory of a registered
  # format, gdacot/data/sources/): "" generates them in MJX. A domain read from a dataset ignores
  # num_*_demos and *_regions. sources.<domain> maps step fields to the policy's inputs.
  c.real_data = ""
  c.sim_data = ""
  c.sources = sources_config()  # per domain: format ("" detects it) and key map (gdacot/data/sources/)
  c.rlds = legacy_rlds_config()  # the old name of the key map: a field set here overrides sources.<domain>

  # "state": the 8-d state vector (MLP encoder); "image": the on-device camera's frames plus
  # proprioception (model.encoder must be "cnn"), rendered as `render` says.
  c.observation = "state"
  camera_pos, camera_lookat, fovy = task_class.default_camera
  c.render = ml_collections.ConfigDict({
      "height": 32, "width": 32,  # of each view
      "depth": False,  # a 4th, depth channel
      "far": 2.0,  # metres: depth of empty pixels, and the top of the depth channel's range
      # The sim front camera: the config's task's (`Task.default_camera`; `--config.task=` alone
      # keeps push_cube's: use the task variant, e.g. `:lift`, for another task's images).
      "camera_pos": tuple(camera_pos), "camera_lookat": tuple(camera_lookat), "fovy": float(fovy),
      # Cameras drawn side by side, of the task's `camera_views` (arm tasks: front and wrist);
      # None: the task's default.
      "views": config_dict.placeholder(tuple),
  })
  c.augment = ml_collections.ConfigDict({"random_shift": 2})  # DrQ shift of training images, pixels (0: off)

  c.obs_horizon = 2
  c.chunk = 8  # actions predicted
  c.execute = 2  # actions executed before predicting again

  c.model = ml_collections.ConfigDict()
  c.model.encoder = "mlp"
  c.model.head = "mlp"  # mlp (regression, fast) | diffusion | flow
  c.model.latent_dim = 64
  c.model.hidden = 256
  c.model.depth = 2
  # Settings of the image encoder (gdacot/models/encoders.py), read when it is chosen.
  # stem "conv" (3x3, stride 2: ResNet-style) or "patch" (patch x patch patches through a matmul).
  c.model.cnn = ml_collections.ConfigDict({"channels": (16, 32), "groups": 8, "pooling": "spatial_softmax",
                                           "stem": "conv", "patch": 4})
  # model.encoder="resnet": a ResNet with GroupNorm per camera view (paper A's); channels and
  # blocks per stage, ResNet-18's by default; groups of its GroupNorms.
  c.model.resnet = ml_collections.ConfigDict({"channels": (64, 128, 256, 512), "blocks": (2, 2, 2, 2), "groups": 8})
  # Settings of the generative heads, read when that head is chosen.
  c.model.diffusion = ml_collections.ConfigDict({"train_steps": 100, "sample_steps": 10})  # DDPM / DDIM
  c.model.flow = ml_collections.ConfigDict({"sample_steps": 10})  # Euler steps

  # Mixing ratio, PER SAMPLE: the share of real samples in every BC batch (not the share of
  # real datasets). real_only and sim_only force it to 1 and 0.
  c.w = 0.1
  c.batch_size = 256

  c.align = ml_collections.ConfigDict()
  # L = L_BC + lam * L_align for OT and MMD (0.1 over-aligns here: BC loss 2.5x, real success ~0);
  # adv_lam weighs the adversarial (gradient-reversal) loss of adda and cfg_adda instead.
  c.align.lam = 0.01
  c.align.adv_lam = 0.1
  c.align.batch_size = 128  # B_ot: sim and real OT batches of this size each
  c.align.target = "action"  # y of the joint cost: "action" (first of the chunk) or "proprio"
  c.align.alpha_feat = 1.0
  c.align.alpha_y = 1.0
  c.align.normalize_cost = True  # each cost term / its detached mean; see gdacot/align/uot.py
  c.align.epsilon = 0.05  # entropic regularisation, relative to the normalised cost
  c.align.rho = 1.0  # KL marginal penalty (POT's reg_m); OTT tau = rho / (rho + epsilon)
  c.align.differentiate_plan = False  # True: gradients through the Sinkhorn iterations too
  c.align.sinkhorn_iters = 200
  c.align.sinkhorn_threshold = 1e-3
  # The solver (gdacot/align/uot.py's SOLVER_DEFAULTS; BUILD_NOTES issue 18), the same plan
  # whatever these say: sinkhorn_recenter re-centres the potentials (unbalanced problems),
  # sinkhorn_momentum over-relaxes each update, sinkhorn_check_every updates run between
  # convergence checks, sinkhorn_solver is "stabilized" (OTT's iteration in the log-stabilised
  # scaling form, gdacot/align/sinkhorn.py: one matrix exponential per check instead of two per
  # update) or "ott" (OTT-JAX's own). A run saved before a field keeps what it ran with.
  for name, value in SOLVER_DEFAULTS.items():
    c.align[f"sinkhorn_{name}"] = value
  # Remedies for an alignment that does not act (issue 32; gdacot/align/options.py), defaults
  # = the behaviour before them: feature_norm "l2" L2-normalises the features the alignment
  # loss sees; grad_side "real" stops its gradient into the sim features; warmup_steps ramps
  # its weight (lam or adv_lam) linearly from 0 to full over that many steps.
  for name, value in OPTION_DEFAULTS.items():
    c.align[name] = value
  # OT batches: "dtw" pairs each real frame with a sim frame near a DTW-matched frame of a
  # DTW-close sim demo (paper A's sampler); "random" draws the two batches independently.
  c.align.pairing = "dtw"
  # DTW on the z-scored pusher position; distance = mean ground distance along the warping
  # path. sharpness 20 / cutoff 0.3 give ~18 effective sim demos per real demo here (paper A's
  # 10 / 0.01 give ~33); window in frames, the low end of paper A's 5-40 sweep (gdacot/data/pairing.py).
  c.align.dtw = ml_collections.ConfigDict({"sharpness": 20.0, "cutoff": 0.3, "window": 5})

  # Domain label of cfg / cfg_adda (paper B): dropped with probability `dropout` in training;
  # at inference the policy is guided with (1 + g) f(c) - g f(none), g = `guidance`.
  c.domain_label = ml_collections.ConfigDict({"dropout": 0.2, "guidance": -0.5})

  # Paper B's alignment analysis at each checkpoint and at the end, on the EMA encoder's
  # features of this many fixed frames per domain: Wasserstein distance and discernibility.
  c.analysis = ml_collections.ConfigDict({"frames": 1024})

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 1e-3
  c.optim.weight_decay = 1e-4
  c.optim.grad_clip = 1.0

  c.ema_decay = 0.999  # EMA of the parameters (with warm-up); evaluation uses it (eval.use_ema)

  c.steps = 4000
  c.log_every = 100
  c.ckpt_every = 1000  # a multiple of log_every
  c.keep_checkpoints = 3  # the newest k ...
  c.keep_best = 1  # ... plus the best k by best_metric ("" keeps only the newest)
  c.best_metric = "eval/real:in"  # any logged metric, or "eval/DOMAIN:REGION" from ckpt_eval
  c.best_mode = "max"
  # SIGTERM: seconds to reach a chunk boundary and save there; a save under way when they end
  # finishes first (gdacot/train/preemption.py). 20 leaves the save about 10 s of Kubernetes'
  # default 30 s before SIGKILL; set it to your scheduler's grace minus the time a save takes.
  c.preemption_grace_s = DEFAULT_GRACE_S
  # Scoring at each checkpoint, for best_metric: compiled MJX rollouts of the EMA parameters.
  c.ckpt_eval = ml_collections.ConfigDict()
  c.ckpt_eval.episodes = 100  # 0: no scoring
  c.ckpt_eval.pairs = ("real:in",)

  c.eval = ml_collections.ConfigDict()
  c.eval.episodes = 200
  c.eval.batch_size = 100
  c.eval.pairs = ("real:in", "real:ood", "sim:in", "sim:ood")
  c.eval.use_ema = True

  # Logging besides metrics.jsonl and TensorBoard (gdacot/train/metrics.py). wandb: the same
  # scalars, the evaluation video and the feature PCA plot to Weights & Biases (pip install
  # 'gdacot[wandb]'; WANDB_MODE=offline writes them locally); a resumed run continues the same
  # wandb run. video_episodes: episodes of the first evaluation pair shown in the video (also in
  # TensorBoard); 0 for none.
  c.log = ml_collections.ConfigDict({"wandb": False, "project": "gdacot", "entity": "", "tags": (),
                                     "video_episodes": 4})

  known = ("smoke", "diffusion", "flow", "image", "paper", *sorted(set(GAP_NAMES) - {"sensor_physics"}), *sorted(TASKS))
  unknown = sorted(set(variants) - set(known))
  if unknown:
    raise ValueError(f"unknown config variant(s) {unknown}; use {', '.join(known)} or a task's import path "
                     "'my_pkg.my_module:MyTask' (comma-separated)")
  if "diffusion" in variants and "flow" in variants:
    raise ValueError("config variants 'diffusion' and 'flow' name two heads; choose one")
  gaps = [v for v in variants if v in GAP_NAMES]
  if len(gaps) > 1:
    raise ValueError(f"config variants {gaps} name two gaps; choose one")
  if "image" in variants:
    # Camera observations, and paper A's visual gap unless a gap variant says otherwise. Sized
    # for a 2-core CPU (a uot_joint step ~0.15 s; channels (16, 32) cost 4.5x that): on a GPU,
    # raise model.cnn.channels, batch sizes and render size.
    c.observation = "image"
    c.model.encoder = "cnn"
    c.model.cnn.channels = (8, 16)
    c.gap = "visual"
    c.batch_size = 64
    c.align.batch_size = 64
    c.steps = 1500
    c.ckpt_every = 500
    c.analysis.frames = 512
  if "paper" in variants:
    # Paper A's setting as PAPERS.md gives it, sized for a GPU (hours on this CPU: see
    # docs/reproducing.md). Images: the task's views (an arm's front and wrist) at 64x64 each
    # (paper A gives no size; Diffusion Policy's images are 84 to 96), the visual gap.
    c.observation = "image"
    c.gap = "visual"
    c.render.height = c.render.width = 64
    c.augment.random_shift = 4  # Diffusion Policy's random crops keep ~90% of each side
    # A ResNet-18 (GroupNorm, spatial softmax) per view, the diffusion head (DDPM, 100 steps, as
    # many sampling steps), observation horizon 2, a chunk of 16 with 8 executed.
    c.model.encoder = "resnet"
    c.model.head = "diffusion"
    c.model.latent_dim = 128
    c.model.hidden = 512
    c.model.diffusion.sample_steps = 100
    c.obs_horizon, c.chunk, c.execute = 2, 16, 8
    # Data as in paper A's generalisation test: 500 sim demos per region ("in", "ood"), 10 real
    # ones in "in" only; BC batches about 90% sim / 10% real.
    c.data.num_sim_demos = 1000
    c.data.num_real_demos = 10
    c.w = 0.1
    # Adam at lr 1e-4 (constant: PAPERS.md names no schedule) with an EMA, as paper A; weight
    # decay and EMA decay as Diffusion Policy's. A few hundred passes over lift's ~30k sim frames.
    c.optim.learning_rate = 1e-4
    c.optim.weight_decay = 1e-6
    c.ema_decay = 0.9999
    c.batch_size = 128
    c.align.batch_size = 64
    c.steps = 100_000
    c.log_every = 200
    c.ckpt_every = 10_000
  if gaps:
    c.gap = gaps[0]
  if "diffusion" in variants or "flow" in variants:
    # Paper A's policy shape: a generative head, a longer chunk, half of it executed.
    c.model.head = "diffusion" if "diffusion" in variants else "flow"
    c.chunk = 16
    c.execute = 8
  # Defaults within the CPU's cap on every backend: asking the backend here would initialise it
  # before a multi-process run's jax.distributed.initialize(). The check (validate_config) is
  # the backend's own, so a GPU run may raise them.
  if task_class.max_batch:
    c.data.demo_batch = min(c.data.demo_batch, task_class.max_batch)
    c.eval.batch_size = min(c.eval.batch_size, task_class.max_batch)
  if "smoke" in variants:
    c.data.num_sim_demos = 16
    c.data.num_real_demos = 4
    # Demos at the evaluation's batch size: a process that generates demos and evaluates then
    # batches the task's traced reset and step once, not once per size (vmap batches a traced
    # function anew for every batch size: 3-4 s of push_cube's, 7 s of lift's on a CPU).
    c.data.demo_batch = 8
    c.model.hidden = 64
    c.batch_size = 32
    c.align.batch_size = 16
    c.steps = 40
    c.log_every = 10
    c.ckpt_every = 20
    c.ckpt_eval.episodes = 8
    c.eval.episodes = 8
    c.eval.batch_size = 8
    c.eval.pairs = ("real:in", "real:ood")
    c.analysis.frames = 64
    c.log.video_episodes = 0  # rendering a video costs a smoke run seconds of host OpenGL
    c.render.height = c.render.width = 16
    c.model.cnn.channels = (8, 16)
    if "paper" in variants:  # two narrow one-block stages; sampling steps as the default's
      c.model.resnet.channels, c.model.resnet.blocks = (8, 16), (1, 1)
      c.model.diffusion.sample_steps = 10
  return c


# --- The single-field rules, next to the defaults they guard. -------------------------------
# validate_config applies every rule, collecting the problems with its cross-field checks. A
# rule takes (field, value) and returns the problem or None. tests/test_config_rules.py checks
# that every field of the config has a rule, or is listed in CHECKED_IN_CODE or FREE.


def _must(ok, must: str, label: str = ""):
  """A rule: `ok(value)`, else "<label, or the field> must be <must>, got <value>"."""

  def rule(field, value):
    try:
      fine = bool(ok(value))
    except TypeError:  # a value of another type (None, a string where a number goes)
      fine = False
    return None if fine else f"{label or field} must be {must}, got {value!r}"

  return rule


def _at_least(low, note: str = ""):
  return _must(lambda v: v >= low, f">= {low}{note}")


def _between(low, high, brackets: str = "[]", label: str = ""):
  """In the interval `low, high`, each end closed "[ ]" or open "( )"."""
  above = (lambda v: v >= low) if brackets[0] == "[" else (lambda v: v > low)
  below = (lambda v: v <= high) if brackets[1] == "]" else (lambda v: v < high)
  return _must(lambda v: above(v) and below(v), f"in {brackets[0]}{low}, {high}{brackets[1]}", label)


def _one_of(*choices):
  return _must(lambda v: v in choices, " or ".join(repr(c) for c in choices))


def _known(noun: str, registry):
  """One of a registry's names (methods, encoders, heads)."""
  return lambda field, value: None if value in registry else f"unknown {noun} {value!r}; known: {sorted(registry)}"


_POSITIVE = _must(lambda v: v > 0, "positive")

RULES = {
    "method": _known("method", METHODS),
    "num_seeds": _at_least(1),
    "observation": _one_of("state", "image"),
    "w": _between(0, 1, "[]", label="w (share of real samples per BC batch)"),
    "batch_size": _POSITIVE,
    "steps": _at_least(0),
    "log_every": _POSITIVE,
    "ema_decay": _between(0, 1, "[)"),
    "keep_checkpoints": _at_least(1),
    "keep_best": _at_least(0),
    "best_mode": _one_of("max", "min"),
    "preemption_grace_s": _at_least(0, " seconds"),
    "obs_horizon": _at_least(1),
    "data.seed": _must(lambda v: v >= -1, ">= 0, or -1 for the run's seed"),
    "data.num_sim_demos": _POSITIVE,
    "data.num_real_demos": _POSITIVE,
    "data.expert_noise": _at_least(0),
    "data.demo_batch": _POSITIVE,
    "data.image_memory_fraction": _between(0, 1, "(]"),
    "model.encoder": _known("encoder", ENCODERS),
    "model.head": _known("head", HEADS),
    "model.latent_dim": _POSITIVE,
    "model.hidden": _POSITIVE,
    "model.depth": _at_least(0),
    "model.resnet.channels": _must(lambda v: len(v) > 0 and all(int(x) == x >= 1 for x in v),
                                   "a non-empty tuple of widths >= 1 (one per stage)"),
    "model.resnet.blocks": _must(lambda v: len(v) > 0 and all(int(x) == x >= 1 for x in v),
                                 "a non-empty tuple of block counts >= 1 (one per stage)"),
    "model.resnet.groups": _POSITIVE,
    "optim.learning_rate": _POSITIVE,
    "optim.weight_decay": _at_least(0),
    "optim.grad_clip": _POSITIVE,
    "align.lam": _at_least(0),
    "align.adv_lam": _at_least(0),
    "align.batch_size": _must(lambda v: v > 1, "> 1"),
    "align.target": _one_of("action", "proprio"),
    "align.epsilon": _POSITIVE,
    "align.rho": _POSITIVE,
    "align.sinkhorn_iters": _POSITIVE,
    "align.sinkhorn_threshold": _POSITIVE,
    "align.sinkhorn_momentum": _between(1, 2, "[)"),
    "align.sinkhorn_check_every": _at_least(1),
    "align.sinkhorn_solver": _must(lambda v: v in SOLVERS, f"one of {SOLVERS}"),
    "align.pairing": _one_of("dtw", "random"),
    "align.feature_norm": _one_of(*FEATURE_NORMS),
    "align.grad_side": _one_of(*GRAD_SIDES),
    "align.warmup_steps": _at_least(0, " steps"),
    "align.dtw.sharpness": _POSITIVE,
    "align.dtw.window": _at_least(0, " frames"),
    "domain_label.dropout": _between(0, 1, "[)"),
    "analysis.frames": _at_least(0, " (0: no analysis)"),
    "ckpt_eval.episodes": _at_least(0),
    "eval.episodes": _POSITIVE,
    "eval.batch_size": _POSITIVE,
    "log.video_episodes": _at_least(0),
}
# Checked as code (validate_config, _check_observation), with other fields or the task; whole
# blocks by their owners: the task's domain class, check_sources, the encoder and head classes.
CHECKED_IN_CODE = ("task", "gap", "chunk", "execute", "ckpt_every", "best_metric", "real_data", "sim_data",
                   "data.sim_regions", "data.real_regions", "eval.pairs", "ckpt_eval.pairs", "log.project",
                   "augment.random_shift", "render", "domains", "sources", "rlds", "model.cnn", "model.diffusion",
                   "model.flow")
# Any value of the field's type runs.
FREE = ("seed", "align.alpha_feat", "align.alpha_y", "align.normalize_cost", "align.differentiate_plan",
        "align.sinkhorn_recenter", "align.dtw.cutoff", "domain_label.guidance", "eval.use_ema", "log.wandb",
        "log.entity", "log.tags")


_ABSENT = object()


def rule_problems(cfg) -> list[str]:
  """The problem of every field that breaks its rule (RULES); a field the config lacks (an
  older saved config's, before it is completed) has none."""
  problems = []
  for field, rule in RULES.items():
    node = cfg
    for part in field.split("."):
      node = node.get(part, _ABSENT) if hasattr(node, "get") else _ABSENT
    if node is not _ABSENT:
      problems.append(rule(field, node))
  return [p for p in problems if p]
