r"""The on-device camera's two targets, measured: rendering throughput, and the memory of the
issue's image dataset plus uot_joint training.

  python -m tools.bench_render --out=bench_render.json [--smoke] [--overwrite] \
      [--sections=render,memory] [--sizes=32,64] [--batches=64,256,1024,4096] [--repeats=5] \
      [--sim_demos=1000] [--real_demos=25] [--size=64]

Sections (every timed call ends in `jax.block_until_ready`; programs are compiled ahead of
time, `compile_s`, then called once to warm up, `first_call_s`; the median and range are over
--repeats calls after that):

  render  The benchmark scene (push_cube, the "real" domain of the `visual` gap, region "in"),
          one scene per random reset state (cube position and yaw, pusher position), at each of
          --sizes (square images) and --batches (scenes per call):
            observation  a jitted vmap over scenes of the env's observation path (`observe`:
                         render -> RGB, pixel noise, uint8 conversion, plus the proprioception);
            ray_only     the same camera's rays alone, as the renderer casts them (`rays.cast`:
                         distance + geom id per pixel, no shading), so `shading_cost` = ray
                         frames/s / observation frames/s shows what shading adds;
            mjx_ray      the same rays through `mjx.ray` vmapped over pixels (what the renderer
                         cast before issue 18), for `cast_over_mjx_ray`.
          A cell that fails (e.g. out of memory) records its error and the rest go on.
          env_step: env steps/s of a jitted vmap over 256 episodes (the largest --batches with
          --smoke) of `env.step` scanned 20 times with random actions, for the state env and the
          image env at each size; `image_vs_state_step_cost` = state steps/s / image steps/s.
  memory  The issue's dataset: --sim_demos sim + --real_demos real expert demos at --size x --size
          with the `image` config (`get_config("image")`, `image,smoke` with --smoke), generated
          on the device by the config's compiled expert rollout; the bytes of the stored demos
          (uint8 images, float32 state, actions, padded to the horizon) and of the train data
          the step reads; generation wall time. Then the uot_joint train state and compiled train
          chunks (the config's batch sizes, OT batches paired at random: DTW pairing is a one-off
          host cost) and the process's peak memory: the device's `peak_bytes_in_use` where the
          backend reports it (GPUs), always the host's peak RSS (ru_maxrss), plus the compiled
          chunk's own memory analysis. It runs before the render section, so the peaks are its own.
          The JSON states whether dataset bytes + peak bytes fit in an 80 GB GPU.

The JSON at --out holds every repeat, medians, units, the device, the load average, the flags
and the versions; the table at the end summarises it.
"""

from __future__ import annotations

import functools
import gc
import os
import resource
import statistics
import sys
import time

from absl import flags

# Same output conventions as tools.bench: `error: ...` and exit code 2, atomic JSON writes.
from gdacot import machine
from gdacot.cli_common import BadInput, check_out, parse_own_flags, refusals_exit, timed, write_json_out

SECTIONS = ("render", "memory")
# The memory section's flags: what they set, the default, and the default with --smoke.
MEMORY_SIZES = {"sim_demos": ("Sim demos", 1000, 4), "real_demos": ("Real demos", 25, 2),
                "size": ("Image size", 64, 16)}
ENV_STEP_BATCH = 256  # episodes of the env-step comparison (the largest --batches with --smoke)
ENV_STEPS = 20  # env steps per scanned call
TRAIN_CHUNK_STEPS = 5  # train steps per timed call of the memory section (2 with --smoke)
GPU_BYTES = 80 * 10**9  # the "80 GB GPU", in bytes (an H100 80GB holds 79.6 GiB = 85.5e9 B)
GAP, DOMAIN, REGION = "visual", "real", "in"  # the benchmark scene


# --- Timing helpers. --------------------------------------------------------------------------


def _rates(times: list[float], work: float, unit: str) -> dict:
  """Median, range and every repeat of a timed call doing `work` units."""
  rates = [work / t for t in times]
  return {"median": statistics.median(rates), "min": min(rates), "max": max(rates), "all": rates, "unit": unit,
          "call_s_median": statistics.median(times), "call_s_all": times}


def _measure(fn, args, work: float, unit: str, repeats: int) -> dict:
  """Compiles `fn` (a jitted function) for `args` ahead of time, warms it up, times `repeats` calls."""
  compiled, compile_s = timed(lambda: fn.lower(*args).compile())
  _, first_s = timed(lambda: compiled(*args))
  times = [timed(lambda: compiled(*args))[1] for _ in range(repeats)]
  return {**_rates(times, work, unit), "compile_s": compile_s, "first_call_s": first_s}


