r"""Sim-and-real co-training on the built-in MJX benchmark, end to end.

  python -m experiments.cotrain --workdir=runs/demo
  python -m experiments.cotrain --workdir=runs/smoke --config=experiments/configs/cotrain.py:smoke
  python -m experiments.cotrain --workdir=runs/s3 --config.method=cotrain --config.seed=3

Reads top to bottom: check the config, claim the workdir, generate demos on the device,
build the datasets and the policy, train with one compiled step (resuming from the newest
checkpoint if the workdir already holds this run), evaluate in MJX, write eval.json.
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
flags.mark_flag_as_required("workdir")


def run(cfg, workdir: str) -> dict:
  # Heavy imports here so `--help` and config errors come back at once.
  import jax
  import numpy as np
  from flax import nnx

  from gdacot import rollout as rollouts
  from gdacot.align import get_method
  from gdacot.data import Dataset, Normalizer, concat_demos, generate_demos, make_expert_rollout
  from gdacot.envs import make_domain, make_env
  from gdacot.models import make_policy
  from gdacot.progress import Progress
  from gdacot.train import (Checkpoints, MetricsWriter, TrainData, init_train_state, make_optimizer,
                            make_train_chunk, make_train_step, prepare_workdir)
  from gdacot.train.config import parse_eval_pair, validate_config

  validate_config(cfg)
  resume = prepare_workdir(workdir, cfg.to_dict())
  t_start = time.perf_counter()
  method = get_method(cfg.method)
  key = jax.random.PRNGKey(cfg.seed)
  print(f"gdacot: method={cfg.method} seed={cfg.seed} devices={jax.devices()} workdir={workdir}"
        f"{' (resuming)' if resume else ''}", flush=True)

  # --- Demonstrations, generated on the device. ------------------------------------------
  env = make_env(cfg.task)
  domain = lambda name, region: make_domain(name, region, dict(cfg.domains[name]))
  expert = make_expert_rollout(env, cfg.data.demo_batch, cfg.data.expert_noise)

  def demos_for(name, regions, total, tag):
    parts = []
    for i, region in enumerate(regions):
      n = total // len(regions) + (1 if i < total % len(regions) else 0)
      demos, stats = generate_demos(env, domain(name, region), jax.random.fold_in(key, tag * 100 + i), n,
                                    batch_size=cfg.data.demo_batch, rollout=expert,
                                    name=f"demos {name}/{region}")
      print(f"  {name}/{region}: {n} demos, {demos.num_frames} frames, expert success "
            f"{stats['expert_success']:.1%}", flush=True)
      parts.append(demos)
    return concat_demos(*parts)

  sim_demos = demos_for("sim", cfg.data.sim_regions, cfg.data.num_sim_demos, tag=1)
  real_demos = demos_for("real", cfg.data.real_regions, cfg.data.num_real_demos, tag=2)
  n_real, n_sim = real_demos.num_frames, sim_demos.num_frames
  w_natural = n_real / (n_real + n_sim)
  print(f"mixing ratio w={method.mixing_ratio(cfg.w)} (per sample). Guideline (paper B): natural "
        f"w_n=N/(N+M)={w_natural:.3f}" + (f", upper sqrt(N/M)={math.sqrt(n_real / n_sim):.3f}"
                                            if n_sim > 5 * n_real else ""), flush=True)

  # Normalise with the frames this method trains on.
  trained_on = {1.0: (real_demos,), 0.0: (sim_demos,)}.get(method.forced_w, (sim_demos, real_demos))
  normalizer = Normalizer.fit(*trained_on)
  data = TrainData(
      sim=Dataset.create(sim_demos, normalizer, cfg.obs_horizon, cfg.chunk),
      real=Dataset.create(real_demos, normalizer, cfg.obs_horizon, cfg.chunk),
  )

  # --- Policy, optimiser, train state (restored when resuming). --------------------------
  policy = make_policy(cfg.model, obs_size=env.obs_size, action_size=env.action_size,
                       obs_horizon=cfg.obs_horizon, chunk=cfg.chunk, seed=cfg.seed)
  graphdef, params = nnx.split(policy, nnx.Param)
  params = nnx.to_pure_dict(params)
  tx = make_optimizer(cfg.optim)
  state = init_train_state(params, tx, seed=cfg.seed + 1_000_003)
  ckpts = Checkpoints(os.path.join(workdir, "checkpoints"), max_to_keep=cfg.keep_checkpoints)
  latest = ckpts.latest_step()
  if latest is not None:
    state, saved_normalizer = ckpts.restore(latest, state, normalizer)
    # Demos are a deterministic function of the config, so the statistics must agree.
    if not all(np.allclose(a, b, rtol=1e-5) for a, b in zip(jax.tree.leaves(saved_normalizer),
                                                            jax.tree.leaves(normalizer))):
      raise RuntimeError(f"the demos generated now differ from those of checkpoint {latest} "
                         "(observation statistics disagree): was the task code changed?")
    print(f"resumed from checkpoint step {latest}", flush=True)

  # --- Training: chunks of compiled steps between logs and checkpoints. ------------------
  chunk_fn = make_train_chunk(make_train_step(graphdef, tx, method, cfg, env.proprio_slice))
  writer = MetricsWriter(workdir)
  step = int(state.step)
  progress = Progress("train", cfg.steps, unit="steps", initial=step)
  while step < cfg.steps:
    n = min(cfg.log_every - step % cfg.log_every, cfg.steps - step)
    state, metrics = chunk_fn(state, data, n)
    step += n
    metrics = jax.device_get(metrics)
    if not all(np.isfinite(v) for v in metrics.values()):
      raise FloatingPointError(f"non-finite metrics at step {step}: {metrics}")
    writer.write(step, metrics)
    extra = f"loss {metrics['loss']:.4f} bc {metrics['bc_loss']:.4f} align {metrics['align_loss']:.4f}"
    if "ot_mass" in metrics:
      extra += f" ot_mass {metrics['ot_mass']:.3f}"
    progress.update(step, extra=extra, force=True)
    if step % cfg.ckpt_every == 0 or step == cfg.steps:
      ckpts.save(step, state, normalizer)
  writer.close()
  ckpts.close()

  # --- Evaluation: compiled MJX rollouts in each (domain, region). -----------------------
  rollout = rollouts.make_policy_rollout(env, graphdef, obs_horizon=cfg.obs_horizon, chunk=cfg.chunk,
                                         execute=cfg.execute, batch_size=cfg.eval.batch_size)
  eval_key = jax.random.fold_in(key, 4)
  results = []
  for pair in cfg.eval.pairs:
    dname, region = parse_eval_pair(pair)
    successes, episodes = rollouts.evaluate(rollout, state.params, normalizer, eval_key, domain(dname, region),
                                            cfg.eval.episodes, cfg.eval.batch_size, name=f"eval {pair}")
    results.append(rollouts.result_entry(method=cfg.method, domain=dname, region=region, successes=successes,
                                         episodes=episodes, step=step, seed=cfg.seed))
  out = {"results": results, "wall_time_s": time.perf_counter() - t_start,
         "demos": {"sim_frames": n_sim, "real_frames": n_real}}
  tmp = os.path.join(workdir, "eval.json.tmp")
  with open(tmp, "w") as f:
    json.dump(out, f, indent=2)
  os.replace(tmp, os.path.join(workdir, "eval.json"))
  print(rollouts.format_table(results), flush=True)
  print(f"wrote {os.path.join(workdir, 'eval.json')} ({out['wall_time_s']:.0f}s)", flush=True)
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from gdacot.train.config import ConfigError
  from gdacot.train.workdir import WorkdirError
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  try:
    run(_CONFIG.value, _WORKDIR.value)
  except (ConfigError, WorkdirError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
