r"""Throughput of the compiled hot paths, side by side in one process on one device.

  python -m tools.bench --out=bench.json [--smoke] [--repeats=5] \
      [--methods=uot_joint,cotrain,uot_joint_host_pot] [--ot_batch=256] [--chunk_steps=50] \
      [--eval_batch=N] [--demo_batch=N] [--mujoco_threads=N] [--sections=train,demos,eval,hlo] \
      [--observation=state|image] [--size=32] [--overwrite]

Sections (every number is the median over --repeats timed calls, each after one warm-up call
that compiles; every call ends in `jax.block_until_ready`):

  train  The compiled train chunk of a co-training run (the library's default config, or the smoke
         config with --smoke; with --observation=image the `image` config at --size, its OT batch
         64 unless --ot_batch says otherwise), assembled by `gdacot.train.build` as a run assembles it (MJX demos,
         the method's normaliser, datasets, policy, step, chunk), OT batches paired at random
         (`align.pairing=random`; DTW pairing is a one-off cost). One call = --chunk_steps steps.
         Methods: any of the registry, plus `uot_joint_host_pot`: uot_joint with the plan solved
         on the host by POT each step (paper A's reference code), through `jax.pure_callback`,
         and `uot_joint_ott`: uot_joint solved by OTT-JAX's Sinkhorn (`align.sinkhorn_solver=ott`),
         and `uot_joint_dataset_images` (--observation=image): uot_joint with its real demos
         written as a LeRobot dataset and read back as a robot's camera dataset is (decoded,
         resized, device-resident), reported as `dataset_images_vs_rendered` (steps/s ratio),
         and `uot_joint_batches_only`: uot_joint's step with the alignment term replaced by the
         mean product of the two OT batches' features (the batches sampled and encoded, forward
         and backward, as uot_joint does; no cost matrix, no solve): what the OT share cannot go
         below at these batch sizes, whatever the solver costs.
         Repeats go round-robin over the methods, so a load change on a shared machine hits
         them alike. Reports steps/s, samples/s (BC batch per step), `ot_share = 1 - t_cotrain /
         t_uot_joint`, its floor `ot_batches_share = 1 - t_cotrain / t_batches_only`, and
         `uot_vs_host_pot_speedup` (on-device over host-POT samples/s), checks
         once that both plans give the same ot_cost on one OT batch, and breaks the alignment
         term's time down on that batch (solve vs joint cost vs pure_callback round trip).
  demos  Demo generation: the MJX scripted expert (`make_expert_rollout`: physics, expert policy
         and observations) against C MuJoCo (`mujoco.rollout`, all CPU cores, and one thread)
         on the same MjModel with open-loop controls replayed from the expert's episodes (same
         initial states, same number of physics steps; no policy, no observations).
  eval   Closed-loop evaluation (`make_policy_rollout`) of the benchmarked uot_joint EMA params.
  hlo    Collectives of the compiled uot_joint chunk (`tools.hlo.totals`): none on one device.

The JSON at --out holds every repeat, medians, units, the device, the flags and the versions.
State observations only; the camera and the image pipeline have their own benchmark, tools.bench_render.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib.util
import os
import statistics
import sys
import time

import numpy as np
from absl import flags

from gdacot import machine
from gdacot.cli_common import BadInput, check_out, parse_own_flags, refusals_exit, timed, write_json_out
from tools import hlo

HOST_POT = "uot_joint_host_pot"
# uot_joint with OTT-JAX's own Sinkhorn (`align.sinkhorn_solver=ott`) in place of the default.
OTT_SOLVER = "uot_joint_ott"
# uot_joint with the OT batches encoded but no OT term: the part of the OT share that is not the OT.
BATCHES_ONLY = "uot_joint_batches_only"
# uot_joint with its real demos read from a LeRobot dataset (the same demos written as one H.264
# video per camera and loaded as any image dataset is): dataset images against rendered ones.
DATASET_IMAGES = "uot_joint_dataset_images"
# Variants of uot_joint's step that the registry does not hold.
UOT_VARIANTS = (HOST_POT, OTT_SOLVER, BATCHES_ONLY, DATASET_IMAGES)
DEFAULT_METHODS = ("uot_joint", "cotrain", BATCHES_ONLY, HOST_POT)
SECTIONS = ("train", "demos", "eval", "hlo")
IMAGE_NOTE = ("state observations (--observation=image: the image config's train step); camera rendering "
              "and image-pipeline memory: python -m tools.bench_render")


class BenchError(BadInput):
  """Bad flags or an output that cannot be written: `error: ...`, exit code 2."""


# --- The host-POT alignment: paper A's reference code solves the plan with POT on the host. ---


def _pot_plan(cost, *, epsilon: float, rho: float, iters: int, threshold: float):
  """POT's entropic unbalanced plan of a (detached, normalised) cost, in float64 numpy."""
  import ot  # POT

  c = np.asarray(cost, np.float64)
  n, m = c.shape
  plan, log = ot.unbalanced.sinkhorn_unbalanced(np.full(n, 1.0 / n), np.full(m, 1.0 / m), c, reg=epsilon,
                                                reg_m=rho, reg_type="kl", numItermax=iters, stopThr=threshold,
                                                log=True)
  return np.asarray(plan, np.float32), np.int32(len(log["err"])), np.float32(log["err"][-1] if log["err"] else 0.0)