def _error(e: Exception) -> str:
  lines = str(e).strip().splitlines()
  return f"{type(e).__name__}: {lines[0] if lines else ''}"[:500]


# --- Memory readings. -------------------------------------------------------------------------


def _proc_status_bytes(field: str) -> int | None:
  """VmRSS (resident now) or VmHWM (peak) of this process from /proc, in bytes (Linux only)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def host_peak_rss_bytes() -> int:
  """ru_maxrss is in KiB on Linux and in bytes on macOS."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def device_memory() -> dict | None:
  """The device allocator's counters, where the backend keeps them (GPU, TPU; not the CPU)."""
  import jax

  try:
    stats = jax.devices()[0].memory_stats()
  except Exception:  # some backends raise instead of returning None
    return None
  return {k: int(v) for k, v in stats.items() if isinstance(v, (int, float))} if stats else None


def _memory_analysis(compiled) -> dict | None:
  """What XLA allocates for one compiled program: arguments, outputs and temporaries, bytes."""
  try:
    m = compiled.memory_analysis()
  except Exception:
    return None
  if m is None:
    return None
  keys = ("argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes", "temp_size_in_bytes",
          "generated_code_size_in_bytes")
  return {k: int(getattr(m, k)) for k in keys if hasattr(m, k)}


def _nbytes(tree) -> int:
  import jax

  return int(sum(x.nbytes for x in jax.tree.leaves(tree)))


# --- Render section. --------------------------------------------------------------------------


