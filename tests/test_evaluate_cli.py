"""`python -m gdacot.evaluate` on a smoke run's checkpoints: results, video, and bad input."""

import json
import os
import shutil

import pytest
from runs import ENTRY_KEYS, module

from gdacot.evaluate import EvaluateError, evaluate_checkpoint
from gdacot.train.checkpoints import CheckpointError


def evaluate(*args, **kwargs):
  return module("gdacot.evaluate", *args, **kwargs)


def test_evaluate_writes_results_and_a_video(smoke_run, tmp_path):
  workdir, _ = smoke_run
  out, video = tmp_path / "eval_ood.json", tmp_path / "rollouts.gif"
  proc = evaluate(f"--workdir={workdir}", "--domain=real", "--region=ood", "--episodes=10", "--batch_size=5",
                  f"--out={out}", "--step=40", f"--video={video}", "--video_episodes=2")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "eval real:ood: 10/10" in proc.stdout  # progress
  result = json.loads(out.read_text())
  (entry,) = result["results"]
  assert ENTRY_KEYS <= set(entry)
  assert (entry["method"], entry["domain"], entry["region"], entry["episodes"], entry["step"]) == (
      "uot_joint", "real", "ood", 10, 40)
  assert entry["params"] == "ema" and 0 <= entry["successes"] <= 10
  assert entry["ci95"][0] <= entry["success_rate"] <= entry["ci95"][1]

  from PIL import Image
  with Image.open(video) as gif:
    assert gif.format == "GIF" and gif.n_frames > 30  # the whole episode, every other step
    assert gif.size == (320, 160)  # two 160-pixel tiles side by side


def test_evaluate_in_process_matches_across_batch_sizes_and_takes_a_domain_file(smoke_run, tmp_path):
  workdir, _ = smoke_run
  # Two batch sizes, the run's own (8) and 2, each one program for every call of this test.
  a = evaluate_checkpoint(workdir, domain="sim", region="in", episodes=6, out=str(tmp_path / "a.json"))
  b = evaluate_checkpoint(workdir, domain="sim", region="in", episodes=6, out=str(tmp_path / "b.json"),
                          batch_size=2)
  assert a["checkpoint_step"] == 60 and a["results"][0]["episodes"] == 6  # the newest by default
  # By default the CLI plays the run's own evaluation episodes: it reproduces eval.json.
  with open(os.path.join(workdir, "eval.json")) as f:
    (trained,) = [r for r in json.load(f)["results"] if (r["domain"], r["region"]) == ("real", "ood")]
  again = evaluate_checkpoint(workdir, domain="real", region="ood", episodes=trained["episodes"],
                              out=str(tmp_path / "again.json"), batch_size=2)["results"][0]
  assert (again["successes"], again["step"]) == (trained["successes"], trained["step"])
  # Episode i is keyed by i alone, so the batching does not change the episodes.
  assert a["results"][0]["successes"] == b["results"][0]["successes"]
  # A domain file's fields act on the rollouts: the object's pose is sensed 20 cm off, so the
  # policy pushes elsewhere, and the recorded episodes differ from the same episodes without it.
  # (The smoke policy succeeds nowhere, so its success rate could not tell.)
  domain_file = tmp_path / "offset.py"
  domain_file.write_text("def get_domain():\n  return {'obs_offset': (0.2, 0.2, 0.0)}\n")

  def frames(name, **kwargs):
    result = evaluate_checkpoint(workdir, domain="real", region="in", episodes=2, out=str(tmp_path / f"{name}.json"),
                                 video=str(tmp_path / f"{name}.gif"), video_episodes=2, step="best",
                                 video_view="camera", **kwargs)  # MJX's camera: no OpenGL in this process
    return result, _gif_frames(tmp_path / f"{name}.gif")

  c, shifted = frames("c", domain_file=str(domain_file))
  assert c["results"][0]["domain_file"] == str(domain_file)
  assert c["checkpoint_step"] in (20, 40, 60)
  _, plain = frames("plain")  # the same episodes (keyed by index), without the file
  assert len(shifted) == len(plain) and (shifted[0] == plain[0]).all()  # the same start
  assert any((x != y).any() for x, y in zip(shifted, plain))  # then the file changes what happens


def _gif_frames(path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image, ImageSequence  # pylint: disable=g-import-not-at-top
  with Image.open(path) as gif:
    return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]


def test_without_opengl_the_video_falls_back_to_the_on_device_camera(smoke_run, tmp_path, monkeypatch, capsys):
  # A host without EGL (or any OpenGL): the scene view cannot render; the camera view, rendered
  # in MJX on the device, still can. The video is written from it, with a note.
  from gdacot.render import video as videos  # pylint: disable=g-import-not-at-top

  def no_opengl(*args, **kwargs):
    raise videos.VideoError("offscreen rendering is unavailable (RuntimeError: no EGL)")

  monkeypatch.setattr(videos, "make_renderer", no_opengl)
  workdir, _ = smoke_run
  video = tmp_path / "rollouts.gif"
  result = evaluate_checkpoint(workdir, domain="real", region="in", episodes=2, out=str(tmp_path / "e.json"),
                               video=str(video), video_episodes=2)
  assert result["video"] == str(video) and result["video_view"] == "camera"
  assert "note: no OpenGL for the scene view" in capsys.readouterr().out
  assert len(_gif_frames(video)) > 30