def host_pot_align(z_sim, z_real, y_sim, y_real, cfg, policy):
  """uot_joint's loss with the plan from POT on the host (`jax.pure_callback`): the cost is
  `joint_cost(...)` divided by its detached mean as in `gdacot.align.uot_loss`, the detached
  cost goes to the host, the plan comes back as a constant P, the loss is sum(P * C)."""
  import jax
  import jax.numpy as jnp

  from gdacot.align import joint_cost

  del policy
  import ot  # noqa: F401  (fail at trace time, not inside the callback, when POT is missing)

  if cfg.differentiate_plan:
    raise BenchError("the host-POT plan is a constant: it cannot honour align.differentiate_plan=True")
  cost = joint_cost(z_sim, z_real, y_sim, y_real, cfg.alpha_feat, cfg.alpha_y,
                    normalize_terms=cfg.normalize_cost).astype(jnp.float32)
  scale = jax.lax.stop_gradient(jnp.mean(cost)) + 1e-8 if cfg.normalize_cost else jnp.ones((), jnp.float32)
  cost = cost / scale
  solve = functools.partial(_pot_plan, epsilon=float(cfg.epsilon), rho=float(cfg.rho),
                            iters=int(cfg.sinkhorn_iters), threshold=float(cfg.sinkhorn_threshold))
  out_shapes = (jax.ShapeDtypeStruct(cost.shape, jnp.float32), jax.ShapeDtypeStruct((), jnp.int32),
                jax.ShapeDtypeStruct((), jnp.float32))
  plan, iters, error = jax.pure_callback(solve, out_shapes, jax.lax.stop_gradient(cost))
  plan = jax.lax.stop_gradient(plan)
  loss = jnp.sum(plan * cost)
  metrics = {
      "ot_cost": loss,
      "ot_mass": jnp.sum(plan),
      "ot_cost_scale": scale * jnp.ones(()),
      "ot_sinkhorn_iters": iters,
      "ot_converged": (iters < int(cfg.sinkhorn_iters)).astype(jnp.float32),
      "ot_marginal_error": error,  # POT's own stopping criterion, not OTT's: compare within a solver
  }
  return loss, metrics


def host_pot_method():
  """uot_joint with `host_pot_align` in place of the on-device OTT-JAX solve."""
  from gdacot.align import METHODS

  return dataclasses.replace(METHODS["uot_joint"], name=HOST_POT, align=host_pot_align,
                             description="uot_joint with the plan solved on the host by POT each step")


def batches_only_align(z_sim, z_real, y_sim, y_real, cfg, policy):
  """A stand-in for the OT term that costs next to nothing but still sends a gradient into both
  OT batches' features, so their encoder passes (forward and backward) stay in the step."""
  import jax.numpy as jnp

  del y_sim, y_real, cfg, policy
  return jnp.mean(z_sim * z_real), {}


def method_for(name: str):
  from gdacot.align import get_method

  if name == HOST_POT:
    return host_pot_method()
  if name == BATCHES_ONLY:
    return dataclasses.replace(get_method("uot_joint"), name=BATCHES_ONLY, align=batches_only_align,
                               description="uot_joint's OT batches encoded, no OT term")
  return get_method("uot_joint" if name in UOT_VARIANTS else name)


# --- Timing helpers. --------------------------------------------------------------------------


def _summary(times: list[float], work: float, unit: str) -> dict:
  """Median and every repeat of a timed call doing `work` units of `unit`."""
  rates = [work / t for t in times]
  return {"median": statistics.median(rates), "all": rates, "unit": unit, "call_s_median": statistics.median(times),
          "call_s_all": times}


# --- Sections. --------------------------------------------------------------------------------


def _domain(cfg, name, region):
  from gdacot.envs import domain_from_config

  return domain_from_config(cfg, name, region)