def bench_render(opts, log) -> dict:
  import jax
  from mujoco import mjx

  from gdacot.envs import make_domain, make_env
  from gdacot.render import camera as cam
  from gdacot.render import rays as cast_rays

  domain = make_domain(DOMAIN, REGION, gap=GAP)
  repeats = opts["repeats"]
  step_batch = max(opts["batches"]) if opts["smoke"] else ENV_STEP_BATCH
  # One pool of random reset states shared by every cell (the state env's reset: the scene does
  # not depend on the observation kind); a batch of B takes the first B scenes.
  pool_size = max(max(opts["batches"]), step_batch)
  state_env = make_env("push_cube")
  keys = jax.random.split(jax.random.PRNGKey(0), pool_size)
  pool, reset_s = timed(lambda: jax.jit(jax.vmap(state_env.reset, in_axes=(0, None)))(keys, domain))
  log(f"render: {pool_size} reset scenes in {reset_s:.1f}s (with compile)")
  take = lambda tree, n: jax.tree.map(lambda x: x[:n], tree)

  cells = []
  for size in opts["sizes"]:
    env = make_env("push_cube", observation="image", resolution=cam.Resolution(size, size, depth=False))
    # The env's own observation path: render, pixel noise, uint8, plus proprioception.
    observe = jax.jit(jax.vmap(lambda d, k, env=env: env.observe(d, domain, k)))

    def rays(data, key, env=env, size=size, caster=None):
      del key
      camera = env.camera_for(domain)
      dirs = cam.ray_directions(camera, size, size).reshape(-1, 3)
      return caster(env.model_for(domain), data, camera.pos, dirs)

    ray_only = jax.jit(jax.vmap(functools.partial(rays, caster=cast_rays.cast)))
    mjx_ray = jax.jit(jax.vmap(functools.partial(rays, caster=jax.vmap(mjx.ray, in_axes=(None, None, None, 0)))))
    for batch in opts["batches"]:
      cell = {"size": size, "height": size, "width": size, "batch": batch}
      args = (take(pool.data, batch), take(keys, batch))
      for name, fn in (("observation", observe), ("ray_only", ray_only), ("mjx_ray", mjx_ray)):
        try:
          cell[name] = _measure(fn, args, batch, "frames/s", repeats)
        except Exception as e:  # e.g. RESOURCE_EXHAUSTED: record it, measure the other cells
          cell[name] = {"error": _error(e)}
        gc.collect()
      ok = all("median" in cell[k] for k in ("observation", "ray_only"))
      cell["shading_cost"] = cell["ray_only"]["median"] / cell["observation"]["median"] if ok else None
      cell["cast_over_mjx_ray"] = (cell["ray_only"]["median"] / cell["mjx_ray"]["median"]
                                   if ok and "median" in cell["mjx_ray"] else None)
      log(f"render {size}x{size} batch {batch}: " + ", ".join(
          f"{k} {cell[k]['median']:.0f} frames/s" if "median" in cell[k] else f"{k} {cell[k]['error']}"
          for k in ("observation", "ray_only", "mjx_ray")))
      cells.append(cell)

  # Env steps: physics (frame_skip MJX steps) + observation, per control step.
  actions = jax.random.uniform(jax.random.PRNGKey(1), (ENV_STEPS, step_batch, 3), minval=-1.0, maxval=1.0)
  start = take(pool, step_batch)

  def scan_steps(env):
    def run(state, actions):
      return jax.lax.scan(lambda s, a: (jax.vmap(env.step)(s, a), None), state, actions)[0]
    return jax.jit(run)

  env_step = {"batch": step_batch, "steps": ENV_STEPS, "domain": f"{DOMAIN}:{REGION} ({GAP} gap)",
              "includes": "vmap over episodes of env.step (clip, frame_skip MJX steps, observation, success) "
                          "in a lax.scan; random actions in [-1, 1]", "image": {}, "image_vs_state_step_cost": {}}
  try:
    env_step["state"] = _measure(scan_steps(state_env), (start, actions), step_batch * ENV_STEPS, "env steps/s",
                                 repeats)
  except Exception as e:
    env_step["state"] = {"error": _error(e)}
  log(f"env step, state: {env_step['state'].get('median', 0):.0f} env steps/s")
  for size in opts["sizes"]:
    env = make_env("push_cube", observation="image", resolution=cam.Resolution(size, size, depth=False))
    try:
      obs = jax.jit(jax.vmap(lambda d, k: env.observe(d, domain, k)))(start.data, start.key)
      r = _measure(scan_steps(env), (start.replace(obs=obs), actions), step_batch * ENV_STEPS, "env steps/s",
                   repeats)
    except Exception as e:
      r = {"error": _error(e)}
    env_step["image"][str(size)] = r
    ok = "median" in r and "median" in env_step["state"]
    env_step["image_vs_state_step_cost"][str(size)] = env_step["state"]["median"] / r["median"] if ok else None
    log(f"env step, image {size}x{size}: {r.get('median', 0):.0f} env steps/s")
    gc.collect()

  return {
      "scene": (f"push_cube, the {DOMAIN!r} domain of the {GAP!r} gap, region {REGION!r}; scene i of a batch is "
                "the i-th of one pool of random reset states (cube xy and yaw, pusher position)"),
      "observation_includes": ("jit(vmap over scenes of env.observe): camera rays (rays.cast), shading (normals, "
                               "Lambert light, floor texture, goal decal), channel order, pixel noise, uint8 "
                               "conversion, plus the pusher position"),
      "ray_only_includes": "jit(vmap over scenes of gdacot.render.rays.cast): distance + geom id, no shading",
      "mjx_ray_includes": "jit(vmap over scenes of vmap over pixels of mjx.ray): the same rays and answers",
      "shading_cost": "ray_only frames/s / observation frames/s (time of the full observation over ray casting)",
      "reset_pool_s": reset_s, "cells": cells, "env_step": env_step,
      "host_peak_rss_bytes_after": host_peak_rss_bytes(),  # the process's peak so far (memory ran first)
  }


# --- Memory section. --------------------------------------------------------------------------