# --- Bad input: a clear error naming the problem, and nothing written. ----------------------

def _copy_run(workdir, tmp_path):
  copy = tmp_path / "copy"
  shutil.copytree(workdir, copy)
  return copy


def test_cli_refuses_a_missing_workdir_with_exit_2(tmp_path):
  out = tmp_path / "out.json"
  proc = evaluate(f"--workdir={tmp_path / 'nope'}", f"--out={out}", timeout=120)
  assert proc.returncode == 2
  assert "error:" in proc.stderr and "nope does not exist" in proc.stderr
  assert not out.exists()


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(domain="moon"), EvaluateError, "unknown domain 'moon'"),
    (dict(region="left"), EvaluateError, "unknown region 'left'"),
    (dict(step="7"), CheckpointError, "--step=7: no complete checkpoint at that step"),
    (dict(step="last"), EvaluateError, "neither a step number, 'latest' nor 'best'"),
    (dict(episodes=0), EvaluateError, "--episodes must be positive"),
])
def test_bad_arguments_are_refused(smoke_run, tmp_path, kwargs, error, message):
  workdir, _ = smoke_run
  out = tmp_path / "out.json"
  with pytest.raises(error, match=message.replace("(", r"\(").replace("?", r"\?")):
    evaluate_checkpoint(workdir, **{"domain": "real", "region": "in", "episodes": 4, "out": str(out), **kwargs})
  assert not out.exists()


def test_existing_or_unwritable_outputs_are_refused(smoke_run, tmp_path):
  workdir, _ = smoke_run
  out = tmp_path / "out.json"
  out.write_text("precious")
  with pytest.raises(EvaluateError, match="exists; refusing to overwrite"):
    evaluate_checkpoint(workdir, domain="real", region="in", episodes=4, out=str(out))
  assert out.read_text() == "precious"
  with pytest.raises(EvaluateError, match="does not exist"):
    evaluate_checkpoint(workdir, domain="real", region="in", episodes=4, out=str(tmp_path / "no" / "o.json"))
  with pytest.raises(EvaluateError, match="is a directory"):
    evaluate_checkpoint(workdir, domain="real", region="in", episodes=4, out=str(tmp_path))


def test_run_without_checkpoints_is_refused(smoke_run, tmp_path):
  copy = _copy_run(smoke_run[0], tmp_path)
  shutil.rmtree(copy / "checkpoints")
  with pytest.raises(CheckpointError, match="has not saved a checkpoint"):
    evaluate_checkpoint(str(copy), domain="real", region="in", episodes=4, out=str(tmp_path / "o.json"))
  (copy / "checkpoints").mkdir()
  with pytest.raises(CheckpointError, match="no complete checkpoint"):
    evaluate_checkpoint(str(copy), domain="real", region="in", episodes=4, out=str(tmp_path / "o.json"))


def test_directory_that_is_not_a_run_is_refused(tmp_path):
  with pytest.raises(EvaluateError, match="config.json is missing"):
    evaluate_checkpoint(str(tmp_path), domain="real", region="in", episodes=4, out=str(tmp_path / "o.json"))


def test_truncated_checkpoint_is_refused(smoke_run, tmp_path):
  copy = _copy_run(smoke_run[0], tmp_path)
  for root, _, files in os.walk(copy / "checkpoints" / "60" / "state"):
    for name in files:
      path = os.path.join(root, name)
      if os.path.getsize(path) > 16:
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)
  with pytest.raises(CheckpointError, match="60.*corrupt or truncated"):
    evaluate_checkpoint(str(copy), domain="real", region="in", episodes=4, out=str(tmp_path / "o.json"))
  assert not (tmp_path / "o.json").exists()


def test_config_that_does_not_fit_the_checkpoint_is_refused(smoke_run, tmp_path):
  copy = _copy_run(smoke_run[0], tmp_path)
  config = json.loads((copy / "config.json").read_text())
  config["model"]["hidden"] = 32  # the saved parameters are 64 wide
  (copy / "config.json").write_text(json.dumps(config))
  with pytest.raises(CheckpointError, match="does not restore|shapes"):
    evaluate_checkpoint(str(copy), domain="real", region="in", episodes=4, out=str(tmp_path / "o.json"))
  del config["model"]
  (copy / "config.json").write_text(json.dumps(config))
  with pytest.raises(EvaluateError, match="does not fit this version of gdacot"):
    evaluate_checkpoint(str(copy), domain="real", region="in", episodes=4, out=str(tmp_path / "o.json"))


def test_checkpoint_for_other_observations_is_refused(smoke_run, tmp_path):
  """A policy trained on data with another observation spec (e.g. an RLDS dataset) cannot be
  rolled out in this task: refused by the spec the checkpoint records."""
  copy = _copy_run(smoke_run[0], tmp_path)
  record_dir = copy / "checkpoints" / "60" / "record"
  (path,) = [p for p in record_dir.iterdir() if p.is_file() and p.read_text().lstrip().startswith("{")]
  record = json.loads(path.read_text())
  record["spec"]["obs_size"] = 7
  path.write_text(json.dumps(record))
  with pytest.raises(CheckpointError, match="observations/actions"):
    evaluate_checkpoint(str(copy), domain="real", region="in", episodes=4, out=str(tmp_path / "o.json"))
