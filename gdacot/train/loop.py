"""`train(config, workdir) -> results`: one co-training run, end to end.

Reads top to bottom (big_vision's train.py): check the config, read any dataset files, claim
the workdir, build the run (demos on the device, datasets, DTW pairing, policy, compiled
step and rollout: gdacot.train.build), resume from the newest checkpoint if the workdir holds
this run, train in compiled chunks (SIGTERM saves and returns), score and analyse at
checkpoints, evaluate the EMA parameters in MJX and write eval.json.

Every device of every process is in one mesh: demo generation, training batches and
evaluation episodes are split over it (gdacot/parallel.py). Process 0 writes the run's files;
all processes write checkpoints together. `python -m experiments.cotrain` is a thin command
line around this function; from Python:

    from gdacot.train import get_config, train
    cfg = get_config("smoke")
    results = train(cfg, "runs/smoke")
"""

from __future__ import annotations

import math
import os
import time

import jax
import numpy as np
from flax import nnx

from gdacot import parallel
from gdacot import rollout as rollouts
from gdacot.align import DOMAIN_LABELS
from gdacot.align.analysis import alignment_report
from gdacot.data import demos_key, eval_skips, load_configured, observations
from gdacot.data.sources.config import apply_legacy_rlds
from gdacot.envs import as_json, domain_from_config, env_from_config
from gdacot.io import open_atomic, write_json
from gdacot.machine import device_memory_bytes
from gdacot.stats import aggregate_over_seeds
from gdacot.progress import Progress
from gdacot.train import kept_demos, media
from gdacot.train.build import build, checkpoint_record, run_seeds, seed_slice, val_episodes
from gdacot.train.checkpoints import Checkpoints
from gdacot.train.config import ConfigError, check_mesh, parse_eval_pair, validate_config
from gdacot.train.metrics import MetricsWriter
from gdacot.train.preemption import CHECKPOINT, EVALUATION, SETUP, TRAINING, PreemptionGuard
from gdacot.train.validation import fixed_batch, make_scorer, val_metrics
from gdacot.train.workdir import WorkdirError, WorkdirLock, prepare_workdir, resume_config


def _log(line: str) -> None:
  print(line, flush=True)


def train(cfg, workdir: str, mesh=None, *, explicit=None) -> dict:
  """Runs (or resumes) the co-training run `cfg` in `workdir`; returns what eval.json holds, or
  {"preempted_at": step} when SIGTERM stopped it at a chunk boundary (rerun the same call to
  resume; SIGTERM at other moments exits the process, see gdacot/train/preemption.py).

  A workdir that holds a run resumes it with the config it started with: `explicit` names the
  fields the caller set (the command's --config.* overrides; None: the fields of `cfg` that
  differ from gdacot's defaults), which must match the saved ones (gdacot.train.workdir)."""
  apply_legacy_rlds(cfg)  # the old rlds.* key-map names, moved to sources.* before the config is saved
  cfg = resume_config(cfg, workdir, explicit, log=_log if parallel.is_chief() else lambda line: None)
  validate_config(cfg)
  mesh = mesh if mesh is not None else parallel.make_mesh()
  check_mesh(cfg, mesh)
  chief = parallel.is_chief()  # process 0 holds the workdir and writes the run's files
  with PreemptionGuard(grace_s=cfg.preemption_grace_s) as preemption:
    preemption.enter(SETUP, "nothing was written; the rerun starts from the beginning")
    # One writer per workdir: a second run on it is refused here, before any compute.
    lock, refused = WorkdirLock(workdir), None
    if chief:
      try:  # refusals that need no lock first (another run's config, a foreign directory): untouched
        prepare_workdir(workdir, cfg.to_dict(), check_only=True)
        lock.acquire()
      except WorkdirError as e:
        refused = e
    if not parallel.from_chief(refused is None):
      raise refused or WorkdirError(f"process 0 could not lock workdir {workdir}")
    try:
      return _train_locked(cfg, workdir, mesh, preemption)
    finally:
      lock.release(remove_if_empty=True)  # a run refused before writing anything leaves no workdir