def bench_memory(opts, log) -> dict:
  import jax

  from gdacot.data import demos_key, generate_configured_demos, make_expert_rollout
  from gdacot.data import observations
  from gdacot.envs import domain_from_config, env_from_config
  from gdacot.train import build, get_config

  cfg = get_config("image,smoke" if opts["smoke"] else "image")
  cfg.method = "uot_joint"
  cfg.render.height = cfg.render.width = opts["size"]
  cfg.data.num_sim_demos, cfg.data.num_real_demos = opts["sim_demos"], opts["real_demos"]
  cfg.align.pairing = "random"
  rss_start = _proc_status_bytes("VmRSS")

  env = env_from_config(cfg)
  expert = make_expert_rollout(env, cfg.data.demo_batch, cfg.data.expert_noise)
  key = demos_key(cfg)
  # Compiled once, ahead of time, so generation time is timed apart from the compile; sim and
  # real domains share the program (domains are data).
  gen, gen_compile_s = timed(lambda: expert.lower(key, domain_from_config(cfg, "sim", "in")).compile())
  log(f"memory: expert rollout ({cfg.data.demo_batch} episodes x {env.horizon} steps, "
      f"{opts['size']}x{opts['size']}) compiled in {gen_compile_s:.1f}s")
  demos, gen_s = {}, {}
  for name in ("sim", "real"):
    t0 = time.perf_counter()
    demos[name] = jax.block_until_ready(generate_configured_demos(env, cfg, name, key, gen, log=log))
    gen_s[name] = time.perf_counter() - t0
  rss_after_demos = _proc_status_bytes("VmRSS")

  stored = {}
  for name, d in demos.items():
    image, state = observations.image_of(d.obs), observations.state_of(d.obs)
    stored[name] = {"episodes": d.num_episodes, "frames_valid": d.num_frames,
                    "frames_padded": int(d.actions.shape[0] * d.actions.shape[1]),
                    "image_shape": list(image.shape), "image_dtype": str(image.dtype),
                    "image_bytes": int(image.nbytes), "state_bytes": int(state.nbytes),
                    "actions_bytes": int(d.actions.nbytes), "lengths_bytes": int(d.lengths.nbytes)}
    stored[name]["total_bytes"] = sum(v for k, v in stored[name].items() if k.endswith("_bytes"))
  dataset_bytes = sum(s["total_bytes"] for s in stored.values())
  log(f"memory: stored demos {dataset_bytes / 1e9:.3f} GB, generated in {sum(gen_s.values()):.1f}s")

  # The train step exactly as a training run assembles it for this config.
  run = build(cfg, None, env=env, demos=demos, log=log)
  state, data, chunk = run.state, run.data, run.chunk_fn
  steps = 2 if opts["smoke"] else TRAIN_CHUNK_STEPS
  calls = 1 if opts["smoke"] else opts["repeats"]
  compiled, compile_s = timed(lambda: chunk.lower(state, data, steps).compile())
  (state, _), first_s = timed(lambda: compiled(state, data))
  times = []
  for _ in range(calls):  # the state is donated: carry it from call to call
    (state, metrics), dt = timed(lambda: compiled(state, data))
    times.append(dt / steps)
  log(f"memory: uot_joint step {statistics.median(times):.3f}s (batch {cfg.batch_size}, OT batch "
      f"{cfg.align.batch_size}), compile {compile_s:.1f}s")

  # Read every memory figure here, right after the last train call.
  dev = device_memory()
  device_peak = dev.get("peak_bytes_in_use") if dev else None
  host_peak = host_peak_rss_bytes()
  host_rss = {"start": rss_start, "after_demos": rss_after_demos, "after_train": _proc_status_bytes("VmRSS"),
              "peak_ru_maxrss": host_peak, "peak_vmhwm": _proc_status_bytes("VmHWM")}
  peak, source = (device_peak, "device peak_bytes_in_use") if device_peak is not None else (host_peak, "host peak RSS")
  total = dataset_bytes + peak
  fits = total <= GPU_BYTES
  check = {
      "claim": (f"the issue's image dataset ({opts['sim_demos']} sim + {opts['real_demos']} real demos at "
                f"{opts['size']}x{opts['size']}) and uot_joint training fit on one 80 GB GPU"),
      "checked_against": (f"measured bytes: stored dataset bytes + the process's peak ({source}); the peak already "
                          "holds the resident dataset, so the sum counts it twice and is an upper bound"
                          + ("" if device_peak is not None else
                             "; this backend keeps no device counters, and on the CPU the device memory is host "
                             "memory, so the host peak RSS (Python, XLA, staging copies included) stands in")),
      "dataset_bytes": dataset_bytes, "peak_bytes": peak, "peak_source": source, "total_bytes": total,
      "limit_bytes": GPU_BYTES, "fits_in_80gb": fits,
      "statement": (f"dataset {dataset_bytes / 1e9:.3f} GB + peak {peak / 1e9:.3f} GB = {total / 1e9:.3f} GB "
                    f"{'<=' if fits else '>'} 80 GB: {'fits' if fits else 'does NOT fit'}"),
  }
  return {
      "config": "image,smoke" if opts["smoke"] else "image",
      "size": opts["size"], "sim_demos": opts["sim_demos"], "real_demos": opts["real_demos"],
      "demo_batch": cfg.data.demo_batch, "horizon": env.horizon, "sim_regions": list(cfg.data.sim_regions),
      "real_regions": list(cfg.data.real_regions), "gap": cfg.gap,
      "stored": stored, "dataset_bytes": dataset_bytes,
      "train_data_bytes": _nbytes(data),
      "train_data_note": "the arrays the train step reads: normalised demos (images shared, not copied) + frame tables",
      "generation": {"compile_s": gen_compile_s, "sim_s": gen_s["sim"], "real_s": gen_s["real"],
                     "total_s": sum(gen_s.values()),
                     "includes": ("batches of the compiled expert rollout (reset, expert, physics, image observation "
                                  "every step, for every attempted episode) until enough succeed, host-side keeping "
                                  "of successful episodes, and the copy to the device")},
      "generator_memory_analysis": _memory_analysis(gen),
      "train": {"method": "uot_joint", "batch_size": cfg.batch_size, "ot_batch": cfg.align.batch_size,
                "pairing": "random", "cnn_channels": list(cfg.model.cnn.channels), "steps_per_call": steps,
                "calls": calls, "compile_s": compile_s, "first_call_s": first_s,
                "step_s_median": statistics.median(times), "step_s_min": min(times), "step_s_max": max(times),
                "step_s_all": times, "final_loss": float(metrics["loss"]),
                "chunk_memory_analysis": _memory_analysis(compiled)},
      "train_state_bytes": _nbytes(state),
      "host_rss_bytes": host_rss,
      "device_memory_stats": dev,
      "device_peak_bytes_in_use": device_peak,
      "gpu_80gb_check": check,
  }


