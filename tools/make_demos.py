r"""Generates expert demos on the device and writes them as an RLDS dataset (array_record).

  python -m tools.make_demos --task=push_cube --domain=sim --region=in --episodes=100 \
      --out_dir=data/sim_in [--seed=0] [--noise=0.1] [--batch=128] [--name=push_cube_sim_in]

Writes OUT_DIR/NAME/1.0.0 (never overwrites). Steps hold observation/state, action, reward,
discount, is_first, is_last, is_terminal; episode_metadata holds task, domain, region, seed,
episode and expert_noise. No TensorFlow needed. Train on it with
`python -m experiments.cotrain --config.sim_data=OUT_DIR ...`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

from absl import app, flags, logging

_TASK = flags.DEFINE_string("task", "push_cube", "MJX task.")
_DOMAIN = flags.DEFINE_string("domain", "sim", "Domain preset (sim, real).")
_REGION = flags.DEFINE_string("region", "in", "Initial placement region.")
_EPISODES = flags.DEFINE_integer("episodes", 100, "Successful episodes to keep.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Directory to write the dataset under.", required=True)
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed of the rollouts.")
_NOISE = flags.DEFINE_float("noise", 0.1, "Std of the executed-action noise (labels stay clean, DART).")
_BATCH = flags.DEFINE_integer("batch", 128, "Episodes per compiled rollout batch.")
_NAME = flags.DEFINE_string("name", None, "Dataset name (default TASK_DOMAIN_REGION).")


def make_demos(task: str, domain: str, region: str, episodes: int, out_dir: str, *, seed: int = 0,
               noise: float = 0.1, batch: int = 128, name: str | None = None):
  """Generates and writes the demos; returns a summary (path, counts, timings) and the demos."""
  import jax  # pylint: disable=g-import-not-at-top

  from gdacot.data import generate_demos  # pylint: disable=g-import-not-at-top
  from gdacot.data.sources.rlds import write_rlds  # pylint: disable=g-import-not-at-top
  from gdacot.envs import make_domain, make_env  # pylint: disable=g-import-not-at-top

  env = make_env(task)
  spec = make_domain(domain, region, task=task)
  t0 = time.perf_counter()
  demos, stats = generate_demos(env, spec, jax.random.PRNGKey(seed), episodes, noise=noise,
                                batch_size=min(batch, episodes), name=f"demos {domain}/{region}")
  t_gen = time.perf_counter() - t0
  meta = [{"task": task, "domain": domain, "region": region, "seed": seed, "episode": e,
           "expert_noise": float(noise)} for e in range(demos.num_episodes)]
  t0 = time.perf_counter()
  path = write_rlds(out_dir, name or f"{task}_{domain}_{region}", demos, meta,
                    description=f"gdacot expert demos: task {task}, domain {domain}, region {region}, "
                                f"seed {seed}, executed-action noise {noise}.")
  t_write = time.perf_counter() - t0
  summary = {"path": path, "episodes": demos.num_episodes, "steps": demos.num_frames,
             "expert_success": stats["expert_success"], "generate_s": round(t_gen, 2),
             "write_s": round(t_write, 2), "write_steps_per_s": round(demos.num_frames / t_write)}
  return summary, demos


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with contextlib.redirect_stdout(sys.stderr):  # MJX's import-time chatter
    from gdacot.data import DatasetError  # pylint: disable=g-import-not-at-top
    from gdacot.envs import DOMAIN_NAMES, get_task  # pylint: disable=g-import-not-at-top
  try:
    regions = get_task(_TASK.value).regions
    problems = []
  except ValueError as e:
    regions, problems = {}, [str(e)]
  problems += [f"unknown {what} {value!r}; known: {sorted(known)}"
               for what, value, known in (("domain", _DOMAIN.value, DOMAIN_NAMES), ("region", _REGION.value, regions))
               if value not in known and known]
  if _EPISODES.value <= 0:
    problems.append(f"--episodes must be positive, got {_EPISODES.value}")
  if problems:
    print("error: " + "; ".join(problems), file=sys.stderr)
    sys.exit(2)
  logging.set_verbosity(logging.WARNING)  # tfds logs every shard at INFO
  try:
    # stdout is for the JSON summary only; progress and TFDS's messages go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      tfds.disable_progress_bar()
      out, _ = make_demos(_TASK.value, _DOMAIN.value, _REGION.value, _EPISODES.value, _OUT_DIR.value,
                       seed=_SEED.value, noise=_NOISE.value, batch=_BATCH.value, name=_NAME.value)
  except DatasetError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(json.dumps(out, indent=2))


if __name__ == "__main__":
  app.run(main)