def host_pot_check(cfg, graphdef, params, data, proprio_slice, key) -> dict:
  """ot_cost of the on-device uot_joint plan and of the host-POT plan on one OT batch's cost."""
  import jax
  from flax import nnx

  from gdacot.align import METHODS
  from gdacot.train.step import alignment_target, ot_batches

  def inputs(params):
    policy = nnx.merge(graphdef, params)
    sim, real = ot_batches(key, data, cfg.align.batch_size)
    return (policy.features(sim.obs), policy.features(real.obs),
            alignment_target(sim, cfg.align.target, proprio_slice),
            alignment_target(real, cfg.align.target, proprio_slice))

  args = jax.jit(inputs)(params)
  device = jax.jit(lambda *a: METHODS["uot_joint"].align(*a, cfg.align, None))(*args)
  host = jax.jit(lambda *a: host_pot_align(*a, cfg.align, None))(*args)
  d, h = jax.device_get((device[1], host[1]))
  rel = abs(float(h["ot_cost"]) - float(d["ot_cost"])) / max(abs(float(d["ot_cost"])), 1e-12)
  return {"ot_cost_device": float(d["ot_cost"]), "ot_cost_host_pot": float(h["ot_cost"]), "relative_difference": rel,
          "ot_mass_device": float(d["ot_mass"]), "ot_mass_host_pot": float(h["ot_mass"]),
          "sinkhorn_iters_device": int(d["ot_sinkhorn_iters"]), "sinkhorn_iters_host_pot": int(h["ot_sinkhorn_iters"]),
          "_args": args}


def alignment_breakdown(cfg, args, repeats: int, inner: int = 5) -> dict:
  """Where the alignment term's time goes, on one OT batch's features: milliseconds per call
  (median over `repeats` of the mean of `inner` calls) of the loss and its gradient with respect
  to both feature batches (what a train step pays), on the device and through host POT; of the
  joint cost alone with a constant plan (no solve); of POT alone on a numpy cost; and of a
  `pure_callback` round trip of the cost matrix doing nothing."""
  import jax
  import jax.numpy as jnp

  from gdacot.align import METHODS, joint_cost

  z_sim, z_real, y_sim, y_real = args
  a = cfg.align

  def grad_of(align):
    return jax.jit(jax.value_and_grad(lambda zs, zr: align(zs, zr, y_sim, y_real, a, None)[0], argnums=(0, 1)))

  n = z_sim.shape[0]
  plan = jnp.full((n, n), 1.0 / (n * n), jnp.float32)
  cost_only = jax.jit(jax.value_and_grad(
      lambda zs, zr: jnp.sum(plan * joint_cost(zs, zr, y_sim, y_real, a.alpha_feat, a.alpha_y,
                                               normalize_terms=a.normalize_cost)), argnums=(0, 1)))
  cost = np.asarray(jax.jit(lambda zs, zr: joint_cost(zs, zr, y_sim, y_real, a.alpha_feat, a.alpha_y,
                                                        normalize_terms=a.normalize_cost))(z_sim, z_real))
  cost = cost / cost.mean()
  roundtrip = jax.jit(lambda c: jnp.sum(jax.pure_callback(lambda x: x, jax.ShapeDtypeStruct(c.shape, c.dtype), c)))
  pot = lambda: _pot_plan(cost, epsilon=float(a.epsilon), rho=float(a.rho), iters=int(a.sinkhorn_iters),
                          threshold=float(a.sinkhorn_threshold))
  ott = a.copy_and_resolve_references()
  ott.sinkhorn_solver = "ott"
  calls = {
      "loss_and_grad_device_ms": lambda f=grad_of(METHODS["uot_joint"].align): f(z_sim, z_real),
      "loss_and_grad_device_ott_solver_ms": lambda f=grad_of(
          lambda *args: METHODS["uot_joint"].align(*args[:4], ott, None)): f(z_sim, z_real),
      "loss_and_grad_host_pot_ms": lambda f=grad_of(host_pot_align): f(z_sim, z_real),
      "joint_cost_loss_and_grad_constant_plan_ms": lambda: cost_only(z_sim, z_real),
      "pot_solve_numpy_ms": pot,
      "pure_callback_roundtrip_ms": lambda c=jnp.asarray(cost): roundtrip(c),
  }
  out = {"ot_batch": int(n), "what": " ".join(alignment_breakdown.__doc__.split())}
  for name, fn in calls.items():
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      for _ in range(inner):
        jax.block_until_ready(fn())
      times.append((time.perf_counter() - t0) / inner * 1e3)
    out[name] = statistics.median(times)
    out[name.replace("_ms", "_ms_all")] = times
  return out


def through_lerobot(demos, env, cfg):
  """`demos` written as a LeRobot dataset (one H.264 video per camera) and loaded back as an
  image run loads a robot's dataset."""
  import tempfile  # pylint: disable=g-import-not-at-top

  from gdacot.data.sources import KeyMap, load  # pylint: disable=g-import-not-at-top
  from gdacot.data.sources.lerobot_write import CAMERA_PREFIX, write_demos  # pylint: disable=g-import-not-at-top

  with tempfile.TemporaryDirectory() as tmp:
    path = write_demos(os.path.join(tmp, "real"), demos, [{"task": cfg.task}] * demos.num_episodes,
                       fps=round(1.0 / env.control_dt), views=env.views)
    keys = KeyMap(state_key="observation.state", image_keys=tuple(CAMERA_PREFIX + v for v in env.views))
    return load(path, keys, min_length=cfg.chunk, image_size=(cfg.render.height, cfg.render.width)).demos