def _train_locked(cfg, workdir: str, mesh, preemption: PreemptionGuard) -> dict:
  chief = parallel.is_chief()
  # Demos given as dataset files are read and checked whole before the workdir is claimed.
  env = env_from_config(cfg)
  from_files = load_configured(cfg, env.obs_size, env.action_size, env.views if env.image_shape else (),
                               1.0 / env.control_dt)
  check_scorable(cfg, from_files, env)
  check_image_memory(cfg, from_files, env)
  check_val_episodes(cfg, from_files)
  resume = parallel.from_chief(prepare_workdir(workdir, cfg.to_dict()) if chief else False)
  preemption.enter(SETUP, "no training step was lost; the rerun redoes the demos, the DTW pairing and the compiles")
  t_start = time.perf_counter()
  _log(f"gdacot: task={cfg.task} method={cfg.method} seeds={run_seeds(cfg)} "
       f"devices={jax.device_count()} ({jax.devices()[0].platform}, {jax.process_count()} process(es)) "
       f"workdir={workdir}{' (resuming)' if resume else ''}")

  # --- Assemble: demos, datasets, pairing, policy, train state, step, rollout. -------------
  # Generated demos are kept in the workdir: a resume samples from the very same ones, on any CPU.
  generated = [name for name in ("sim", "real") if name not in from_files]
  kept = kept_demos.read(workdir, generated, log=_log)
  run = build(cfg, mesh, env=env, demos=kept, from_files=from_files,
              pairing_file=os.path.join(workdir, "pairing.npz"), log=_log)
  method, seeds, num_seeds = run.method, run.seeds, run.num_seeds
  n_real, n_sim = run.demos["real"].num_frames, run.demos["sim"].num_frames
  _log(f"mixing ratio w={method.mixing_ratio(cfg.w)} (per sample). Guideline (paper B): natural "
       f"w_n=N/(N+M)={n_real / (n_real + n_sim):.3f}"
       + (f", upper sqrt(N/M)={math.sqrt(n_real / n_sim):.3f}" if n_sim > 5 * n_real else ""))
  domain = lambda name, region: domain_from_config(cfg, name, region)

  # --- Resume from the newest complete checkpoint. -------------------------------------------
  data_ids = run.data_ids()
  ckpts = Checkpoints(os.path.join(workdir, "checkpoints"), keep_last=cfg.keep_checkpoints,
                      keep_best=cfg.keep_best, best_metric=cfg.best_metric, best_mode=cfg.best_mode)
  preemption.wait_for_saves = ckpts.wait
  latest = ckpts.latest_step()
  resumes_from = lambda step: f"checkpoint {step}" if step else "step 0 (no checkpoint yet)"
  preemption.enter(SETUP, f"no training step was lost; the rerun resumes from {resumes_from(latest)}")
  state, normalizer, data = run.state, run.normalizer, run.data
  if latest is not None:
    kept_demos.check(ckpts.read_record(latest)["sampler"]["data"], data_ids, step=latest, workdir=workdir,
                     kept=kept, generated=generated)
    state, _ = ckpts.restore(latest, state, normalizer, sharding=parallel.replicated(mesh))
    _log(f"resumed from checkpoint step {latest}")
  if chief:  # after the check: demos that a checkpoint refuses are not kept
    kept_demos.write(workdir, run.demos, [name for name in generated if name not in kept], log=_log)

  def save(state, step, metrics):
    record = checkpoint_record(cfg.to_dict(), state_rng=parallel.to_host(state.rng), step=step,
                               obs_size=run.spec["obs_size"], action_size=run.spec["action_size"], data=data_ids,
                               image_shape=run.spec["image_shape"])
    with preemption.saving():  # the grace period lets a save that has begun finish
      ckpts.save(step, state, normalizer, record, metrics)

  # --- Evaluation in MJX: one compiled rollout for checkpoint scoring and the final table. -
  eval_params = lambda s: s.ema_params if cfg.eval.use_ema else s.params
  skipped = _skipped_pairs(cfg, from_files, env)
  for pair, reason in skipped.items():
    _log(f"note: no MJX evaluation of {pair}: {reason}")

  def score(state, step, pairs, episodes, key_of_seed, name, recordings=None, record=0):
    """Success of every seed's policy per (domain, region) pair, as result entries (seed by
    seed; episode keys from `key_of_seed(seed)`, so a seed scores as its own run would).
    `recordings[pair]`: the first seed's first `record` episodes (for the video)."""
    entries = []
    for k, seed in enumerate(seeds):
      params = seed_slice(eval_params(state), k, num_seeds)
      for pair in (p for p in pairs if p not in skipped):
        dname, region = parse_eval_pair(pair)
        successes, n, rec = rollouts.evaluate(run.rollout, params, normalizer, key_of_seed(seed),
                                              domain(dname, region), episodes, cfg.eval.batch_size,
                                              name=f"{name} {pair} seed {seed}", record=record if k == 0 else 0,
                                              label=DOMAIN_LABELS[dname], guidance=cfg.domain_label.guidance)
        if rec is not None and recordings is not None:
          recordings[pair] = rec
        entries.append(rollouts.result_entry(method=cfg.method, domain=dname, region=region,
                                             successes=successes, episodes=n, step=step, seed=seed))
    return entries

  # --- Alignment analysis (paper B): the EMA encoder's features of fixed frames per domain. --
  key = demos_key(cfg)
  analysis_frames = {name: ds.sample(jax.random.fold_in(key, 6 + i), min(cfg.analysis.frames, ds.num_frames)).obs
                     for i, (name, ds) in enumerate((("sim", data.sim), ("real", data.real)))}
  features_fn = jax.jit(lambda params, obs: nnx.merge(run.graphdef, params).features(obs))

  def analyse(state):
    """Per seed: the alignment report and the features (host arrays)."""
    out = []
    for k in range(num_seeds):
      params = seed_slice(eval_params(state), k, num_seeds)
      z = {name: parallel.to_host(features_fn(params, obs)) for name, obs in analysis_frames.items()}
      out.append((alignment_report(z["sim"], z["real"], jax.random.fold_in(key, 8)), z))
    return out

  # --- Held-out episodes: the BC loss and action error of each checkpoint on them. ---------
  val_batches = {name: fixed_batch(ds) for name, ds in (run.val or {}).items()}
  scorer = make_scorer(run.graphdef, cfg.domain_label.guidance) if val_batches else None

  def validate(state):
    params = [seed_slice(eval_params(state), k, num_seeds) for k in range(num_seeds)]
    return val_metrics(scorer, params, val_batches, jax.random.fold_in(key, 9))

  # --- Training: chunks of compiled steps between logs; checkpoints every ckpt_every. ------
  # SIGTERM (preemption) is honoured at the next chunk boundary: save, then return.
  # A run killed before its first checkpoint restarts at 0: its logged rows are dropped too.
  writer = MetricsWriter(workdir, resume_step=latest or 0, log=cfg.get("log"), config=cfg.to_dict()) if chief else None

  def stop_at(state, step, metrics):
    """Preempted: log and save `step` (metrics without scores), and wait for the save."""
    if chief:
      writer.write(step, metrics)
      writer.close()
    save(state, step, metrics)
    ckpts.close()

  step = latest or 0
  progress = Progress("train", cfg.steps, unit="steps", initial=step)
  preemption.enter(TRAINING, f"the rerun resumes from {resumes_from(latest)} and redoes the steps since")
  _log(f"training steps {step + 1}-{cfg.steps} (the first chunk compiles first)")
  while step < cfg.steps:
    n = min(cfg.log_every - step % cfg.log_every, cfg.steps - step)
    state, metrics = run.chunk_fn(state, data, n)
    step += n
    per_seed = parallel.to_host(metrics)  # (num_seeds,) arrays when several seeds train
    if not all(np.all(np.isfinite(v)) for v in per_seed.values()):
      raise FloatingPointError(f"non-finite metrics at step {step}: {per_seed}")
    metrics = {k: float(np.mean(v)) for k, v in per_seed.items()}  # over seeds
    if num_seeds > 1:
      metrics.update({f"{k}/seed{s}": float(per_seed[k][i]) for k in ("loss", "bc_loss")
                      for i, s in enumerate(seeds)})
    checkpoint_now = step % cfg.ckpt_every == 0 or step == cfg.steps
    if preemption.requested():  # save at once: scoring and analysis only rank checkpoints
      stop_at(state, step, dict(metrics, unscored=1.0))
      _log(f"preempted (SIGTERM): saved checkpoint step {step}; not scored; rerun the same command to resume")
      return {"preempted_at": step}
    if checkpoint_now:
      # Scoring and analysis can compile for many seconds: SIGTERM meanwhile saves this step unscored.
      unscored = dict(metrics, unscored=1.0)
      preemption.enter(CHECKPOINT, f"checkpoint {step} was saved unscored; the rerun resumes from it",
                       on_stop=lambda s=state, k=step, m=unscored: stop_at(s, k, m))
      before = [name for name, on in (("scoring", cfg.ckpt_eval.episodes > 0), ("validation", bool(val_batches)),
                                      ("analysis", cfg.analysis.frames > 0)) if on]
      if before:
        _log(f"checkpoint {step}: {', '.join(before)} before the save")
    if checkpoint_now and cfg.ckpt_eval.episodes > 0:  # scores for keeping the best checkpoints
      entries = score(state, step, cfg.ckpt_eval.pairs, cfg.ckpt_eval.episodes, rollouts.scoring_key, "score")
      for pair in cfg.ckpt_eval.pairs:
        rates = {e["seed"]: e["success_rate"] for e in entries if f"{e['domain']}:{e['region']}" == pair}
        if rates:
          metrics[f"eval/{pair}"] = float(np.mean(list(rates.values())))  # mean over seeds
          if num_seeds > 1:
            metrics.update({f"eval/{pair}/seed{s}": r for s, r in rates.items()})
    if checkpoint_now and val_batches:
      metrics.update(validate(state))
    if checkpoint_now and cfg.analysis.frames > 0:
      reports = [r for r, _ in analyse(state)]
      metrics.update({f"analysis/{k}": float(np.mean([r[k] for r in reports]))
                      for k in ("wasserstein", "discernibility")})
    if checkpoint_now:  # first: from here on the watchdog no longer saves this step (one writer)
      preemption.enter(TRAINING, f"the rerun resumes from {resumes_from(latest)} and redoes the steps since")
    if chief:
      writer.write(step, metrics)
    extra = f"loss {metrics['loss']:.4f} bc {metrics['bc_loss']:.4f} align {metrics['align_loss']:.4f}"
    if "ot_mass" in metrics:
      extra += f" ot_mass {metrics['ot_mass']:.3f}"
    progress.update(step, extra=extra, force=True)
    if checkpoint_now:
      save(state, step, metrics)
      latest = step
      preemption.enter(TRAINING, f"the rerun resumes from checkpoint {step} and redoes the steps since")
      if preemption.requested() and step < cfg.steps:  # asked to stop while scoring or saving: stop here
        if chief:
          writer.close()
        ckpts.close()
        _log(f"preempted (SIGTERM): saved checkpoint step {step}; rerun the same command to resume")
        return {"preempted_at": step}
  ckpts.close()  # the metrics writer stays open for the evaluation's video and features

  # --- Final evaluation in each (domain, region). -------------------------------------------
  preemption.enter(EVALUATION, f"checkpoint {step} is complete; the rerun evaluates it again (no training)")
  _log(f"evaluating checkpoint {step}: {', '.join(cfg.eval.pairs)}, {cfg.eval.episodes} episodes each")
  results, recordings = [], {}
  video_episodes = cfg.get("log", {}).get("video_episodes", 0)
  for i, pair in enumerate(cfg.eval.pairs):  # the video shows the first pair's first episodes
    results += score(state, step, [pair], cfg.eval.episodes, rollouts.evaluation_key, "eval", recordings,
                     record=video_episodes if i == 0 else 0)

  alignment = None
  if cfg.analysis.frames > 0:  # the final features, for tools.plot_features, and their metrics
    reports = analyse(state)
    alignment = [dict(r, seed=s, step=step) for s, (r, _) in zip(seeds, reports)]
    report, z = reports[0]
    features_path = os.path.join(workdir, "analysis", "features.npz")
    if chief:  # the first seed's features
      os.makedirs(os.path.dirname(features_path), exist_ok=True)
      with open_atomic(features_path, "wb") as f:
        np.savez(f, z_sim=z["sim"], z_real=z["real"], method=cfg.method, step=step, seed=seeds[0],
                 wasserstein=report["wasserstein"], discernibility=report["discernibility"])
    for a in alignment:
      _log(f"alignment at step {step}, seed {a['seed']}: Wasserstein {a['wasserstein']:.3f}, discernibility "
           f"{a['discernibility']:.3f}")
    _log(f"features of seed {seeds[0]}: {features_path} (plot: python -m tools.plot_features "
         f"--features={features_path} --out=pca.png)")
    if num_seeds == 1:
      alignment = alignment[0]
  out = {"results": results, "alignment": alignment, "wall_time_s": time.perf_counter() - t_start,
         **({"val": validate(state)} if val_batches else {}),
         "params": "ema" if cfg.eval.use_ema else "raw",
         "demos": {"sim_frames": n_sim, "real_frames": n_real},
         # The domains as run (the gap preset plus overrides), so a result names its gap in full.
         "task": cfg.task, "gap": cfg.get("gap", "sensor_physics"), "observation": cfg.get("observation", "state"),
         "domains": {name: as_json(domain(name, "in")) for name in ("sim", "real")},
         "skipped": [{"pair": p, "reason": r} for p, r in skipped.items() if p in cfg.eval.pairs]}
  if num_seeds > 1:
    out["over_seeds"] = aggregate_over_seeds(results)
  if chief:
    write_json(os.path.join(workdir, "eval.json"), out)
    # For people: the video, the features (TensorBoard's projector) and, with wandb, the PCA plot.
    first = next(iter(recordings), None)
    media.log_evaluation(writer, workdir=workdir, env=env, domain=first and domain(*parse_eval_pair(first)),
                         pair=first, recording=recordings.get(first), step=step, log=_log,
                         features=z if alignment is not None else None, pca_plot=bool(cfg.get("log", {}).get("wandb")))
    writer.close()
  _log(rollouts.format_table(results))
  for row in out.get("over_seeds", []):
    _log(f"over seeds {row['seeds']}: {row['domain']}/{row['region']} mean {row['mean']:.3f}, "
         f"95% t-interval [{row['seed_ci95'][0]:.2f}, {row['seed_ci95'][1]:.2f}]")
  _log(f"wrote {os.path.join(workdir, 'eval.json')} ({out['wall_time_s']:.0f}s)")
  return out


