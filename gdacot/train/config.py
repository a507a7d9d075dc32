"""Checks a co-training config before any compute, listing every problem found."""

from __future__ import annotations

import os

import numpy as np

from flax import nnx

from gdacot.align import METHODS
from gdacot.envs import DOMAIN_NAMES, GAPS, REGIONS, TASKS, domain_from_config
from gdacot.models import ENCODERS, HEADS


class ConfigError(ValueError):
  pass


def parse_eval_pair(pair: str) -> tuple[str, str]:
  """'real:ood' -> ('real', 'ood')."""
  domain, sep, region = str(pair).partition(":")
  if not sep:
    raise ConfigError(f"eval pair {pair!r} must read DOMAIN:REGION, e.g. 'real:ood'")
  return domain, region


def validate_config(cfg) -> None:
  problems = []

  def check(ok, msg):
    if not ok:
      problems.append(msg)

  check(cfg.task in TASKS, f"unknown task {cfg.task!r}; known: {sorted(TASKS)}")
  check(cfg.method in METHODS, f"unknown method {cfg.method!r}; known: {sorted(METHODS)}")
  check(0.0 <= cfg.w <= 1.0, f"w (share of real samples per BC batch) must be in [0, 1], got {cfg.w}")
  a = cfg.align
  check(a.epsilon > 0, f"align.epsilon must be positive, got {a.epsilon}")
  check(a.rho > 0, f"align.rho must be positive, got {a.rho}")
  check(a.lam >= 0, f"align.lam must be non-negative, got {a.lam}")
  check(a.batch_size > 1, f"align.batch_size must be > 1, got {a.batch_size}")
  check(a.target in ("action", "proprio"), f"align.target must be 'action' or 'proprio', got {a.target!r}")
  check(a.sinkhorn_iters > 0, f"align.sinkhorn_iters must be positive, got {a.sinkhorn_iters}")
  check(a.adv_lam >= 0, f"align.adv_lam must be non-negative, got {a.adv_lam}")
  check(a.pairing in ("dtw", "random"), f"align.pairing must be 'dtw' or 'random', got {a.pairing!r}")
  check(a.dtw.sharpness > 0, f"align.dtw.sharpness must be positive, got {a.dtw.sharpness}")
  check(a.dtw.window >= 0, f"align.dtw.window must be >= 0 frames, got {a.dtw.window}")
  check(0.0 <= cfg.domain_label.dropout < 1.0,
        f"domain_label.dropout must be in [0, 1), got {cfg.domain_label.dropout}")
  check(cfg.analysis.frames >= 0, f"analysis.frames must be >= 0 (0: no analysis), got {cfg.analysis.frames}")
  check(cfg.batch_size > 0, f"batch_size must be positive, got {cfg.batch_size}")
  check(cfg.num_seeds >= 1, f"num_seeds must be >= 1, got {cfg.num_seeds}")
  check(cfg.data.seed >= -1, f"data.seed must be >= 0, or -1 for the run's seed; got {cfg.data.seed}")
  check(cfg.steps >= 0, f"steps must be >= 0, got {cfg.steps}")
  check(cfg.log_every > 0, f"log_every must be positive, got {cfg.log_every}")
  check(cfg.ckpt_every > 0 and cfg.ckpt_every % max(cfg.log_every, 1) == 0,
        f"ckpt_every must be a positive multiple of log_every={cfg.log_every}, got {cfg.ckpt_every}")
  check(0.0 <= cfg.ema_decay < 1.0, f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
  check(cfg.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {cfg.keep_checkpoints}")
  check(cfg.keep_best >= 0, f"keep_best must be >= 0, got {cfg.keep_best}")
  check(cfg.best_mode in ("max", "min"), f"best_mode must be 'max' or 'min', got {cfg.best_mode!r}")
  if cfg.best_metric.startswith("eval/"):
    scored = {f"eval/{p}" for p in cfg.ckpt_eval.pairs} if cfg.ckpt_eval.episodes > 0 else set()
    check(cfg.best_metric in scored, f"best_metric {cfg.best_metric!r} is not scored at checkpoints: "
          f"ckpt_eval scores {sorted(scored) or 'nothing (ckpt_eval.episodes=0)'}")
  check(cfg.obs_horizon >= 1, f"obs_horizon must be >= 1, got {cfg.obs_horizon}")
  check(1 <= cfg.execute <= cfg.chunk, f"execute must be in [1, chunk={cfg.chunk}], got {cfg.execute}")
  check(cfg.model.encoder in ENCODERS, f"unknown encoder {cfg.model.encoder!r}; known: {sorted(ENCODERS)}")
  _check_observation(cfg, problems)
  check(cfg.model.head in HEADS, f"unknown head {cfg.model.head!r}; known: {sorted(HEADS)}")
  if cfg.model.head in HEADS:  # the head checks its own settings (e.g. 1 <= sample_steps <= train_steps)
    try:  # on a 1-unit copy: cheap, and exactly the constructor's checks
      HEADS[cfg.model.head](1, 1, 1, 1, 1, rngs=nnx.Rngs(0), **dict(cfg.model.get(cfg.model.head, {})))
    except (ValueError, TypeError) as e:
      problems.append(f"model.{cfg.model.head}: {e}")
  d = cfg.data
  check(d.num_sim_demos > 0, f"data.num_sim_demos must be positive, got {d.num_sim_demos}")
  check(d.num_real_demos > 0, f"data.num_real_demos must be positive, got {d.num_real_demos}")
  for key in ("sim_regions", "real_regions"):
    regions = tuple(d[key])
    check(len(regions) > 0, f"data.{key} is empty")
    for r in regions:
      check(r in REGIONS, f"data.{key}: unknown region {r!r}; known: {sorted(REGIONS)}")
  check(cfg.get("gap", "sensor_physics") in GAPS, f"gap: unknown gap {cfg.get('gap')!r}; known: {sorted(GAPS)}")
  for name in DOMAIN_NAMES:
    try:
      domain_from_config(cfg, name, "in")
    except (ValueError, TypeError) as e:
      problems.append(f"domains.{name}: {e}")
  _check_rlds(cfg, problems)
  check(cfg.eval.episodes > 0, f"eval.episodes must be positive, got {cfg.eval.episodes}")
  check(cfg.ckpt_eval.episodes >= 0, f"ckpt_eval.episodes must be >= 0, got {cfg.ckpt_eval.episodes}")
  for pair in tuple(cfg.eval.pairs) + tuple(cfg.ckpt_eval.pairs):
    try:
      domain, region = parse_eval_pair(pair)
      check(domain in DOMAIN_NAMES, f"eval pair {pair!r}: unknown domain {domain!r}; known: {list(DOMAIN_NAMES)}")
      check(region in REGIONS, f"eval pair {pair!r}: unknown region {region!r}; known: {sorted(REGIONS)}")
    except ConfigError as e:
      problems.append(str(e))
  if problems:
    raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def _check_observation(cfg, problems: list) -> None:
  """Observation kind, camera and the encoder that must go with them."""
  observation = cfg.get("observation", "state")
  if observation not in ("state", "image"):
    problems.append(f"observation must be 'state' or 'image', got {observation!r}")
    return
  wants = {"state": "mlp", "image": "cnn"}[observation]
  if cfg.model.encoder != wants:
    problems.append(f"observation={observation!r} needs model.encoder={wants!r}, got {cfg.model.encoder!r}")
  if observation == "image":
    r = cfg.render
    if not (r.height >= 8 and r.width >= 8):
      problems.append(f"render.height and render.width must be >= 8 pixels, got {r.height}x{r.width}")
    if not 0 < r.fovy < 180:
      problems.append(f"render.fovy must be in (0, 180) degrees, got {r.fovy}")
    if not r.far > 0:
      problems.append(f"render.far must be positive, got {r.far}")
    if len(tuple(r.camera_pos)) != 3 or len(tuple(r.camera_lookat)) != 3:
      problems.append("render.camera_pos and render.camera_lookat must have 3 entries")
    elif np.allclose(np.asarray(r.camera_pos, float), np.asarray(r.camera_lookat, float)):
      problems.append("render.camera_pos and render.camera_lookat must differ")
    if cfg.augment.random_shift < 0 or cfg.augment.random_shift >= min(r.height, r.width):
      problems.append(f"augment.random_shift must be in [0, image size), got {cfg.augment.random_shift}")
    if cfg.real_data or cfg.sim_data:
      problems.append("observation='image' with RLDS datasets: dataset images are not wired to the image "
                      "encoder yet; use MJX-generated demos")
    if cfg.model.encoder == "cnn":
      try:  # the encoder checks its own settings, on a tiny copy
        ENCODERS["cnn"](1, (8, 8, 3), 1, 1, 1, 1, rngs=nnx.Rngs(0), **dict(cfg.model.get("cnn", {})))
      except (ValueError, TypeError) as e:
        problems.append(f"model.cnn: {e}")


def _check_rlds(cfg, problems: list) -> None:
  """Dataset paths and key maps; the data itself is checked when it is read (DatasetError)."""
  from gdacot.data.rlds_validate import DatasetError, parse_slice  # pylint: disable=g-import-not-at-top
  for name in ("sim", "real"):
    path, km = str(cfg[f"{name}_data"]), cfg.rlds[name]
    if path and not os.path.isdir(os.path.expanduser(path)):
      problems.append(f"{name}_data: {path!r} is not a directory")
    if not str(km.split):
      problems.append(f"rlds.{name}.split must name a split, e.g. 'train'")
    if km.max_episodes < 0:
      problems.append(f"rlds.{name}.max_episodes must be >= 0 (0: all), got {km.max_episodes}")
    for field in ("state_slice", "action_slice"):
      try:
        parse_slice(km[field], f"rlds.{name}.{field}")
      except DatasetError as e:
        problems.append(str(e))
    # The trainer feeds the encoder a flat state vector; images would be dropped silently.
    encoder = ENCODERS.get(cfg.model.encoder)
    if path and tuple(km.image_keys) and not getattr(encoder, "consumes_images", False):
      problems.append(f"rlds.{name}.image_keys={tuple(km.image_keys)}: encoder {cfg.model.encoder!r} "
                      "takes a flat state vector and cannot consume images; leave image_keys empty "
                      "(tools.rlds_info and gdacot.data.load_rlds read and check images already)")