def bench_train(cfg, env, opts, log) -> dict:
  import jax

  from gdacot.train.build import build, generate_demos_for

  t0 = time.perf_counter()
  demos = generate_demos_for(cfg, env, None, log=lambda line: None)
  demo_s = time.perf_counter() - t0
  sim_demos, real_demos = demos["sim"], demos["real"]
  log(f"demos: {sim_demos.num_episodes} sim + {real_demos.num_episodes} real in {demo_s:.1f}s (with compile)")
  n = opts["chunk_steps"]

  runs = {}
  for name in opts["methods"]:
    mcfg = copy.deepcopy(cfg)
    mcfg.method = "uot_joint" if name in UOT_VARIANTS else name
    if name == OTT_SOLVER:
      mcfg.align.sinkhorn_solver = "ott"
    # Assembled as a training run assembles it (the method's own normaliser), on the same demos.
    given = dict(demos, real=through_lerobot(demos["real"], env, cfg)) if name == DATASET_IMAGES else demos
    built = build(mcfg, None, env=env, demos=given, method=method_for(name), log=lambda line: None)
    state, data = built.state, built.data
    # Compiled ahead of time, so the compile is timed apart and its HLO text is at hand.
    compiled, compile_s = timed(lambda: built.chunk_fn.lower(state, data, n).compile())
    (state, metrics), first_s = timed(lambda: compiled(state, data))
    log(f"train {name}: compile {compile_s:.1f}s, first chunk {first_s:.2f}s")
    runs[name] = {"chunk": compiled, "state": state, "data": data, "graphdef": built.graphdef,
                  "normalizer": built.normalizer, "compile_s": compile_s, "first_s": first_s, "times": [],
                  "metrics": metrics, "cfg": mcfg}
  for r in range(opts["repeats"]):  # round-robin: a load change on a shared machine hits every method
    for name, run in runs.items():
      (run["state"], run["metrics"]), dt = timed(lambda: run["chunk"](run["state"], run["data"]))
      run["times"].append(dt)
    log(f"train repeat {r + 1}/{opts['repeats']}: " + ", ".join(f"{k} {n / v['times'][-1]:.1f} steps/s"
                                                                for k, v in runs.items()))

  methods = {}
  for name, run in runs.items():
    steps = _summary(run["times"], n, "train steps/s")
    samples = _summary(run["times"], n * cfg.batch_size, "samples/s")
    final = {k: float(v) for k, v in jax.device_get(run["metrics"]).items()}
    methods[name] = {"steps_per_s": steps, "samples_per_s": samples["median"], "samples_per_s_all": samples["all"],
                     "compile_s": run["compile_s"], "first_chunk_s": run["first_s"],
                     "last_chunk_metrics": final}
  out = {
      "what": ("one call = a compiled chunk (lax.scan) of chunk_steps train steps: BC on a mixed batch of "
               "batch_size samples + lam * alignment on two OT batches of ot_batch frames (random pairing), "
               "Adam, EMA; samples = batch_size per step"),
      "batch_size": cfg.batch_size, "ot_batch": cfg.align.batch_size, "chunk_steps": n, "pairing": "random",
      "sinkhorn_iters": cfg.align.sinkhorn_iters, "sinkhorn_threshold": cfg.align.sinkhorn_threshold,
      "demos": {"sim_episodes": sim_demos.num_episodes, "real_episodes": real_demos.num_episodes,
                "sim_frames": sim_demos.num_frames, "real_frames": real_demos.num_frames,
                "generation_s_with_compile": demo_s},
      "methods": methods,
  }
  t = {k: v["steps_per_s"]["call_s_median"] for k, v in methods.items()}
  out["ot_share"] = 1.0 - t["cotrain"] / t["uot_joint"] if {"cotrain", "uot_joint"} <= set(t) else None
  # The floor of ot_share: the OT batches' sampling and encoding alone, with no OT term.
  out["ot_batches_share"] = (1.0 - t["cotrain"] / t[BATCHES_ONLY]) if {"cotrain", BATCHES_ONLY} <= set(t) else None
  out["dataset_images_vs_rendered"] = (t["uot_joint"] / t[DATASET_IMAGES]
                                       if {"uot_joint", DATASET_IMAGES} <= set(t) else None)
  out["uot_vs_host_pot_speedup"] = (methods["uot_joint"]["samples_per_s"] / methods[HOST_POT]["samples_per_s"]
                                    if {"uot_joint", HOST_POT} <= set(t) else None)
  # The same step with OTT-JAX's Sinkhorn: what the default solver buys.
  out["uot_vs_ott_solver_speedup"] = (methods["uot_joint"]["samples_per_s"] / methods[OTT_SOLVER]["samples_per_s"]
                                      if {"uot_joint", OTT_SOLVER} <= set(t) else None)
  if HOST_POT in runs:
    run = runs[HOST_POT]
    check = host_pot_check(run["cfg"], run["graphdef"], run["state"].params, run["data"], env.proprio_slice,
                           jax.random.PRNGKey(7))
    log(f"host-POT check on one OT batch's cost: ot_cost device {check['ot_cost_device']:.5f} vs host POT "
        f"{check['ot_cost_host_pot']:.5f} (relative difference {check['relative_difference']:.2e}; Sinkhorn "
        f"iterations {check['sinkhorn_iters_device']} vs {check['sinkhorn_iters_host_pot']})")
    args = check.pop("_args")
    out["host_pot_check"] = check
    out["alignment_breakdown"] = alignment_breakdown(run["cfg"], args, opts["repeats"])
    log("alignment term alone (ms per call, loss + grad): " + ", ".join(
        f"{k[:-3]} {v:.2f}" for k, v in out["alignment_breakdown"].items() if k.endswith("_ms")))
  # Kept for the later sections (not written to the JSON).
  out["_state"] = {name: (run["graphdef"], run["state"], run["chunk"], run["normalizer"]) for name, run in runs.items()}
  return out


