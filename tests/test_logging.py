"""What a run logs for people (issue 34): TensorBoard's scalars, evaluation video and feature
embedding, and Weights & Biases in its offline mode, one wandb run across a resume."""

import glob
import os

import pytest

from gdacot.train import get_config, train
from gdacot.train.wandb_logger import RUN_ID_FILE, run_id

pytest.importorskip("wandb", reason="the [wandb] extra (in [test]) is not installed")


def _event_tags(workdir):
  """Tags of every summary in the run's TensorBoard event files, by kind (scalar or image)."""
  import struct  # pylint: disable=g-import-not-at-top

  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  tags = {"scalar": set(), "image": set()}
  for path in glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*")):
    with open(path, "rb") as f:
      data = f.read()
    i = 0
    while i < len(data):  # TFRecord framing: length, its CRC, the record, its CRC
      (n,) = struct.unpack("<Q", data[i:i + 8])
      event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
      i += 12 + n + 4
      for v in event.summary.value:
        if v.HasField("image"):
          tags["image"].add(v.tag)
        elif v.HasField("simple_value") or v.HasField("tensor"):
          tags["scalar"].add(v.tag)
  return tags


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
  """A smoke run with wandb on (offline), then the same call again: the rerun resumes it (its
  last checkpoint is its end, so it trains nothing and evaluates again)."""
  mp = pytest.MonkeyPatch()
  mp.setenv("WANDB_MODE", "offline")
  mp.setenv("WANDB_SILENT", "true")
  workdir = str(tmp_path_factory.mktemp("logged") / "run")
  cfg = get_config("smoke")
  cfg.steps, cfg.ckpt_every, cfg.ckpt_eval.episodes, cfg.keep_best, cfg.best_metric = 20, 20, 0, 0, ""
  cfg.log.wandb, cfg.log.project, cfg.log.tags = True, "gdacot-tests", ("smoke", "ci")
  cfg.log.video_episodes = 2
  first = train(cfg.copy_and_resolve_references(), workdir)
  first_id = run_id(workdir)
  second = train(cfg.copy_and_resolve_references(), workdir)
  mp.undo()
  return workdir, first, second, first_id


def test_tensorboard_gets_scalars_the_evaluation_video_and_the_features(logged_run):
  workdir, first, _, _ = logged_run
  tags = _event_tags(workdir)
  assert {"loss", "bc_loss", "analysis/wasserstein"} <= tags["scalar"]
  assert "eval/video/real:in" in tags["image"]  # the GIF, played by the image dashboard
  gif = os.path.join(workdir, "analysis", "eval_video.gif")
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(gif) as im:
    assert im.n_frames > 5 and im.size == (2 * 64, 64)  # 2 episodes, tiled
  projector = os.path.join(workdir, "tensorboard", "projector_config.pbtxt")
  with open(projector) as f:
    assert "features" in f.read()
  metadata = glob.glob(os.path.join(workdir, "tensorboard", "*", "features", "metadata.tsv")) + \
      glob.glob(os.path.join(workdir, "tensorboard", "*", "metadata.tsv"))
  with open(metadata[0]) as f:
    assert set(f.read().split()) == {"sim", "real"}
  assert first["results"]


def test_wandb_offline_run_holds_scalars_video_and_plot_and_a_resume_continues_it(logged_run):
  workdir, _, second, first_id = logged_run
  assert first_id and run_id(workdir) == first_id  # kept in the workdir, unchanged by the resume
  with open(os.path.join(workdir, RUN_ID_FILE)) as f:
    assert f.read().strip() == first_id
  runs = sorted(glob.glob(os.path.join(workdir, "wandb", "offline-run-*")))
  # Two processes' worth of logging (the run and its resume), both under the one run id
  # (`wandb sync` merges them into one run).
  assert len(runs) == 2 and all(f"-{first_id}" in os.path.basename(r) for r in runs), runs
  data = open(glob.glob(os.path.join(runs[0], f"run-{first_id}.wandb"))[0], "rb").read()
  for key in (b"bc_loss", b"analysis/wasserstein", b"gdacot-tests", b"smoke"):
    assert key in data, key  # scalars, the project and the tags, in wandb's record file
  for r in runs:
    assert glob.glob(os.path.join(r, "files", "media", "videos", "**", "*.gif"), recursive=True), r
    assert glob.glob(os.path.join(r, "files", "media", "images", "**", "pca_*.png"), recursive=True), r
  assert os.path.exists(os.path.join(workdir, "analysis", "pca.png"))
  assert second["results"]


def test_wandb_config_is_checked():
  from gdacot.train.config import ConfigError, validate_config  # pylint: disable=g-import-not-at-top
  cfg = get_config("smoke")
  cfg.log.wandb, cfg.log.project, cfg.log.video_episodes = True, "", -1
  with pytest.raises(ConfigError, match="log.video_episodes must be >= 0.*\n.*log.project must name"):
    validate_config(cfg)
