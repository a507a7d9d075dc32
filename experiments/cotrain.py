r"""Sim-and-real co-training on the built-in MJX benchmark, end to end.

  python -m experiments.cotrain --workdir=runs/demo
  python -m experiments.cotrain --workdir=runs/smoke --config=experiments/configs/cotrain.py:smoke
  python -m experiments.cotrain --workdir=runs/s3 --config.method=cotrain --config.seed=3
  python -m experiments.cotrain --workdir=runs/k4 --config.num_seeds=4      # 4 seeds, one program
  # several hosts (one process each; not needed where JAX detects the cluster: Slurm, Cloud TPU):
  python -m experiments.cotrain --workdir=/shared/run --coordinator_address=host0:1234 \
      --num_processes=2 --process_id=0     # and --process_id=1 on the second host

Reads top to bottom: check the config, claim the workdir, generate demos on the device,
build the datasets and the policy, train with one compiled step (resuming from the newest
checkpoint if the workdir already holds this run; SIGTERM saves and exits 0), evaluate the
EMA parameters in MJX, write eval.json.

Every device of every process is in one mesh: demo generation, training batches and
evaluation episodes are split over it (gdacot/parallel.py). Process 0 writes the run's files;
all processes write checkpoints together.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "cotrain.py")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run (created; resumed if it holds this run).")
_CONFIG = config_flags.DEFINE_config_file("config", _CONFIG_DEFAULT, "Config file [:variant].")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for multi-process runs.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes of a multi-process run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in [0, num_processes).")
flags.mark_flag_as_required("workdir")


def run(cfg, workdir: str) -> dict:
  # Heavy imports here so `--help` and config errors come back at once.
  import jax
  import numpy as np
  from flax import nnx

  from gdacot import parallel
  from gdacot import rollout as rollouts
  from gdacot.align import DOMAIN_LABELS, get_method
  from gdacot.align.analysis import alignment_report
  from gdacot.data import (Dataset, Normalizer, demos_key, eval_skips, generate_configured_demos, load_configured,
                           make_expert_rollout)
  from gdacot.data import observations
  from gdacot.data.pairing import load_pairing, make_pairing, save_pairing, summary
  from gdacot.envs import domain_from_config, env_from_config
  from gdacot.progress import Progress
  from gdacot.train import (Checkpoints, MetricsWriter, PreemptionGuard, TrainData, build_policy_and_state,
                            checkpoint_record, make_train_chunk, make_train_step, prepare_workdir)
  from gdacot.train.setup import run_seeds, seed_slice
  from gdacot.train.checkpoints import CheckpointError
  from gdacot.train.config import ConfigError, parse_eval_pair, validate_config

  validate_config(cfg)
  mesh = parallel.make_mesh()
  n_data = parallel.data_parallel_size(mesh)
  split_sizes = {"batch_size": cfg.batch_size, "align.batch_size": cfg.align.batch_size,
                 "eval.batch_size": cfg.eval.batch_size, "data.demo_batch": cfg.data.demo_batch}
  uneven = [f"{name}={value}" for name, value in split_sizes.items() if value % n_data]
  if uneven:
    raise ConfigError(f"{', '.join(uneven)}: batches are split over the {n_data} devices; make each a multiple "
                      f"of {n_data}")
  env = env_from_config(cfg)
  # Demos given as RLDS datasets are read and checked whole before the workdir is touched.
  from_files = load_configured(cfg, env.obs_size, env.action_size)
  chief = parallel.is_chief()  # process 0 writes the run's files
  resume = parallel.from_chief(prepare_workdir(workdir, cfg.to_dict()) if chief else False)
  t_start = time.perf_counter()
  method = get_method(cfg.method)
  seeds = run_seeds(cfg)
  num_seeds = len(seeds)
  key = demos_key(cfg)  # demos and analysis frames
  print(f"gdacot: method={cfg.method} seeds={seeds} devices={jax.device_count()} "
        f"({jax.devices()[0].platform}, {jax.process_count()} process(es)) workdir={workdir}"
        f"{' (resuming)' if resume else ''}", flush=True)

  # --- Demonstrations, generated on the device (or read above from RLDS datasets). --------
  domain = lambda name, region: domain_from_config(cfg, name, region)
  expert = make_expert_rollout(env, cfg.data.demo_batch, cfg.data.expert_noise, mesh)

  def demos_for(name):
    if name in from_files:
      d = from_files[name]
      print(f"  {name}: {d.demos.num_episodes} episodes, {d.demos.num_frames} frames from {d.path} "
            f"[{d.split}] ({d.file_format})", flush=True)
      return d.demos
    return generate_configured_demos(env, cfg, name, key, expert, log=lambda line: print(line, flush=True))

  sim_demos, real_demos = demos_for("sim"), demos_for("real")
  n_real, n_sim = real_demos.num_frames, sim_demos.num_frames
  w_natural = n_real / (n_real + n_sim)
  print(f"mixing ratio w={method.mixing_ratio(cfg.w)} (per sample). Guideline (paper B): natural "
        f"w_n=N/(N+M)={w_natural:.3f}" + (f", upper sqrt(N/M)={math.sqrt(n_real / n_sim):.3f}"
                                            if n_sim > 5 * n_real else ""), flush=True)

  # Normalise with the frames this method trains on.
  trained_on = {1.0: (real_demos,), 0.0: (sim_demos,)}.get(method.forced_w, (sim_demos, real_demos))
  normalizer = Normalizer.fit(*trained_on)
  sim_data = Dataset.create(sim_demos, normalizer, cfg.obs_horizon, cfg.chunk)
  real_data = Dataset.create(real_demos, normalizer, cfg.obs_horizon, cfg.chunk)

  # --- DTW pairing of the OT batches (paper A), computed once per dataset on the device and
  # saved with the run (a resumed run reloads it). -------------------------------------------
  pairing = None
  if method.align is not None and cfg.align.pairing == "dtw":
    pairing_path = os.path.join(workdir, "pairing.npz")
    if resume and os.path.exists(pairing_path):
      pairing = load_pairing(pairing_path)
    else:
      t0 = time.perf_counter()
      pairing = make_pairing(real_data, sim_data, env.proprio_slice, sharpness=cfg.align.dtw.sharpness,
                             cutoff=cfg.align.dtw.cutoff, window=cfg.align.dtw.window)
      if chief:
        save_pairing(pairing_path, pairing)
      print(f"DTW pairing: {real_demos.num_episodes} x {sim_demos.num_episodes} demos in "
            f"{time.perf_counter() - t0:.1f}s, saved to {pairing_path}", flush=True)
    print("  " + ", ".join(f"{k} {v:.3g}" for k, v in summary(pairing).items()), flush=True)
  data = TrainData(sim=sim_data, real=real_data, pairing=pairing)

  # --- Policy, optimiser, train state (restored from the newest checkpoint when resuming). -
  # Sizes from the demos: datasets may differ from the task (then MJX cannot evaluate, below).
  obs_spec = observations.spec(sim_demos.obs, batch_dims=2)
  obs_size, image_shape, action_size = obs_spec["obs_size"], obs_spec["image_shape"], int(sim_demos.actions.shape[-1])
  graphdef, tx, state = build_policy_and_state(cfg, obs_size, action_size, image_shape)  # seed-stacked if num_seeds > 1
  data_ids = {"sim": sim_demos.fingerprint(), "real": real_demos.fingerprint()}
  ckpts = Checkpoints(os.path.join(workdir, "checkpoints"), keep_last=cfg.keep_checkpoints,
                      keep_best=cfg.keep_best, best_metric=cfg.best_metric, best_mode=cfg.best_mode)
  latest = ckpts.latest_step()
  if latest is not None:
    saved = ckpts.read_record(latest)["sampler"]["data"]
    if saved != data_ids:  # demos are a function of the config: a difference means changed code
      raise CheckpointError(f"the demos now differ from those checkpoint {latest} was trained on "
                            f"(saved {saved}, now {data_ids}): a dataset file, or the task or expert "
                            "code, changed since; resume with the same data, or use a new --workdir")
    state, _ = ckpts.restore(latest, state, normalizer, sharding=parallel.replicated(mesh))
    print(f"resumed from checkpoint step {latest}", flush=True)
  # Every device holds the parameters and the datasets (data parallelism).
  state, data, normalizer = parallel.replicate((state, data, normalizer), mesh)

  def save(state, step, metrics):
    record = checkpoint_record(cfg.to_dict(), state_rng=parallel.to_host(state.rng), step=step,
                               obs_size=obs_size, action_size=action_size, data=data_ids, image_shape=image_shape)
    ckpts.save(step, state, normalizer, record, metrics)

  # --- Evaluation in MJX: one compiled rollout for checkpoint scoring and the final table. -
  rollout = rollouts.make_policy_rollout(env, graphdef, obs_horizon=cfg.obs_horizon, chunk=cfg.chunk,
                                         execute=cfg.execute, batch_size=cfg.eval.batch_size, mesh=mesh)
  eval_params = lambda s: s.ema_params if cfg.eval.use_ema else s.params
  skipped = eval_skips(tuple(cfg.eval.pairs) + tuple(cfg.ckpt_eval.pairs), from_files, cfg.task,
                       (obs_size, action_size), (env.obs_size, env.action_size))
  for pair, reason in skipped.items():
    print(f"note: no MJX evaluation of {pair}: {reason}", flush=True)

  def score(state, step, pairs, episodes, key_of_seed, name):
    """Success of every seed's policy per (domain, region) pair, as result entries (seed by
    seed; episode keys from `key_of_seed(seed)`, so a seed scores as its own run would)."""
    entries = []
    for k, seed in enumerate(seeds):
      params = seed_slice(eval_params(state), k, num_seeds)
      for pair in (p for p in pairs if p not in skipped):
        dname, region = parse_eval_pair(pair)
        successes, n, _ = rollouts.evaluate(rollout, params, normalizer, key_of_seed(seed), domain(dname, region),
                                            episodes, cfg.eval.batch_size, name=f"{name} {pair} seed {seed}",
                                            label=DOMAIN_LABELS[dname], guidance=cfg.domain_label.guidance)
        entries.append(rollouts.result_entry(method=cfg.method, domain=dname, region=region,
                                             successes=successes, episodes=n, step=step, seed=seed))
    return entries

  # --- Alignment analysis (paper B): the EMA encoder's features of fixed frames per domain. --
  analysis_frames = {name: ds.sample(jax.random.fold_in(key, 6 + i), min(cfg.analysis.frames, ds.num_frames)).obs
                     for i, (name, ds) in enumerate((("sim", sim_data), ("real", real_data)))}
  features_fn = jax.jit(lambda params, obs: nnx.merge(graphdef, params).features(obs))

  def analyse(state):
    """Per seed: the alignment report and the features (host arrays)."""
    out = []
    for k in range(num_seeds):
      params = seed_slice(eval_params(state), k, num_seeds)
      z = {name: parallel.to_host(features_fn(params, obs)) for name, obs in analysis_frames.items()}
      out.append((alignment_report(z["sim"], z["real"], jax.random.fold_in(key, 8)), z))
    return out

  # --- Training: chunks of compiled steps between logs; checkpoints every ckpt_every. ------
  # SIGTERM (preemption) is honoured at the next chunk boundary: save, then exit 0.
  step_fn = make_train_step(graphdef, tx, method, cfg, env.proprio_slice, mesh)
  if num_seeds > 1:  # purejaxrl: one program trains every seed; the data are shared
    step_fn = jax.vmap(step_fn, in_axes=(0, None))
  chunk_fn = make_train_chunk(step_fn, mesh)
  # A run killed before its first checkpoint restarts at 0: its logged rows are dropped too.
  writer = MetricsWriter(workdir, resume_step=latest or 0) if chief else None
  step = latest or 0
  progress = Progress("train", cfg.steps, unit="steps", initial=step)
  with PreemptionGuard() as preemption:
    while step < cfg.steps:
      n = min(cfg.log_every - step % cfg.log_every, cfg.steps - step)
      state, metrics = chunk_fn(state, data, n)
      step += n
      per_seed = parallel.to_host(metrics)  # (num_seeds,) arrays when several seeds train
      if not all(np.all(np.isfinite(v)) for v in per_seed.values()):
        raise FloatingPointError(f"non-finite metrics at step {step}: {per_seed}")
      metrics = {k: float(np.mean(v)) for k, v in per_seed.items()}  # over seeds
      if num_seeds > 1:
        metrics.update({f"{k}/seed{s}": float(per_seed[k][i]) for k in ("loss", "bc_loss")
                        for i, s in enumerate(seeds)})
      checkpoint_now = step % cfg.ckpt_every == 0 or step == cfg.steps
      if checkpoint_now and cfg.ckpt_eval.episodes > 0:  # scores for keeping the best checkpoints
        entries = score(state, step, cfg.ckpt_eval.pairs, cfg.ckpt_eval.episodes, rollouts.scoring_key, "score")
        for pair in cfg.ckpt_eval.pairs:
          rates = {e["seed"]: e["success_rate"] for e in entries if f"{e['domain']}:{e['region']}" == pair}
          if rates:
            metrics[f"eval/{pair}"] = float(np.mean(list(rates.values())))  # mean over seeds
            if num_seeds > 1:
              metrics.update({f"eval/{pair}/seed{s}": r for s, r in rates.items()})
      if checkpoint_now and cfg.analysis.frames > 0:
        reports = [r for r, _ in analyse(state)]
        metrics.update({f"analysis/{k}": float(np.mean([r[k] for r in reports]))
                        for k in ("wasserstein", "discernibility")})
      if chief:
        writer.write(step, metrics)
      extra = f"loss {metrics['loss']:.4f} bc {metrics['bc_loss']:.4f} align {metrics['align_loss']:.4f}"
      if "ot_mass" in metrics:
        extra += f" ot_mass {metrics['ot_mass']:.3f}"
      progress.update(step, extra=extra, force=True)
      if preemption.requested():
        save(state, step, metrics)
        ckpts.close()
        if chief:
          writer.close()
        print(f"preempted (SIGTERM): saved checkpoint step {step}; rerun the same command to resume",
              flush=True)
        return {"preempted_at": step}
      if checkpoint_now:
        save(state, step, metrics)
    if chief:
      writer.close()
    ckpts.close()

    # --- Final evaluation in each (domain, region). -----------------------------------------
    results = []
    for pair in cfg.eval.pairs:
      if preemption.requested():
        print(f"preempted (SIGTERM) during evaluation; checkpoint {step} is complete: rerun the same "
              "command to evaluate", flush=True)
        return {"preempted_at": step}
      results += score(state, step, [pair], cfg.eval.episodes, rollouts.evaluation_key, "eval")
  alignment = None
  if cfg.analysis.frames > 0:  # the final features, for tools.plot_features, and their metrics
    reports = analyse(state)
    alignment = [dict(r, seed=s, step=step) for s, (r, _) in zip(seeds, reports)]
    report, z = reports[0]
    features_path = os.path.join(workdir, "analysis", "features.npz")
    if chief:  # the first seed's features
      os.makedirs(os.path.dirname(features_path), exist_ok=True)
      with open(features_path + ".tmp", "wb") as f:
        np.savez(f, z_sim=z["sim"], z_real=z["real"], method=cfg.method, step=step, seed=seeds[0],
                 wasserstein=report["wasserstein"], discernibility=report["discernibility"])
      os.replace(features_path + ".tmp", features_path)
    for a in alignment:
      print(f"alignment at step {step}, seed {a['seed']}: Wasserstein {a['wasserstein']:.3f}, discernibility "
            f"{a['discernibility']:.3f}", flush=True)
    print(f"features of seed {seeds[0]}: {features_path} (plot: python -m tools.plot_features "
          f"--features={features_path} --out=pca.png)", flush=True)
    if num_seeds == 1:
      alignment = alignment[0]
  out = {"results": results, "alignment": alignment, "wall_time_s": time.perf_counter() - t_start,
         "params": "ema" if cfg.eval.use_ema else "raw",
         "demos": {"sim_frames": n_sim, "real_frames": n_real},
         # The domains as run (the gap preset plus overrides), so a result names its gap in full.
         "gap": cfg.get("gap", "sensor_physics"), "observation": cfg.get("observation", "state"),
         "domains": {name: _spec_as_json(domain(name, "in")) for name in ("sim", "real")},
         "skipped": [{"pair": p, "reason": r} for p, r in skipped.items() if p in cfg.eval.pairs]}
  if num_seeds > 1:
    out["over_seeds"] = rollouts.aggregate_over_seeds(results)
  if chief:
    tmp = os.path.join(workdir, "eval.json.tmp")
    with open(tmp, "w") as f:
      json.dump(out, f, indent=2)
    os.replace(tmp, os.path.join(workdir, "eval.json"))
  print(rollouts.format_table(results), flush=True)
  for row in out.get("over_seeds", []):
    print(f"over seeds {row['seeds']}: {row['domain']}/{row['region']} mean {row['mean']:.3f}, "
          f"95% t-interval [{row['seed_ci95'][0]:.2f}, {row['seed_ci95'][1]:.2f}]", flush=True)
  print(f"wrote {os.path.join(workdir, 'eval.json')} ({out['wall_time_s']:.0f}s)", flush=True)
  return out


def _spec_as_json(spec) -> dict:
  """A DomainSpec's fields as plain JSON (the region is reported per result)."""
  import dataclasses

  import numpy as np

  from gdacot.render.camera import TEXTURES
  out = {f.name: np.asarray(getattr(spec, f.name), np.float64).round(6).tolist() for f in dataclasses.fields(spec)
         if f.name != "region"}
  out["table_texture"] = {v: k for k, v in TEXTURES.items()}[int(out["table_texture"])]
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from gdacot.data import DatasetError
  from gdacot.train.checkpoints import CheckpointError
  from gdacot.train.config import ConfigError
  from gdacot.train.workdir import WorkdirError
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  from gdacot import parallel
  try:
    parallel.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  try:
    run(_CONFIG.value, _WORKDIR.value)
  except (ConfigError, WorkdirError, CheckpointError, DatasetError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
