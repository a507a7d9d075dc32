r"""Evaluate a checkpoint of any run with batched, compiled MJX rollouts.

  python -m gdacot.evaluate --workdir=runs/demo --domain=real --region=ood --episodes=256 \
      --out=eval_ood.json [--step=N|best] [--domain_file=my_domain.py] [--video=rollouts.gif]

Restores the run's config (WORKDIR/config.json) and the EMA parameters of the newest complete
checkpoint (or --step), onto whatever devices this machine has, and writes the same result
entries as the run's eval.json. Every input is checked before any compute; a bad one ends in
`error: ...` naming it, exit status 2, and nothing written.

--domain_file: a Python file defining `get_domain() -> dict` of domain-field overrides, applied
on top of the run's own settings for --domain, e.g. `def get_domain(): return {"cube_mass": 0.5}`.
"""

from __future__ import annotations

import dataclasses
import os

# Videos render offscreen; GLFW (MuJoCo's default) needs a display. Must precede `import mujoco`.
os.environ.setdefault("MUJOCO_GL", "egl")

import sys
import time

from absl import app, flags, logging

_WORKDIR = flags.DEFINE_string("workdir", None, "The run's directory (holds config.json and checkpoints/).")
_DOMAIN = flags.DEFINE_string("domain", "real", "Domain preset to evaluate in (with the run's overrides for it).")
_REGION = flags.DEFINE_string("region", "in", "Region of initial states.")
_EPISODES = flags.DEFINE_integer("episodes", 256, "Number of episodes.")
_OUT = flags.DEFINE_string("out", None, "Output JSON path (refused if it exists, unless --overwrite).")
_STEP = flags.DEFINE_string("step", None, "Checkpoint step, or 'best' (by the run's best_metric). "
                            "Default: the newest complete checkpoint.")
_DOMAIN_FILE = flags.DEFINE_string("domain_file", None, "Python file with get_domain() -> dict of overrides.")
_VIDEO = flags.DEFINE_string("video", None, "Write a GIF of the first episodes here.")
_VIDEO_EPISODES = flags.DEFINE_integer("video_episodes", 4, "Episodes shown in the video (tiled).")
_VIDEO_VIEW = flags.DEFINE_enum("video_view", "scene", ["scene", "camera"],
                                "scene: MuJoCo's renderer, a fixed view (needs OpenGL); camera: the policy's "
                                "on-device camera in the domain's look (no OpenGL).")
_BATCH = flags.DEFINE_integer("batch_size", None, "Episodes per compiled call (default: the run's).")
_SEED = flags.DEFINE_integer("seed", None, "Seed of the evaluation episodes. Default: the run's own "
                             "evaluation episodes, so the numbers reproduce its eval.json.")
_PARAMS = flags.DEFINE_enum("params", "ema", ["ema", "raw"], "Evaluate the EMA or the raw parameters.")
_GUIDANCE = flags.DEFINE_float("guidance", None, "Guidance scale g of label-conditioned (cfg, cfg_adda) "
                                "policies. Default: the run's domain_label.guidance.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Allow replacing existing --out / --video files.")
# Offline scoring on recorded episodes (gdacot/offline.py): no MJX rollout.
_DATA = flags.DEFINE_string("data", None, "Score the policy on this dataset's recorded episodes (any registered "
                            "format), teacher-forced, instead of rolling it out in MJX.")
_FORMAT = flags.DEFINE_string("format", None, "--data's format (default: detected).")
_SPLIT = flags.DEFINE_string("split", None, "--data's split (default: the run's for --domain).")
_STATE_KEY = flags.DEFINE_string("state_key", None, "--data's state field (default: the run's for --domain).")
_ACTION_KEY = flags.DEFINE_string("action_key", None, "--data's action field (default: the run's).")
_IMAGE_KEYS = flags.DEFINE_list("image_keys", None, "--data's cameras, in view order (default: the run's).")
_STATE_SLICE = flags.DEFINE_string("state_slice", None, "START:STOP of --data's state (default: the run's).")
_ACTION_SLICE = flags.DEFINE_string("action_slice", None, "START:STOP of --data's action (default: the run's).")
_MAX_EPISODES = flags.DEFINE_integer("max_episodes", None, "Score the first N episodes of --data (0: all).")
_PLOT = flags.DEFINE_string("plot", None, "PNG of predicted against recorded actions of the first "
                            "--video_episodes episodes (default: --out with .png).")
