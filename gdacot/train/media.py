"""What a person looks at after a run, made from its final evaluation: a GIF of the first
episodes (WORKDIR/analysis/eval_video.gif) and the features for TensorBoard's projector, plus
the PCA plot of paper B's figure (WORKDIR/analysis/pca.png) when wandb is on. Each goes to
every logger the MetricsWriter holds (TensorBoard, wandb).

The video is the policy's own camera view, drawn by the on-device camera from the recorded
joint positions (gdacot/render/video.py's "camera" view), not MuJoCo's OpenGL renderer: it
needs no display or EGL, runs on every backend, and MuJoCo's EGL renderer crashed (SIGSEGV)
inside a long-lived test process that had run other programs before. `gdacot.evaluate
--video` still offers the OpenGL "scene" view."""

from __future__ import annotations

import os

from gdacot import io

VIDEO = "eval_video.gif"
PCA = "pca.png"
VIDEO_SIZE = 64  # pixels per episode tile: a small GIF that TensorBoard and wandb show inline


def log_evaluation(writer, *, workdir: str, env, domain, pair: str, recording: dict | None, features: dict | None,
                   step: int, pca_plot: bool, log=print) -> dict:
  """Writes and logs the video of `recording` (joint positions and outcomes of episodes of
  `pair`, rolled out in `domain`) and the features ({"sim": z, "real": z}); returns the paths
  written."""
  from gdacot.render import video as videos  # pylint: disable=g-import-not-at-top
  out = {}
  analysis = os.path.join(workdir, "analysis")
  os.makedirs(analysis, exist_ok=True)
  if recording is not None and len(recording["success"]):
    frames = videos.camera_episodes(env, domain, recording["qpos"], recording["success"], size=VIDEO_SIZE)
    out["video"] = os.path.join(analysis, VIDEO)
    with io.replacing(out["video"]) as tmp:
      videos.write_gif(tmp, frames, fps=1.0 / (2 * env.control_dt))  # every 2nd step, real time
    writer.video(f"eval/video/{pair}", out["video"], step)
    log(f"evaluation video ({pair}, {len(recording['success'])} episodes): {out['video']}")
  if features:
    writer.embedding("features", features, step)
    if pca_plot:
      from gdacot.align.plots import plot_features  # pylint: disable=g-import-not-at-top
      out["pca"] = os.path.join(analysis, PCA)
      plot_features(features["sim"], features["real"], out["pca"], title=f"sim vs real features, step {step}")
      writer.image("analysis/pca", out["pca"], step)
  return out