# --- Command line. ----------------------------------------------------------------------------


def define_flags(fv: flags.FlagValues) -> None:
  flags.DEFINE_string("out", None, "Output JSON path (required).", flag_values=fv)
  flags.DEFINE_bool("overwrite", False, "Replace --out if it exists.", flag_values=fv)
  flags.DEFINE_bool("smoke", False, "Tiny sizes (seconds; for tests).", flag_values=fv)
  flags.DEFINE_list("sections", list(SECTIONS), f"Sections to run, of {list(SECTIONS)}.", flag_values=fv)
  flags.DEFINE_list("sizes", None, "Square image sizes of the render section; default 32,64 (16 with --smoke).",
                    flag_values=fv)
  flags.DEFINE_list("batches", None, "Scenes per render call; default 64,256,1024,4096 (8,16 with --smoke).",
                    flag_values=fv)
  flags.DEFINE_integer("repeats", 5, "Timed repeats per measurement (after one warm-up call).", flag_values=fv)
  for name, (what, full, smoke) in MEMORY_SIZES.items():
    flags.DEFINE_integer(name, None, f"{what} of the memory section; default {full} ({smoke} with --smoke).",
                         flag_values=fv)


def _positive_ints(name: str, values, default: list[int]) -> list[int]:
  if values is None:
    return default
  out = []
  for v in values:
    try:
      n = int(str(v).strip())
    except ValueError:
      n = 0
    if n < 1:
      raise BadInput(f"--{name} must be positive integers, got {v!r}")
    out.append(n)
  if not out:
    raise BadInput(f"--{name} is empty")
  return sorted(set(out))


def resolve(fv: flags.FlagValues, argv: list[str]) -> dict:
  """Checks the flags (before any compute) and fills in the defaults. Raises BadInput."""
  if len(argv) > 1:
    raise BadInput(f"unexpected arguments: {argv[1:]}")
  if not fv.out:
    raise BadInput("--out is required")
  smoke = fv.smoke
  opts = {
      "out": os.path.abspath(fv.out), "overwrite": fv.overwrite, "smoke": smoke, "repeats": fv.repeats,
      "sections": [s.strip() for s in fv.sections if s.strip()],
      "sizes": _positive_ints("sizes", fv.sizes, [16] if smoke else [32, 64]),
      "batches": _positive_ints("batches", fv.batches, [8, 16] if smoke else [64, 256, 1024, 4096]),
      **{name: fv[name].value if fv[name].value is not None else (small if smoke else full)
         for name, (_, full, small) in MEMORY_SIZES.items()},
  }
  for name in ("repeats", "sim_demos", "real_demos", "size"):
    if opts[name] < 1:
      raise BadInput(f"--{name} must be a positive integer, got {opts[name]}")
  bad = [s for s in opts["sections"] if s not in SECTIONS]
  if bad or not opts["sections"]:
    raise BadInput(f"unknown or no --sections {bad}; known: {list(SECTIONS)}")
  if len(set(opts["sections"])) != len(opts["sections"]):
    raise BadInput(f"--sections names a section twice: {opts['sections']}")
  check_out(opts["out"], opts["overwrite"])
  return opts


