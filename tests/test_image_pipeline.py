"""Image observations end to end: co-training from the on-device camera, evaluation with the
policy's-eye video, the gap pictures tool, and the config checks that guard them."""

import json
import os

import numpy as np
import pytest
from runs import cotrain, module

from experiments.configs.cotrain import get_config
from gdacot.train.config import ConfigError, validate_config

IMAGE_SMOKE = "--config=experiments/configs/cotrain.py:image,smoke"


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("image") / "run")
  proc = cotrain(f"--workdir={workdir}", IMAGE_SMOKE, "--config.steps=20", "--config.ckpt_every=20",
                 "--config.method=uot_joint")
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc


def test_image_run_trains_and_evaluates_in_mjx(image_run):
  workdir, proc = image_run
  with open(os.path.join(workdir, "eval.json")) as f:
    evaluation = json.load(f)
  results = evaluation["results"]
  # eval.json names the gap in full: the real domain's look is the visual preset's.
  assert evaluation["gap"] == "visual" and evaluation["observation"] == "image"
  real = evaluation["domains"]["real"]
  assert real["table_texture"] == "wood" and real["channel_order"] == [1, 2, 0]
  assert evaluation["domains"]["sim"]["table_texture"] == "plain"
  assert [(r["domain"], r["region"]) for r in results] == [("real", "in"), ("real", "ood")]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert rows[-1]["bc_loss"] < rows[0]["bc_loss"] and all(0.05 < r["ot_mass"] <= 1.01 for r in rows)
  with open(os.path.join(workdir, "config.json")) as f:
    cfg = json.load(f)
  assert cfg["observation"] == "image" and cfg["gap"] == "visual" and cfg["model"]["encoder"] == "cnn"
  with open(os.path.join(workdir, "checkpoints", "20", "record", "metadata")) as f:
    assert json.load(f)["spec"] == {"obs_size": 3, "action_size": 3, "image_shape": [16, 16, 3]}


def test_evaluate_cli_plays_an_image_policy_with_its_camera_video(image_run, tmp_path):
  workdir, _ = image_run
  out, video = tmp_path / "eval.json", tmp_path / "camera.gif"
  # The run's evaluation size: the CLI then runs the program the run compiled (the persistent
  # compilation cache); 2 episodes would compile one of their own.
  proc = module("gdacot.evaluate", f"--workdir={workdir}", "--domain=real", "--region=in", "--episodes=8",
                f"--out={out}", f"--video={video}", "--video_episodes=2", "--video_view=camera")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert json.loads(out.read_text())["results"][0]["episodes"] == 8
  from PIL import Image
  with Image.open(video) as gif:
    assert gif.n_frames > 10 and gif.size == (96 * 2, 96)


def test_render_domains_tool_writes_the_gap_grid_and_refuses_to_overwrite(tmp_path):
  proc = module("tools.render_domains", f"--out={tmp_path}", "--size=16", "--scenes=2", "--gaps=visual,physics")
  assert proc.returncode == 0, proc.stderr[-3000:]
  grid = tmp_path / "domains.png"
  from PIL import Image
  with Image.open(grid) as im:
    assert np.asarray(im).std() > 0
  before = grid.stat().st_mtime
  proc = module("tools.render_domains", f"--out={tmp_path}", "--size=16", "--scenes=2")
  assert proc.returncode == 2 and "--overwrite" in proc.stderr
  assert grid.stat().st_mtime == before
  proc = module("tools.render_domains", f"--out={tmp_path / 'x'}", "--gaps=lighting")
  assert proc.returncode == 2 and "unknown gap 'lighting'" in proc.stderr


@pytest.mark.parametrize("changes, message", [
    ({"observation": "image"}, "needs model.encoder='cnn'"),
    ({"model.encoder": "cnn"}, "needs model.encoder='mlp'"),
    ({"observation": "video"}, "observation must be 'state' or 'image'"),
    ({"gap": "lighting"}, "unknown gap 'lighting'"),
    ({"observation": "image", "model.encoder": "cnn", "render.height": 4}, "render.height and render.width"),
    ({"observation": "image", "model.encoder": "cnn", "render.camera_lookat": (0.0, -0.3, 0.65)}, "must differ"),
    ({"observation": "image", "model.encoder": "cnn", "model.cnn.pooling": "max"}, "unknown pooling 'max'"),
    ({"observation": "image", "model.encoder": "cnn", "augment.random_shift": -1}, "augment.random_shift"),
    ({"domains.real.channel_order": (0, 1, 1)}, "channel_order must be a permutation"),
])
def test_bad_image_configs_are_refused(changes, message):
  cfg = get_config("smoke")
  for path, value in changes.items():
    node = cfg
    *parents, leaf = path.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  with pytest.raises(ConfigError, match=message):
    validate_config(cfg)


