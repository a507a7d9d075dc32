"""Config of `experiments.cotrain`: sim-and-real co-training on the built-in benchmark.

  --config=experiments/configs/cotrain.py        the default benchmark (minutes on a CPU)
  --config=experiments/configs/cotrain.py:smoke  seconds, for tests
  --config=experiments/configs/cotrain.py:diffusion        the diffusion-policy head (paper A's policy)
  --config=experiments/configs/cotrain.py:flow,smoke       variants combine, comma-separated
  --config=experiments/configs/cotrain.py:image            camera images + proprioception, CNN encoder,
                                                           the visual gap (paper A's setting)
  --config=experiments/configs/cotrain.py:image,physics    gap variants: visual | physics | visual_physics
Any field can be overridden, e.g. --config.method=cotrain --config.seed=3 --config.w=0.2.
"""

import dataclasses

import ml_collections
from ml_collections import config_dict

from gdacot.envs import DOMAIN_NAMES, GAPS, DomainSpec


def _domain_fields() -> ml_collections.ConfigDict:
  """Every domain field, unset: a field left None takes the gap preset's value."""
  fields = {}
  for f in dataclasses.fields(DomainSpec):
    if f.name != "region":
      default = f.default
      fields[f.name] = config_dict.placeholder(str if isinstance(default, str) else
                                               tuple if isinstance(default, tuple) else float)
  return ml_collections.ConfigDict(fields)


def _key_map() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "split": "train",
      "state_key": "observation/state",  # '/'-joined path inside a step
      "action_key": "action",
      "image_keys": (),  # read and checked; the MLP encoder cannot consume images (refused)
      "state_slice": "",  # START:STOP on the last axis, e.g. "0:3"; "" keeps all
      "action_slice": "",
      "max_episodes": 0,  # 0: every episode of the split
  })


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "push_cube"
  # real_only | sim_only | cotrain | mmd | ot_marginal | ot_joint | uot_joint | adda | cfg | cfg_adda
  c.method = "uot_joint"
  c.seed = 0
  # Seeds trained together in one program (vmap over the train state, as purejaxrl does):
  # seed, seed + 1, ..., seed + num_seeds - 1. They share the demos (generated with data.seed);
  # evaluation reports every seed and the interval over seeds.
  c.num_seeds = 1

  # The two domains: "sim", and "real" = sim shifted by the gap preset (gdacot/envs/domains.py):
  # sensor_physics (this state benchmark's) | physics | visual | visual_physics. Every field of
  # either domain can be set on top, e.g. --config.domains.real.cube_mass=0.5.
  c.gap = "sensor_physics"
  c.domains = ml_collections.ConfigDict({name: _domain_fields() for name in DOMAIN_NAMES})

  c.data = ml_collections.ConfigDict()
  c.data.seed = -1  # the demos' seed; -1: the run's seed
  c.data.num_sim_demos = 400  # split evenly over sim_regions
  c.data.num_real_demos = 20  # split evenly over real_regions
  c.data.sim_regions = ("in", "ood")
  c.data.real_regions = ("in",)  # real demos never start in "ood": that is the generalisation test
  c.data.expert_noise = 0.1
  c.data.demo_batch = 128

  # Demos read from RLDS datasets instead of generated (a directory holding dataset_info.json,
  # or one dataset below it): "" generates them in MJX. A domain read from a dataset ignores
  # num_*_demos and *_regions. rlds.<domain> maps step fields to the policy's inputs.
  c.real_data = ""
  c.sim_data = ""
  c.rlds = ml_collections.ConfigDict({"sim": _key_map(), "real": _key_map()})

  # "state": the 8-d state vector (MLP encoder); "image": the on-device camera's frames plus
  # proprioception (model.encoder must be "cnn"), rendered as `render` says.
  c.observation = "state"
  c.render = ml_collections.ConfigDict({
      "height": 32, "width": 32,
      "depth": False,  # a 4th, depth channel
      "far": 2.0,  # metres: depth of empty pixels, and the top of the depth channel's range
      "camera_pos": (0.0, -0.3, 0.65), "camera_lookat": (0.0, -0.03, 0.0), "fovy": 50.0,  # the sim camera
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
  c.model.cnn = ml_collections.ConfigDict({"channels": (16, 32), "groups": 8, "pooling": "spatial_softmax"})
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
  # Scoring at each checkpoint, for best_metric: compiled MJX rollouts of the EMA parameters.
  c.ckpt_eval = ml_collections.ConfigDict()
  c.ckpt_eval.episodes = 100  # 0: no scoring
  c.ckpt_eval.pairs = ("real:in",)

  c.eval = ml_collections.ConfigDict()
  c.eval.episodes = 200
  c.eval.batch_size = 100
  c.eval.pairs = ("real:in", "real:ood", "sim:in", "sim:ood")
  c.eval.use_ema = True

  variants = [v for v in (arg or "").split(",") if v]
  known = ("smoke", "diffusion", "flow", "image", *sorted(set(GAPS) - {"sensor_physics"}))
  unknown = sorted(set(variants) - set(known))
  if unknown:
    raise ValueError(f"unknown config variant(s) {unknown}; use {', '.join(known)} (comma-separated)")
  if "diffusion" in variants and "flow" in variants:
    raise ValueError("config variants 'diffusion' and 'flow' name two heads; choose one")
  gaps = [v for v in variants if v in GAPS]
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
  if gaps:
    c.gap = gaps[0]
  if "diffusion" in variants or "flow" in variants:
    # Paper A's policy shape: a generative head, a longer chunk, half of it executed.
    c.model.head = "diffusion" if "diffusion" in variants else "flow"
    c.chunk = 16
    c.execute = 8
  if "smoke" in variants:
    c.data.num_sim_demos = 16
    c.data.num_real_demos = 4
    c.data.demo_batch = 16
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
    c.render.height = c.render.width = 16
    c.model.cnn.channels = (8, 16)
  return c