def _skipped_pairs(cfg, from_files: dict, env) -> dict[str, str]:
  """Evaluation pairs MJX cannot roll out (a dataset domain whose sizes are not the task's), with why."""
  sizes = next(((d.obs_size, d.action_size) for d in from_files.values()), (env.obs_size, env.action_size))
  return eval_skips(tuple(cfg.eval.pairs) + tuple(cfg.ckpt_eval.pairs), from_files, cfg.task, sizes,
                    (env.obs_size, env.action_size))


def check_scorable(cfg, from_files: dict, env) -> None:
  """A best_metric that names an evaluation pair the run cannot score is refused before the
  workdir is claimed (its checkpoints could never be ranked)."""
  if not cfg.best_metric.startswith("eval/") or not cfg.keep_best:
    return
  pair = cfg.best_metric[len("eval/"):]
  reason = _skipped_pairs(cfg, from_files, env).get(pair)
  if reason:
    raise ConfigError(f"best_metric {cfg.best_metric!r} cannot be scored: {reason}. Rank checkpoints by a "
                      "metric the run logs (e.g. --config.best_metric=bc_loss --config.best_mode=min) or keep "
                      "none by score (--config.keep_best=0)")


def check_image_memory(cfg, from_files: dict, env) -> None:
  """The domains' images are held on every device: a run whose images would take more than
  `data.image_memory_fraction` of one device's memory is refused before the workdir is made
  (and before any compile), naming the sizes and the ways out."""
  if env.image_shape is None:
    return
  sizes = {}
  for name in ("sim", "real"):
    if name in from_files:
      image = observations.image_of(from_files[name].demos.obs)
      if image is not None:
        sizes[name] = (int(image.nbytes), image.shape[0], image.shape[1], f"sources.{name}.max_episodes")
    else:  # generated demos are padded to the task's horizon
      episodes = int(cfg.data[f"num_{name}_demos"])
      sizes[name] = (episodes * env.horizon * int(np.prod(env.image_shape)), episodes, env.horizon,
                     f"data.num_{name}_demos")
  total = sum(n for n, *_ in sizes.values())
  fraction = cfg.data.get("image_memory_fraction", 0.5)
  device = jax.local_devices()[0]
  budget = fraction * device_memory_bytes(device)
  if total > budget:
    gib = lambda n: f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
    parts = "; ".join(f"{name} {gib(n)} ({e} episodes x {t} steps)" for name, (n, e, t, _) in sizes.items())
    fewer = " or ".join(field for *_, field in sizes.values())
    raise ConfigError(f"the images would take {gib(total)} on every device ({parts}), over the budget of "
                      f"{gib(budget)} (data.image_memory_fraction={fraction} of the {device.platform} device's "
                      f"{gib(device_memory_bytes(device))}): lower render.height and render.width, use fewer "
                      f"episodes ({fewer}), or raise data.image_memory_fraction")


def check_val_episodes(cfg, from_files: dict) -> None:
  """A dataset domain must keep episodes to train on after its held-out ones (checked once read)."""
  for name, d in from_files.items():
    held = val_episodes(cfg, name)
    if held and held >= d.demos.num_episodes:
      raise ConfigError(f"sources.{name}.val_episodes={held} leaves no episode to train on: {d.path} [{d.split}] "
                        f"holds {d.demos.num_episodes}")
