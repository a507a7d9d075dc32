r"""Generates expert demos on the device and writes them as an RLDS or a LeRobot v3.0 dataset.

  python -m tools.make_demos --task=push_cube --domain=sim --region=in --episodes=100 \
      --out_dir=data/sim_in [--seed=0] [--noise=0.1] [--batch=128] [--name=push_cube_sim_in] \
      [--format=rlds|lerobot] [--observation=state|image --height=32 --width=32 --views=front,wrist]
      [--gap=visual] [--domain_file=my_domain.py]

--format=rlds (default) writes OUT_DIR/NAME/1.0.0 (array_record, no TensorFlow needed): steps
hold observation/state, action, reward, discount, is_first, is_last, is_terminal;
episode_metadata holds task, domain, region, seed, episode and expert_noise. State
observations only.

--format=lerobot writes OUT_DIR/NAME as a LeRobot v3.0 dataset: `observation.state` and
`action` (float32, exact) in parquet, and with --observation=image one video per camera,
`observation.images.<view>` (H.264 mp4; `front`, and `wrist` for the arm tasks, as --views
lists them, default the task's own), at the task's control rate (fps); the task
(e.g. push_cube) is each episode's LeRobot task, the rest of the metadata is kept per episode
in meta/episodes as gdacot/<key> columns. A LeRobot user trains on it as it is.

--gap names the gap preset the domain is shifted by (default the task's), and --domain_file a
Python file whose `get_domain()` returns domain-field overrides (as `gdacot.evaluate` takes
it), so any "real" domain can be written to files. Neither format overwrites. Train on it with `python -m experiments.cotrain --config.sim_data=OUT_DIR ...`
(a LeRobot directory: add --config.sources.sim.state_key=observation.state).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

from absl import flags, logging

from gdacot import cli_common

# Its own FlagValues, not absl's global one: importing `make_demos` into a process that already
# defines --domain (e.g. gdacot.evaluate) must not clash.
_FV = flags.FlagValues()

_TASK = flags.DEFINE_string("task", "push_cube", "MJX task.", flag_values=_FV)
_DOMAIN = flags.DEFINE_string("domain", "sim", "Domain preset (sim, real).", flag_values=_FV)
_REGION = flags.DEFINE_string("region", "in", "Initial placement region.", flag_values=_FV)
_EPISODES = flags.DEFINE_integer("episodes", 100, "Successful episodes to keep.", flag_values=_FV)
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Directory to write the dataset under.", required=True, flag_values=_FV)
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed of the rollouts.", flag_values=_FV)
_NOISE = flags.DEFINE_float("noise", 0.1, "Std of the executed-action noise (labels stay clean, DART).", flag_values=_FV)
_BATCH = flags.DEFINE_integer("batch", 128, "Episodes per compiled rollout batch.", flag_values=_FV)
_NAME = flags.DEFINE_string("name", None, "Dataset name (default TASK_DOMAIN_REGION).", flag_values=_FV)
_FORMAT = flags.DEFINE_enum("format", "rlds", ["rlds", "lerobot"], "Dataset format to write.", flag_values=_FV)
_OBSERVATION = flags.DEFINE_enum("observation", "state", ["state", "image"],
                                 "Observations: the state vector, or camera images plus proprioception (lerobot only).", flag_values=_FV)
_HEIGHT = flags.DEFINE_integer("height", 32, "Camera image height with --observation=image (even).", flag_values=_FV)
_WIDTH = flags.DEFINE_integer("width", 32, "Camera image width with --observation=image (even).", flag_values=_FV)
_VIEWS = flags.DEFINE_list("views", None, "Cameras with --observation=image (default: the task's own views).",
                           flag_values=_FV)
_GAP = flags.DEFINE_string("gap", None, "Gap preset the domain is shifted by (default: the task's).", flag_values=_FV)
_DOMAIN_FILE = flags.DEFINE_string("domain_file", None, "Python file with get_domain() -> dict of domain-field "
                                   "overrides.", flag_values=_FV)


def make_demos(task: str, domain: str, region: str, episodes: int, out_dir: str, *, seed: int = 0,
               noise: float = 0.1, batch: int = 128, name: str | None = None, format: str = "rlds",  # pylint: disable=redefined-builtin
               observation: str = "state", height: int = 32, width: int = 32, views=None, gap: str | None = None,
               domain_file: str | None = None):
  """Generates and writes the demos; returns a summary (path, counts, timings) and the demos."""
  import jax  # pylint: disable=g-import-not-at-top

  from gdacot.data import generate_demos  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top

  from gdacot.envs import domain_file_overrides, env_from_config, get_task, make_domain  # pylint: disable=g-import-not-at-top

  if observation != "state" and format != "lerobot":
    raise ValueError(f"--observation={observation} needs --format=lerobot (gdacot's RLDS writer stores states only)")
  # The fields env_from_config reads, with the task's own camera (as a run's default config holds
  # them); gdacot.train's config is not imported: this tool also runs where TensorFlow is hidden.
  camera_pos, camera_lookat, fovy = get_task(task).default_camera
  env = env_from_config(ml_collections.ConfigDict({
      "task": task, "observation": observation,
      "render": {"height": height, "width": width, "depth": False, "far": 2.0, "camera_pos": tuple(camera_pos),
                 "camera_lookat": tuple(camera_lookat), "fovy": float(fovy),
                 "views": tuple(views) if views else None}}))
  overrides = domain_file_overrides(domain_file)
  spec = make_domain(domain, region, overrides, gap=gap, task=task)
  t0 = time.perf_counter()
  demos, stats = generate_demos(env, spec, jax.random.PRNGKey(seed), episodes, noise=noise,
                                batch_size=min(batch, episodes), name=f"demos {domain}/{region}")
  t_gen = time.perf_counter() - t0
  meta = [{"task": task, "domain": domain, "region": region, "seed": seed, "episode": e,
           "expert_noise": float(noise), "gap": gap or get_task(task).default_gap,
           **({"domain_file": os.path.basename(domain_file)} if domain_file else {})}
          for e in range(demos.num_episodes)]
  t0 = time.perf_counter()
  name = name or f"{task}_{domain}_{region}"
  if format == "lerobot":
    from gdacot.data.sources.lerobot_write import write_demos  # pylint: disable=g-import-not-at-top
    path = write_demos(os.path.join(out_dir, name), demos, meta, fps=round(1.0 / env.control_dt),
                       views=env.views if observation == "image" else ())
  else:
    from gdacot.data.sources.rlds import write_rlds  # pylint: disable=g-import-not-at-top
    path = write_rlds(out_dir, name, demos, meta,
                      description=f"gdacot expert demos: task {task}, domain {domain}, region {region}, "
                                  f"seed {seed}, executed-action noise {noise}.")
  t_write = time.perf_counter() - t0
  summary = {"path": path, "format": format, "episodes": demos.num_episodes, "steps": demos.num_frames,
             "expert_success": stats["expert_success"], "generate_s": round(t_gen, 2),
             "write_s": round(t_write, 2), "write_steps_per_s": round(demos.num_frames / t_write)}
  return summary, demos


@cli_common.refusals_exit()
def main(argv):
  argv = cli_common.parse_own_flags(_FV, argv, __doc__)
  if len(argv) > 1:
    raise cli_common.BadInput(f"unexpected arguments: {argv[1:]}")
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
  if _OBSERVATION.value == "image" and _FORMAT.value != "lerobot":
    problems.append("--observation=image needs --format=lerobot (gdacot's RLDS writer stores states only)")
  if _OBSERVATION.value == "image" and (_HEIGHT.value % 2 or _WIDTH.value % 2 or min(_HEIGHT.value, _WIDTH.value) < 8):
    problems.append(f"--height and --width must be even and >= 8 (H.264 video), got {_HEIGHT.value}x{_WIDTH.value}")
  if problems:
    raise cli_common.BadInput("; ".join(problems))
  logging.set_verbosity(logging.WARNING)  # tfds logs every shard at INFO
  try:
    # stdout is for the JSON summary only; progress and TFDS's messages go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      tfds.disable_progress_bar()
      out, _ = make_demos(_TASK.value, _DOMAIN.value, _REGION.value, _EPISODES.value, _OUT_DIR.value,
                          seed=_SEED.value, noise=_NOISE.value, batch=_BATCH.value, name=_NAME.value,
                          format=_FORMAT.value, observation=_OBSERVATION.value, height=_HEIGHT.value,
                          width=_WIDTH.value, views=_VIEWS.value, gap=_GAP.value, domain_file=_DOMAIN_FILE.value)
  except (DatasetError, ValueError) as e:
    raise cli_common.BadInput(str(e)) from e
  print(json.dumps(out, indent=2))


if __name__ == "__main__":
  sys.exit(main(sys.argv))