flags.mark_flags_as_required(["workdir", "out"])


class EvaluateError(ValueError):
  pass


def _check_output_path(path: str, flag: str, overwrite: bool) -> str:
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  if os.path.isdir(path):
    raise EvaluateError(f"--{flag}={path} is a directory")
  if os.path.exists(path) and not overwrite:
    raise EvaluateError(f"--{flag}={path} exists; refusing to overwrite it (pass --overwrite)")
  if not os.path.isdir(parent):
    raise EvaluateError(f"--{flag}={path}: directory {parent} does not exist")
  if not os.access(parent, os.W_OK):
    raise EvaluateError(f"--{flag}={path}: directory {parent} is not writable")
  return path


def _load_config(workdir: str):
  from gdacot.train.restore import RunError, load_config  # pylint: disable=g-import-not-at-top
  try:
    return load_config(workdir)
  except RunError as e:
    raise EvaluateError(str(e)) from e


def _domain_file_overrides(domain_file: str | None) -> dict:
  from gdacot.envs import domain_file_overrides  # pylint: disable=g-import-not-at-top
  try:
    return domain_file_overrides(domain_file)
  except ValueError as e:
    raise EvaluateError(str(e)) from e


def _resolve_step(ckpts, step_flag: str | None) -> int:
  from gdacot.train.restore import RunError, resolve_step  # pylint: disable=g-import-not-at-top
  try:
    return resolve_step(ckpts, step_flag)
  except RunError as e:
    raise EvaluateError(str(e)) from e


def score_recorded(workdir: str, data: str, *, out: str, step: str | None = None, domain: str = "real",
                   fmt: str | None = None, plot: str | None = None, plot_episodes: int = 4, params: str = "ema",
                   overwrite: bool = False, keys: dict | None = None) -> dict:
  """Scores checkpoint `step` of the run on the recorded episodes of the dataset `data`,
  teacher-forced (gdacot/offline.py); writes the report to `out` and a PNG to `plot`."""
  from gdacot import io, offline  # pylint: disable=g-import-not-at-top
  from gdacot.align import DOMAIN_LABELS  # pylint: disable=g-import-not-at-top
  from gdacot.data import DatasetError  # pylint: disable=g-import-not-at-top
  from gdacot.train.checkpoints import CheckpointError  # pylint: disable=g-import-not-at-top
  from gdacot.train.restore import restore_policy  # pylint: disable=g-import-not-at-top
  out = _check_output_path(out, "out", overwrite)
  plot = _check_output_path(plot or os.path.splitext(out)[0] + ".png", "plot", overwrite)
  if domain not in DOMAIN_LABELS:
    raise EvaluateError(f"--domain must be one of {sorted(DOMAIN_LABELS)}, got {domain!r}")
  if not os.path.exists(data):
    raise EvaluateError(f"--data={data} does not exist")
  try:
    restored = restore_policy(workdir, "latest" if step is None else step, params=params)
    key_map = offline.key_map_for(restored.cfg, domain, **(keys or {}))
    report, traces = offline.score(restored, data, key_map, domain=domain, fmt=fmt, plot_episodes=plot_episodes)
  except (CheckpointError, DatasetError):
    raise  # main reports them as they are
  except ValueError as e:  # RunError, or the policy and the dataset do not fit each other
    raise EvaluateError(str(e)) from e
  report = {"workdir": os.path.basename(os.path.normpath(workdir)), "step": restored.step, "params": params,
            "domain": domain, "key_map": {k: list(v) if isinstance(v, tuple) else v
                                          for k, v in dataclasses.asdict(key_map).items()}, **report}
  if traces:
    offline.plot(traces, plot)
    report["plot"] = os.path.basename(plot)
  io.write_json(out, report)
  print(f"gdacot.evaluate: checkpoint {restored.step} on {report['dataset']['episodes']} recorded episodes "
        f"({report['dataset']['frames']} frames) of {data}: first-action MSE {report['first_action_mse']:.4g}, "
        f"per dimension {[round(v, 4) for v in report['first_action_mse_per_dim']]}; wrote {out}", flush=True)
  return report