def _table(result: dict) -> str:
  fmt = lambda v: "" if v is None else f"{v:.4g}"
  lines = []
  render = result.get("render")
  if render:
    lines += [f"{'render (frames/s)':<22} {'batch':>6} {'observation':>12} {'min':>9} {'max':>9} "
              f"{'ray only':>10} {'shading cost':>13} {'mjx.ray':>9} {'cast/mjx':>9}", "-" * 106]
    for c in render["cells"]:
      o, r = c["observation"], c["ray_only"]
      if "median" in o:
        obs = f"{fmt(o['median']):>12} {fmt(o['min']):>9} {fmt(o['max']):>9}"
      else:
        obs = f"{'error':>12} {'':>9} {'':>9}"
      ray = fmt(r["median"]) if "median" in r else "error"
      mjx_ray = fmt(c["mjx_ray"]["median"]) if "median" in c.get("mjx_ray", {}) else "error"
      lines.append(f"{c['size']}x{c['size']:<19} {c['batch']:>6} {obs} {ray:>10} {fmt(c['shading_cost']):>13} "
                   f"{mjx_ray:>9} {fmt(c.get('cast_over_mjx_ray')):>9}")
    e = render["env_step"]
    lines += ["", f"env steps/s (batch {e['batch']}, {e['steps']}-step scan): "
              f"state {fmt(e['state'].get('median'))}"]
    for size, r in e["image"].items():
      lines.append(f"  image {size}x{size}: {fmt(r.get('median'))} env steps/s, image vs state step cost "
                   f"{fmt(e['image_vs_state_step_cost'][size])}x")
  mem = result.get("memory")
  if mem:
    t, h = mem["train"], mem["host_rss_bytes"]
    peak = mem["device_peak_bytes_in_use"]
    device_peak = "n/a" if peak is None else f"{peak / 1e9:.4g} GB"
    lines += ["", f"memory ({mem['sim_demos']} sim + {mem['real_demos']} real demos, {mem['size']}x{mem['size']}):",
              f"  stored demos {mem['dataset_bytes'] / 1e9:.4g} GB (generated in {mem['generation']['total_s']:.1f}s "
              f"+ compile {mem['generation']['compile_s']:.1f}s)",
              f"  uot_joint step {t['step_s_median']:.4g}s median (batch {t['batch_size']}, OT batch {t['ot_batch']})",
              f"  host peak RSS {h['peak_ru_maxrss'] / 1e9:.4g} GB; device peak {device_peak}",
              f"  80 GB check: {mem['gpu_80gb_check']['statement']}"]
  return "\n".join(lines)


def run(opts: dict) -> dict:
  import jax

  log = lambda msg: print(f"bench_render: {msg}", flush=True)
  dev = jax.devices()[0]
  result = {
      "tool": "tools.bench_render", "argv": sys.argv[1:], "flags": opts, "versions": machine.versions(),
      "device": {**machine.host(), **machine.devices()},
      "host_load": {"loadavg_start": list(os.getloadavg()), "nice": os.nice(0)},
      "timing": (f"median (and min/max) over {opts['repeats']} repeats after one warm-up call; programs compiled "
                 "ahead of time (compile_s) and the warm-up call (first_call_s) are reported apart; every timed call "
                 "ends in jax.block_until_ready; wall-clock time.perf_counter"),
  }
  log(f"device {dev.device_kind} ({dev.platform}), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
  t0 = time.perf_counter()
  section_s = {}
  # Memory first: the process's peak RSS and device peak are lifetime peaks, and the render
  # section's big batches must not set them.
  for name, fn in (("memory", bench_memory), ("render", bench_render)):
    if name in opts["sections"]:
      t1 = time.perf_counter()
      result[name] = fn(opts, log)
      section_s[name] = time.perf_counter() - t1
  result["host_load"]["loadavg_end"] = list(os.getloadavg())
  result["section_wall_s"] = section_s
  result["wall_s"] = time.perf_counter() - t0
  return result


@refusals_exit()
def main(argv: list[str]) -> int:
  fv = flags.FlagValues()
  define_flags(fv)
  opts = resolve(fv, parse_own_flags(fv, argv, __doc__))
  result = run(opts)
  write_json_out(opts["out"], result, opts["overwrite"])
  print(_table(result), flush=True)
  print(f"wrote {opts['out']} in {result['wall_s']:.0f}s", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
