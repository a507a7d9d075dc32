r"""MJX throughput of every task, side by side in one process: env steps/s and demo generation.

  python -m tools.bench_tasks --out=tasks.json [--tasks=push_cube,lift,stack,pick_place] \
      [--batch=256] [--repeats=3] [--observations=state,image] [--size=32] \
      [--demos=400,20] [--overwrite]

For each task and observation kind, the compiled expert rollout that generates demos
(`gdacot.data.demos.make_expert_rollout`: reset, the scripted expert with DART noise, physics,
observations, `vmap` over --batch episodes and `lax.scan` over the task's horizon) is compiled
ahead of time, warmed up, and timed --repeats times, round-robin over the tasks so a load change
on a shared machine hits them alike. One env step is one control step (a task's `frame_skip`
physics steps: 2 for push_cube, 8 for the arm tasks). Image observations are the task's default
views (arm tasks: front + wrist camera) at --size x --size each.

`--demos=S,R` then times `generate_configured_demos` for S sim and R real demos of each task in
the default config (state observations), wall time with compile and without (a second call).
The JSON at --out holds every repeat, medians, the device and the versions.
"""

from __future__ import annotations

import statistics
import sys
import time

from absl import flags

from gdacot import cli_common, machine

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Output JSON path (required).")
flags.DEFINE_bool("overwrite", False, "Replace --out if it exists.")
flags.DEFINE_list("tasks", ["push_cube", "lift", "stack", "pick_place"], "Registered task names.")
flags.DEFINE_list("observations", ["state", "image"], "Observation kinds: state, image.")
flags.DEFINE_integer("batch", 256, "Episodes per compiled call.")
flags.DEFINE_integer("repeats", 3, "Timed calls per measurement, after one warm-up call.")
flags.DEFINE_integer("size", 32, "Image height and width of each view, pixels.")
flags.DEFINE_list("demos", ["400", "20"], "Sim and real demos to time per task ('' to skip).")


def throughput(tasks, observations, batch, repeats, size, log=print) -> dict:
  """{task: {observation: {median, min, max, all (env steps/s), compile_s}}}."""
  import jax  # pylint: disable=g-import-not-at-top

  from gdacot.data.demos import make_expert_rollout  # pylint: disable=g-import-not-at-top
  from gdacot.envs import make_domain, make_env  # pylint: disable=g-import-not-at-top
  from gdacot.render.camera import Resolution  # pylint: disable=g-import-not-at-top

  calls = {}
  for task in tasks:
    for observation in observations:
      kwargs = {} if observation == "state" else {"observation": "image",
                                                  "resolution": Resolution(height=size, width=size)}
      env = make_env(task, **kwargs)
      task_batch = min(batch, env.max_batch or batch)  # stack: its max_batch
      args = (jax.random.PRNGKey(0), make_domain("sim", "in", task=task))
      compiled, compile_s = cli_common.timed(lambda: make_expert_rollout(env, task_batch, 0.1).lower(*args).compile())
      cli_common.timed(lambda: compiled(*args))
      calls[(task, observation)] = (compiled, args, task_batch * env.horizon, compile_s, env)
      log(f"bench_tasks: {task}/{observation}: compiled in {compile_s:.1f}s")
  times = {k: [] for k in calls}
  for r in range(repeats):  # round-robin
    for key, (compiled, args, _, _, _) in calls.items():
      times[key].append(cli_common.timed(lambda: compiled(*args))[1])
    log(f"bench_tasks: repeat {r + 1}/{repeats}: " + ", ".join(
        f"{t}/{o} {calls[(t, o)][2] / times[(t, o)][-1]:,.0f}" for t, o in calls) + " env steps/s")
  out = {}
  for (task, observation), (_, _, steps, compile_s, env) in calls.items():
    rates = [steps / t for t in times[(task, observation)]]
    out.setdefault(task, {})[observation] = {
        "median": statistics.median(rates), "min": min(rates), "max": max(rates), "all": rates,
        "unit": "env steps/s", "compile_s": compile_s, "batch": steps // env.horizon, "horizon": env.horizon,
        "frame_skip": env.frame_skip,
        "image_shape": env.image_shape}
  return out


def demo_wall_time(tasks, num_sim, num_real, log=print) -> dict:
  """{task: {with_compile_s, without_compile_s, frames}} for the default config's demos."""
  import jax  # pylint: disable=g-import-not-at-top

  from gdacot.data.demos import demos_key, generate_configured_demos, make_expert_rollout  # pylint: disable=g-import-not-at-top
  from gdacot.envs import env_from_config  # pylint: disable=g-import-not-at-top
  from gdacot.train.config import get_config  # pylint: disable=g-import-not-at-top

  out = {}
  for task in tasks:
    cfg = get_config(task)
    cfg.data.num_sim_demos, cfg.data.num_real_demos = num_sim, num_real
    walls = []
    for _ in range(2):  # the first call compiles
      t0 = time.perf_counter()
      env = env_from_config(cfg)
      rollout = make_expert_rollout(env, cfg.data.demo_batch, cfg.data.expert_noise)
      frames = 0
      for name in ("sim", "real"):
        demos = generate_configured_demos(env, cfg, name, demos_key(cfg), rollout)
        frames += demos.num_frames
      jax.block_until_ready(demos.actions)
      walls.append(time.perf_counter() - t0)
    out[task] = {"with_compile_s": walls[0], "without_compile_s": walls[1], "frames": frames,
                 "sim": num_sim, "real": num_real, "demo_batch": cfg.data.demo_batch}
    log(f"bench_tasks: {task}: {num_sim} sim + {num_real} real demos in {walls[0]:.1f}s with compile, "
        f"{walls[1]:.1f}s without")
  return out


def main(argv):
  if len(argv) > 1:
    raise cli_common.BadInput(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.out:
    raise cli_common.BadInput("--out is required")
  cli_common.check_out(FLAGS.out, FLAGS.overwrite)
  from gdacot.envs import TASKS  # pylint: disable=g-import-not-at-top
  problems = (cli_common.choice_problems("--tasks", FLAGS.tasks, sorted(TASKS), "task")
              + cli_common.choice_problems("--observations", FLAGS.observations, ("state", "image"), "observation"))
  if problems:
    raise cli_common.BadInput("; ".join(problems))
  result = {"tool": "tools.bench_tasks", "argv": sys.argv[1:], "versions": machine.versions(),
            "device": {**machine.host(), **machine.devices()}, "batch": FLAGS.batch, "size": FLAGS.size,
            "throughput": throughput(FLAGS.tasks, FLAGS.observations, FLAGS.batch, FLAGS.repeats, FLAGS.size)}
  if [d for d in FLAGS.demos if d]:
    num_sim, num_real = (int(d) for d in FLAGS.demos)
    result["demos"] = demo_wall_time(FLAGS.tasks, num_sim, num_real)
  cli_common.write_json_out(FLAGS.out, result, FLAGS.overwrite)
  print(f"bench_tasks: wrote {FLAGS.out}")
  return 0


if __name__ == "__main__":
  cli_common.run(main)