def evaluate_checkpoint(workdir: str, *, domain: str, region: str, episodes: int, out: str,
                        step: str | None = None, domain_file: str | None = None, video: str | None = None,
                        video_episodes: int = 4, batch_size: int | None = None, seed: int | None = None,
                        params: str = "ema", guidance: float | None = None, overwrite: bool = False,
                        video_view: str = "scene") -> dict:
  t_start = time.perf_counter()
  # --- Everything that can be wrong is checked first, before any compute. -----------------
  if episodes <= 0:
    raise EvaluateError(f"--episodes must be positive, got {episodes}")
  out = _check_output_path(out, "out", overwrite)
  video = _check_output_path(video, "video", overwrite) if video else None
  cfg = _load_config(workdir)

  import jax

  from gdacot import io, stats
  from gdacot import rollout as rollouts
  from gdacot.align import DOMAIN_LABELS, get_method
  from gdacot.data import Normalizer
  from gdacot.envs import domain_from_config, env_from_config
  from gdacot.train.build import build, seed_slice
  from gdacot.train.checkpoints import CheckpointError, Checkpoints

  try:
    domain_spec = domain_from_config(cfg, domain, region, _domain_file_overrides(domain_file))
  except (ValueError, TypeError) as e:
    raise EvaluateError(str(e)) from e
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt_dir):
    raise CheckpointError(f"{ckpt_dir} does not exist: the run has not saved a checkpoint")
  ckpts = Checkpoints(ckpt_dir, best_metric=cfg.get("best_metric", ""), best_mode=cfg.get("best_mode", "max"),
                      read_only=True)
  try:
    step = _resolve_step(ckpts, step)
    record = ckpts.read_record(step)
    env = env_from_config(cfg)
    spec = record.get("spec", {})
    image_shape = None if env.image_shape is None else list(env.image_shape)
    want = {"obs_size": env.obs_size, "action_size": env.action_size, "image_shape": image_shape}
    if {k: spec.get(k) for k in want} != want:
      raise CheckpointError(f"checkpoint {step} holds a policy for observations/actions {spec}, but task "
                            f"{cfg.task!r} in domain {domain!r} gives {want}: it cannot be evaluated here")
    # The run without its data (the normaliser comes from the checkpoint), its rollout sized to
    # this evaluation's batch; restored onto this machine's devices.
    batch = min(batch_size or cfg.eval.batch_size, episodes)
    with cfg.unlocked():
      cfg.eval.batch_size = batch
    run = build(cfg, None, env=env, with_data=False)
    normalizer_like = Normalizer(mean=jax.numpy.zeros(env.obs_size), std=jax.numpy.ones(env.obs_size))
    state, normalizer = ckpts.restore(step, run.state, normalizer_like)
  finally:
    ckpts.close()

  # --- Roll out. ----------------------------------------------------------------------------
  policy_params = state.ema_params if params == "ema" else state.params
  renderer = None
  if video_view not in ("scene", "camera"):
    raise EvaluateError(f"--video_view must be 'scene' or 'camera', got {video_view!r}")
  if video:  # fail before the rollouts, not after
    from gdacot.render import video as videos
    if video_view == "scene":
      host_model = env.host_model_for(domain_spec)
      try:
        renderer = videos.make_renderer(host_model, size=160)
      except videos.VideoError as e:  # no OpenGL here (e.g. no EGL): MJX's camera needs none
        print(f"note: no OpenGL for the scene view ({e}); the video shows the policy's camera view, "
              "rendered on the device (--video_view=camera)", flush=True)
        video_view = "camera"
  print(f"gdacot.evaluate: {workdir} step {step} ({params} params), {domain}/{region}, {episodes} episodes, "
        f"devices={jax.devices()}", flush=True)
  labelled = get_method(cfg.method).domain_label
  if guidance is None:
    guidance = cfg.domain_label.guidance if labelled else 0.0
  rollout = run.rollout
  # A run of several seeds (config.num_seeds) holds them stacked: each is evaluated, with its
  # own evaluation episodes (as its own run would), and the interval over seeds is reported.
  seeds = run.seeds
  entries, recording = [], None
  for k, run_seed in enumerate(seeds):
    successes, n, rec = rollouts.evaluate(
        rollout, seed_slice(policy_params, k, len(seeds)), normalizer,
        rollouts.evaluation_key(run_seed) if seed is None else jax.random.PRNGKey(seed), domain_spec, episodes,
        batch, name=f"eval {domain}:{region}" + (f" seed {run_seed}" if len(seeds) > 1 else ""),
        record=video_episodes if video and k == 0 else 0, label=DOMAIN_LABELS[domain], guidance=guidance)
    recording = recording or rec
    entry = rollouts.result_entry(method=cfg.method, domain=domain, region=region, successes=successes,
                                  episodes=n, step=step, seed=run_seed)
    entry.update(eval_seed="run" if seed is None else seed, params=params,
                 domain_file=os.path.abspath(domain_file) if domain_file else None)
    if labelled:
      entry["guidance"] = guidance
    entries.append(entry)
  result = {"results": entries, "workdir": os.path.abspath(workdir), "checkpoint_step": step,
            "wall_time_s": time.perf_counter() - t_start}
  if len(seeds) > 1:
    result["over_seeds"] = stats.aggregate_over_seeds(entries)

  if video:
    if video_view == "scene":
      frames = videos.render_episodes(host_model, recording["qpos"], recording["success"], renderer=renderer)
    else:
      frames = videos.camera_episodes(env, domain_spec, recording["qpos"], recording["success"])
    with io.replacing(video) as tmp:
      videos.write_gif(tmp, frames, fps=1.0 / (2 * env.control_dt))
    result["video"], result["video_view"] = video, video_view
    print(f"wrote {video} ({len(recording['success'])} episodes, {len(frames)} frames)", flush=True)
  io.write_json(out, result)
  print(rollouts.format_table(entries), flush=True)
  print(f"wrote {out}", flush=True)
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.ERROR)  # orbax warns about read-only managers at WARNING
  from gdacot.data import DatasetError
  from gdacot.render.video import VideoError
  from gdacot.train.checkpoints import CheckpointError
  try:
    if _DATA.value:
      score_recorded(_WORKDIR.value, _DATA.value, out=_OUT.value, step=_STEP.value, domain=_DOMAIN.value,
                     fmt=_FORMAT.value, plot=_PLOT.value, plot_episodes=_VIDEO_EPISODES.value, params=_PARAMS.value,
                     overwrite=_OVERWRITE.value,
                     keys=dict(split=_SPLIT.value, state_key=_STATE_KEY.value, action_key=_ACTION_KEY.value,
                               image_keys=None if _IMAGE_KEYS.value is None else tuple(_IMAGE_KEYS.value),
                               state_slice=_STATE_SLICE.value, action_slice=_ACTION_SLICE.value,
                               max_episodes=_MAX_EPISODES.value))
      return
    evaluate_checkpoint(_WORKDIR.value, domain=_DOMAIN.value, region=_REGION.value, episodes=_EPISODES.value,
                        out=_OUT.value, step=_STEP.value, domain_file=_DOMAIN_FILE.value, video=_VIDEO.value,
                        video_episodes=_VIDEO_EPISODES.value, batch_size=_BATCH.value, seed=_SEED.value,
                        params=_PARAMS.value, guidance=_GUIDANCE.value, overwrite=_OVERWRITE.value,
                        video_view=_VIDEO_VIEW.value)
  except (EvaluateError, CheckpointError, VideoError, DatasetError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