def test_gap_variants_set_the_gap_and_only_one_is_allowed():
  assert get_config("image").gap == "visual"
  assert get_config("image,physics").gap == "physics"
  assert get_config(None).gap == "sensor_physics" and get_config(None).observation == "state"
  with pytest.raises(ValueError, match="two gaps"):
    get_config("visual,physics")


def test_stepped_chunk_matches_the_scanned_chunk():
  # Image runs on a CPU train through SteppedChunk (n calls of one compiled step): the same
  # states and step-averaged metrics as the scanned chunk, and the jitted chunk's interface,
  # for one seed and for several.
  import jax
  import jax.numpy as jnp

  from gdacot.train.build import stepped_chunks
  from gdacot.train.step import SteppedChunk, make_train_chunk

  kernel = jax.random.normal(jax.random.PRNGKey(0), (3, 3, 2, 2)) * 0.3
  def step(state, data):  # a convolution, as the image encoder's, and a metric per step
    y = jax.lax.conv_general_dilated(state["x"], kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = jnp.tanh(y + data)
    return {"x": x, "step": state["step"] + 1}, {"mean": x.mean(), "step": state["step"].astype(jnp.float32)}

  state = {"x": jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 2)), "step": jnp.zeros((), jnp.int32)}
  data = jnp.full((2, 8, 8, 2), 0.1)
  copy = lambda s: jax.tree.map(jnp.array, s)  # the chunks donate their state
  scanned_state, scanned_metrics = make_train_chunk(step)(copy(state), data, 4)
  stepped = make_train_chunk(step, stepped=True)
  assert isinstance(stepped, SteppedChunk)
  stepped_state, stepped_metrics = stepped(copy(state), data, 4)
  np.testing.assert_allclose(stepped_state["x"], scanned_state["x"], rtol=1e-5, atol=1e-6)
  assert int(stepped_state["step"]) == 4 and float(stepped_metrics["step"]) == 1.5  # mean of 0..3
  np.testing.assert_allclose(stepped_metrics["mean"], scanned_metrics["mean"], rtol=1e-5)
  compiled = stepped.lower(copy(state), data, 4).compile()  # as tools/ time a compile apart
  again, _ = compiled(copy(state), data)
  np.testing.assert_allclose(again["x"], stepped_state["x"])
  assert "convolution" in compiled.as_text()
  # Seeds stacked on a leading axis: the stepped chunk steps each with the one-seed step, and
  # gives what the scanned chunk of the vmapped step gives (the states, per-seed metrics).
  seeds = jax.tree.map(lambda x: jnp.stack([x, 0.5 * x]), state)
  scanned_state, scanned_metrics = make_train_chunk(jax.vmap(step, in_axes=(0, None)))(copy(seeds), data, 3)
  per_seed = make_train_chunk(step, stepped=True, seeds=2)
  stepped_state, stepped_metrics = per_seed(copy(seeds), data, 3)
  np.testing.assert_allclose(stepped_state["x"], scanned_state["x"], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(stepped_state["step"], [3, 3])
  np.testing.assert_allclose(stepped_metrics["mean"], scanned_metrics["mean"], rtol=1e-5)
  assert stepped_metrics["mean"].shape == (2,) and stepped_metrics["mean"][0] != stepped_metrics["mean"][1]
  again, _ = per_seed.lower(copy(seeds), data, 3).compile()(copy(seeds), data)
  np.testing.assert_allclose(again["x"], stepped_state["x"])
  # Which runs step: image observations on the CPU backend; state runs keep the scan.
  assert stepped_chunks(get_config("image,smoke")) == (jax.default_backend() == "cpu")
  assert not stepped_chunks(get_config("smoke"))