def bench_demos(cfg, env, opts, log) -> dict:
  import jax
  import mujoco
  from mujoco import rollout as mj_rollout

  from gdacot.data import make_expert_rollout

  batch = opts["demo_batch"]
  expert = make_expert_rollout(env, batch, cfg.data.expert_noise)
  domain = _domain(cfg, "sim", "in")
  key = jax.random.PRNGKey(11)
  (obs, actions, _), compile_s = timed(lambda: expert(key, domain))
  times = [timed(lambda: expert(jax.random.fold_in(key, r + 1), domain))[1] for r in range(opts["repeats"])]
  env_steps = batch * env.horizon
  mjx = _summary(times, env_steps, "env steps/s")
  mjx.update(compile_and_first_call_s=compile_s, physics_steps_per_s=mjx["median"] * env.frame_skip,
             includes="MJX physics (frame_skip steps per env step) + scripted expert + observations, "
                      "vmap over the batch, lax.scan over the horizon, one jit call")

  # C MuJoCo: the same episodes' initial states, with the controls the MJX expert applied
  # replayed open loop (recorded by a second, untimed call of the same episodes).
  replay = make_expert_rollout(env, batch, cfg.data.expert_noise, with_controls=True)
  recorded = jax.device_get(replay(key, domain)[3])
  qpos = np.asarray(recorded["qpos0"], np.float64)
  ctrl = np.repeat(np.asarray(recorded["ctrl"], np.float64), env.frame_skip, axis=1)  # held frame_skip steps
  model = env.host_model_for(domain)
  spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
  nstate, nstep = mujoco.mj_stateSize(model, spec), env.horizon * env.frame_skip
  d = mujoco.MjData(model)
  init = np.empty((batch, nstate))
  for e in range(batch):
    mujoco.mj_resetData(model, d)
    d.qpos[:] = qpos[e]  # a reset state is at rest: qvel = 0
    mujoco.mj_getState(model, d, init[e], spec)
  c_results = {}
  for label, nthread in (("all_cores", opts["mujoco_threads"]), ("one_thread", 1)):
    with mj_rollout.Rollout(nthread=nthread) as pool:
      datas = [mujoco.MjData(model) for _ in range(max(nthread, 1))]
      states = np.empty((batch, nstep, nstate))
      run = lambda: pool.rollout(model, datas, init, ctrl, nstep=nstep, state=states)
      _, first_s = timed(run)
      c_times = [timed(run)[1] for _ in range(opts["repeats"])]
    res = _summary(c_times, env_steps, "env steps/s")
    res.update(threads=nthread, first_call_s=first_s, physics_steps_per_s=res["median"] * env.frame_skip)
    c_results[label] = res
  # Did the replayed episodes move the objects (free bodies) as the MJX ones did? state = (time, qpos, qvel).
  free = [int(model.jnt_qposadr[j]) for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
  xy = np.concatenate([np.arange(1 + a, 1 + a + 2) for a in free]) if free else np.zeros(0, int)
  moved = np.linalg.norm(states[:, -1, xy] - init[:, xy], axis=-1) > 0.01
  c = c_results["all_cores"]
  out = {
      "batch": batch, "horizon": env.horizon, "frame_skip": env.frame_skip, "domain": "sim:in",
      "mjx_expert": mjx,
      "c_mujoco": {
          **c, "one_thread": c_results["one_thread"],
          "includes": ("C MuJoCo physics only (mujoco.rollout, a thread pool over the batch), open-loop ctrl "
                       "replayed from the MJX expert episodes (the actuator controls each env step applied, held "
                       "frame_skip physics steps), same initial states and model physics; no policy, no "
                       "observations; outputs the full physics state every physics step"),
          "object_moved_fraction": float(moved.mean()),
      },
      "mjx_over_c_mujoco": mjx["median"] / c["median"],
      "c_mujoco_over_mjx": c["median"] / mjx["median"],
  }
  log(f"demos: MJX expert {mjx['median']:.0f} env steps/s, C MuJoCo ({opts['mujoco_threads']} threads) "
      f"{c['median']:.0f} env steps/s")
  return out


def bench_eval(cfg, env, opts, log, trained=None) -> dict:
  import jax
  import jax.numpy as jnp

  from gdacot.data import Normalizer
  from gdacot.train import build

  mcfg = copy.deepcopy(cfg)
  mcfg.method = "uot_joint"
  mcfg.eval.batch_size = batch = opts["eval_batch"]
  built = build(mcfg, None, env=env, with_data=False)
  rollout = built.rollout
  if trained is not None:
    params, normalizer, which = trained
  else:
    params, which = built.state.ema_params, "initial"
    normalizer = Normalizer(mean=jnp.zeros(env.obs_size), std=jnp.ones(env.obs_size))
  domain, key = _domain(cfg, "real", "in"), jax.random.PRNGKey(13)
  (success, _), compile_s = timed(lambda: rollout(params, normalizer, key, domain, 0))
  times = [timed(lambda: rollout(params, normalizer, key, domain, (r + 1) * batch))[1]
           for r in range(opts["repeats"])]
  episodes = _summary(times, batch, "episodes/s")
  out = {"batch": batch, "domain": "real:in", "params": which, "horizon": env.horizon, "execute": cfg.execute,
         "head": cfg.model.head, "episodes_per_s": episodes,
         "env_steps_per_s": statistics.median([batch * env.horizon / t for t in times]),
         "compile_and_first_call_s": compile_s, "first_call_success_rate": float(np.mean(np.asarray(success))),
         "includes": ("closed-loop MJX episodes: reset, policy every `execute` steps (encoder + head on the "
                      "normalised observation history), physics, observations; vmap over episodes")}
  log(f"eval: {episodes['median']:.1f} episodes/s (batch {batch})")
  return out


def bench_hlo(train_out) -> dict:
  import jax

  _, _, compiled, _ = train_out["_state"]["uot_joint"]
  text = compiled.as_text()
  return {"of": "uot_joint train chunk", "device_count": jax.device_count(), "hlo_chars": len(text),
          "collectives": hlo.totals(text),
          "note": "static op counts of the compiled HLO (ops inside the scanned step count once, i.e. per step); "
                  "bytes = result size per device; with one device there are none"}


# --- Command line. -----------------------------------------------------------------------------


def define_flags(fv: flags.FlagValues) -> None:
  flags.DEFINE_string("out", None, "Output JSON path (required).", flag_values=fv)
  flags.DEFINE_bool("overwrite", False, "Replace --out if it exists.", flag_values=fv)
  flags.DEFINE_bool("smoke", False, "The smoke config's sizes (seconds; for tests).", flag_values=fv)
  flags.DEFINE_integer("repeats", 5, "Timed repeats per measurement (after one warm-up call).", flag_values=fv)
  flags.DEFINE_list("methods", list(DEFAULT_METHODS),
                    f"Train-step methods: any registry method, or one of {list(UOT_VARIANTS)}.", flag_values=fv)
  flags.DEFINE_list("sections", list(SECTIONS), f"Sections to run, of {list(SECTIONS)}.", flag_values=fv)
  flags.DEFINE_integer("ot_batch", None, "OT batch (align.batch_size); default 256, 32 with --smoke.", flag_values=fv)
  flags.DEFINE_integer("chunk_steps", None, "Train steps per timed call; default 50, 5 with --smoke.",
                       flag_values=fv)
  flags.DEFINE_integer("eval_batch", None, "Evaluation episodes per call; default the config's eval.batch_size.",
                       flag_values=fv)
  flags.DEFINE_integer("demo_batch", None, "Expert episodes per call; default the config's data.demo_batch.",
                       flag_values=fv)
  flags.DEFINE_integer("mujoco_threads", None, "C MuJoCo threads; default every CPU core.", flag_values=fv)
  flags.DEFINE_enum("observation", "state", ["state", "image"],
                    "state: the default config; image: the `image` config (camera frames + proprioception, "
                    "CNN encoder) at --size.", flag_values=fv)
  flags.DEFINE_integer("size", 32, "Image height and width with --observation=image.", flag_values=fv)


def resolve(fv: flags.FlagValues, argv: list[str]) -> dict:
  """Checks the flags (before any compute) and fills in the defaults. Raises BenchError."""
  if len(argv) > 1:
    raise BenchError(f"unexpected arguments: {argv[1:]}")
  if not fv.out:
    raise BenchError("--out is required")
  check_out(os.path.abspath(fv.out), fv.overwrite)  # before the slow imports
  from gdacot.align import METHODS
  from gdacot.train import get_config

  image = fv.observation == "image"
  cfg = get_config(",".join((["image"] if image else []) + (["smoke"] if fv.smoke else [])))
  if image:
    if fv.size < 8:
      raise BenchError(f"--size must be at least 8, got {fv.size}")
    cfg.render.height = cfg.render.width = fv.size
  cfg.align.pairing = "random"
  opts = {
      "out": os.path.abspath(fv.out), "overwrite": fv.overwrite, "smoke": fv.smoke, "repeats": fv.repeats,
      "methods": [m.strip() for m in fv.methods if m.strip()],
      "sections": [s.strip() for s in fv.sections if s.strip()],
      "observation": fv.observation, "size": fv.size if image else None,
      # The image config's own OT batch (64) unless given: 256 images per side is not its setting.
      "ot_batch": fv.ot_batch if fv.ot_batch is not None else (
          cfg.align.batch_size if image else 32 if fv.smoke else 256),
      "chunk_steps": fv.chunk_steps if fv.chunk_steps is not None else (5 if fv.smoke else 50),
      "eval_batch": fv.eval_batch if fv.eval_batch is not None else cfg.eval.batch_size,
      "demo_batch": fv.demo_batch if fv.demo_batch is not None else cfg.data.demo_batch,
      "mujoco_threads": fv.mujoco_threads if fv.mujoco_threads is not None else (os.cpu_count() or 1),
  }
  for name in ("repeats", "ot_batch", "chunk_steps", "eval_batch", "demo_batch", "mujoco_threads"):
    if opts[name] < 1:
      raise BenchError(f"--{name} must be a positive integer, got {opts[name]}")
  known = sorted(METHODS) + list(UOT_VARIANTS)
  unknown = [m for m in opts["methods"] if m not in known]
  if unknown or not opts["methods"]:
    raise BenchError(f"unknown or no --methods {unknown}; known: {known}")
  if len(set(opts["methods"])) != len(opts["methods"]):
    raise BenchError(f"--methods names a method twice: {opts['methods']}")
  if HOST_POT in opts["methods"] and importlib.util.find_spec("ot") is None:
    raise BenchError(f"--methods includes {HOST_POT}, which needs POT: pip install -e '.[test]' (or pip install pot)")
  bad = [s for s in opts["sections"] if s not in SECTIONS]
  if bad or not opts["sections"]:
    raise BenchError(f"unknown or no --sections {bad}; known: {list(SECTIONS)}")
  if DATASET_IMAGES in opts["methods"] and opts["observation"] != "image":
    raise BenchError(f"--methods includes {DATASET_IMAGES}, which needs --observation=image")
  if "hlo" in opts["sections"] and ("train" not in opts["sections"] or "uot_joint" not in opts["methods"]):
    raise BenchError("--sections=hlo needs the train section with uot_joint in --methods")
  if HOST_POT in opts["methods"]:
    try:
      import ot  # noqa: F401
    except ImportError as e:
      raise BenchError(f"{HOST_POT} needs POT (pip install pot): {e}") from e
  check_out(opts["out"], opts["overwrite"])
  cfg.align.batch_size = opts["ot_batch"]
  cfg.eval.batch_size = opts["eval_batch"]
  return {"opts": opts, "cfg": cfg}


def _table(result: dict) -> str:
  rows = []
  train = result.get("train")
  if train:
    for name, m in train["methods"].items():
      s = m["steps_per_s"]
      rows.append((f"train {name}", s["median"], "steps/s", min(s["all"]), max(s["all"])))
      rows.append((f"train {name}", m["samples_per_s"], "samples/s", min(m["samples_per_s_all"]),
                   max(m["samples_per_s_all"])))
    if train["ot_share"] is not None:
      rows.append(("OT share of the uot_joint step", train["ot_share"], "", None, None))
    if train.get("ot_batches_share") is not None:
      rows.append(("  of it, the OT batches' encoding", train["ot_batches_share"], "", None, None))
    if train["uot_vs_host_pot_speedup"] is not None:
      rows.append(("uot_joint vs host-POT speedup", train["uot_vs_host_pot_speedup"], "x", None, None))
    if train.get("dataset_images_vs_rendered") is not None:
      rows.append(("dataset images vs rendered, steps/s", train["dataset_images_vs_rendered"], "x", None, None))
    if train.get("uot_vs_ott_solver_speedup") is not None:
      rows.append(("uot_joint vs OTT's solver speedup", train["uot_vs_ott_solver_speedup"], "x", None, None))
    for key, label in (("loss_and_grad_device_ms", "OT term alone, on device"),
                       ("loss_and_grad_device_ott_solver_ms", "OT term alone, OTT's solver"),
                       ("loss_and_grad_host_pot_ms", "OT term alone, host POT"),
                       ("joint_cost_loss_and_grad_constant_plan_ms", "OT term, joint cost only"),
                       ("pot_solve_numpy_ms", "POT solve alone (numpy)"),
                       ("pure_callback_roundtrip_ms", "pure_callback round trip")):
      if key in train.get("alignment_breakdown", {}):
        times = train["alignment_breakdown"][key.replace("_ms", "_ms_all")]
        rows.append((label, train["alignment_breakdown"][key], "ms/call", min(times), max(times)))
  demos = result.get("demos")
  if demos:
    for label, d in (("demos MJX expert", demos["mjx_expert"]),
                     (f"demos C MuJoCo, {demos['c_mujoco']['threads']} threads", demos["c_mujoco"]),
                     ("demos C MuJoCo, 1 thread", demos["c_mujoco"]["one_thread"])):
      rows.append((label, d["median"], "env steps/s", min(d["all"]), max(d["all"])))
    rows.append(("MJX / C MuJoCo (all cores)", demos["mjx_over_c_mujoco"], "x", None, None))
  ev = result.get("eval")
  if ev:
    e = ev["episodes_per_s"]
    rows.append((f"eval (batch {ev['batch']})", e["median"], "episodes/s", min(e["all"]), max(e["all"])))
  hlo = result.get("hlo")
  if hlo:
    t = hlo["collectives"]["total"]
    rows.append(("collectives in the uot_joint chunk", t["count"], f"ops ({t['bytes']} bytes)", None, None))
  fmt = lambda v: "" if v is None else f"{v:.4g}"
  lines = [f"{'measurement':<40} {'median':>10} {'unit':<20} {'min':>10} {'max':>10}", "-" * 94]
  lines += [f"{r[0]:<40} {fmt(r[1]):>10} {r[2]:<20} {fmt(r[3]):>10} {fmt(r[4]):>10}" for r in rows]
  return "\n".join(lines)


def run(opts: dict, cfg) -> dict:
  import jax

  from gdacot.envs import env_from_config

  log = lambda msg: print(f"bench: {msg}", flush=True)
  dev = jax.devices()[0]
  result = {
      "tool": "tools.bench", "argv": sys.argv[1:], "flags": opts, "versions": machine.versions(),
      "device": {**machine.host(), **machine.devices()},
      "config": ("image " if opts["observation"] == "image" else "") + ("smoke" if opts["smoke"] else "default"),
      "timing": (f"median over {opts['repeats']} repeats; each measurement's first call (compile + warm-up; "
                 "train chunks are compiled ahead of time, compile_s, then run once, first_chunk_s) is reported "
                 "apart and not in the median; every timed call ends in jax.block_until_ready; train repeats go "
                 "round-robin over the methods; wall-clock time.perf_counter"),
      "image": IMAGE_NOTE if opts["observation"] == "state" else f"image observations, {opts['size']}x{opts['size']}",
  }
  log(f"device {dev.device_kind} ({dev.platform}) x{jax.device_count()}, {os.cpu_count()} CPUs; "
      f"config {result['config']}")
  env = env_from_config(cfg)
  train = None
  t0 = time.perf_counter()
  section_s = result["section_wall_s"] = {}
  if "train" in opts["sections"]:
    train = bench_train(cfg, env, opts, log)
    section_s["train"] = time.perf_counter() - t0
  if "demos" in opts["sections"]:
    t1 = time.perf_counter()
    result["demos"] = bench_demos(cfg, env, opts, log)
    section_s["demos"] = time.perf_counter() - t1
  if "eval" in opts["sections"]:
    t1 = time.perf_counter()
    trained = None
    if train is not None and "uot_joint" in train["_state"]:
      _, state, _, normalizer = train["_state"]["uot_joint"]
      trained = (state.ema_params, normalizer, f"uot_joint EMA after {int(state.step)} benchmark train steps")
    result["eval"] = bench_eval(cfg, env, opts, log, trained)
    section_s["eval"] = time.perf_counter() - t1
  if "hlo" in opts["sections"]:
    result["hlo"] = bench_hlo(train)
  if train is not None:
    result["train"] = {k: v for k, v in train.items() if not k.startswith("_")}
    result["ot_share"] = train["ot_share"]
    result["ot_batches_share"] = train["ot_batches_share"]
    result["uot_vs_host_pot_speedup"] = train["uot_vs_host_pot_speedup"]
  result["wall_s"] = time.perf_counter() - t0
  first = ("tool", "argv", "flags", "versions", "device", "config", "timing", "ot_share", "ot_batches_share",
           "uot_vs_host_pot_speedup",
           "train", "demos", "eval", "hlo", "image")
  return {**{k: result[k] for k in first if k in result}, **{k: v for k, v in result.items() if k not in first}}


@refusals_exit()
def main(argv: list[str]) -> int:
  fv = flags.FlagValues()
  define_flags(fv)
  resolved = resolve(fv, parse_own_flags(fv, argv, __doc__))
  result = run(resolved["opts"], resolved["cfg"])
  write_json_out(resolved["opts"]["out"], result, resolved["opts"]["overwrite"])
  print(_table(result), flush=True)
  print(f"wrote {resolved['opts']['out']}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
