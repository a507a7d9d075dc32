"""Dataset cameras train (sources.<domain>.image_keys with observation='image'): frames resized
once at load and laid side by side as the rendered views are, in every format and in mixtures;
domains that show the policy different cameras are refused; and a LeRobot dataset written by
tools.make_demos co-trains with MJX-rendered sim and is evaluated in MJX."""

import json
import os
import re

import numpy as np
import pytest

from gdacot.data.sources import DatasetError, KeyMap, load, load_configured
from gdacot.data.sources.images import policy_image, resize_frames
from gdacot.data.sources.lerobot_write import write_lerobot
from gdacot.data.sources.validate import check_cameras_fit
from gdacot.policy import ObservationError
from gdacot.policy import load as load_policy
from runs import ROOT, SMOKE, cotrain, module
from test_robomimic import EEF, IMAGE, LENGTHS, MASKS, write_robomimic_file
from test_sources import _config

WRIST = "obs/robot0_eye_in_hand_image"
IMAGE_SMOKE = "--config=experiments/configs/cotrain.py:image,smoke"


def _with_wrist(name, arrays):
  arrays[WRIST] = np.roll(arrays[IMAGE], 3, axis=1)  # a second camera, unlike the first


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
  """A robomimic file with two 16x16 cameras (agentview, eye in hand)."""
  path = str(tmp_path_factory.mktemp("robomimic") / "two_cameras.hdf5")
  return path, write_robomimic_file(path, LENGTHS, MASKS, change=_with_wrist)


def _image_config(**top):
  c = _config(observation="image", **top)
  c.render = {"height": 8, "width": 12}
  return c


def test_resize_is_antialiased_and_views_lie_side_by_side():
  # A 1-pixel checkerboard shrunk 4x averages to grey; point sampling would keep 0s or 255s.
  board = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)[None, :, :, None].repeat(3, -1)
  small = resize_frames(board, 8, 8)
  assert small.shape == (1, 8, 8, 3) and small.dtype == np.uint8 and np.abs(small.astype(int) - 128).max() <= 2
  grey = resize_frames(board[..., :1], 8, 8)  # one channel -> RGB
  np.testing.assert_array_equal(grey, small)
  two = policy_image({"a": board, "b": 255 - board}, ("b", "a"), 8, 8)
  assert two.shape == (1, 8, 16, 3)
  np.testing.assert_array_equal(two[:, :, 8:], small)  # "a" second, as listed


def test_robomimic_cameras_enter_the_observation_resized_in_key_order(h5):
  path, written = h5
  keys = KeyMap(state_key=EEF, action_key="actions", image_keys=(WRIST, IMAGE))
  raw = load(path, keys, min_length=8)
  data = load(path, keys, min_length=8, image_size=(8, 12))
  assert data.images == {} and data.cameras == (WRIST, IMAGE) and data.obs_size == 3
  image = np.asarray(data.demos.obs["image"])
  assert image.shape == (3, 12, 8, 24, 3) and image.dtype == np.uint8
  for e, n in enumerate(np.asarray(data.demos.lengths)):
    want = policy_image({k: raw.images[k][e, :n] for k in keys.image_keys}, keys.image_keys, 8, 12)
    np.testing.assert_array_equal(image[e, :n], want)
  np.testing.assert_array_equal(np.asarray(data.demos.obs["state"]), np.asarray(raw.demos.obs))


def test_a_mixture_of_camera_datasets_loads_as_one_domain(h5, tmp_path):
  path, _ = h5
  rng = np.random.default_rng(0)
  frames = [rng.integers(0, 256, (10, 20, 30, 3), dtype=np.uint8) for _ in range(3)]
  lerobot = write_lerobot(str(tmp_path / "lerobot"), states=[rng.normal(size=(10, 3)).astype(np.float32)] * 3,
                          actions=[rng.normal(size=(10, 7)).astype(np.float32)] * 3, tasks=["t"] * 3, fps=10,
                          images={"observation.images.front": frames, "observation.images.wrist": frames})
  c = _image_config()
  c.sources.sim.mixture = (
      {"path": lerobot, "weight": 1, "state_key": "observation.state",
       "image_keys": ("observation.images.front", "observation.images.wrist")},
      {"path": path, "weight": 1, "state_key": EEF, "action_key": "actions", "image_keys": (IMAGE, WRIST)})
  sim = load_configured(c, 3, 7, task_views=("front", "wrist"))["sim"]
  assert sim.demos.obs["image"].shape == (6, 12, 8, 24, 3) and [p.episodes for p in sim.parts] == [3, 3]
  c.sources.sim.mixture = c.sources.sim.mixture[:1] + (dict(c.sources.sim.mixture[1], image_keys=(IMAGE,)),)
  with pytest.raises(DatasetError, match="the sim datasets differ in images"):
    load_configured(c, 3, 7, task_views=("front", "wrist"))


def test_domains_showing_other_cameras_are_refused_naming_both(h5):
  path, _ = h5
  c = _image_config(real_data=path)
  c.sources.real.update(state_key=EEF, action_key="actions", image_keys=(IMAGE, WRIST))
  with pytest.raises(DatasetError) as e:
    load_configured(c, 3, 7, task_views=("front",))
  assert str(e.value).startswith(f"real has 2 cameras ({IMAGE}, {WRIST}), sim renders 1 camera (front)")
  c.sources.real.image_keys = ()
  with pytest.raises(DatasetError, match="sources.real: the policy takes camera images .* image_keys names none"):
    load_configured(c, 3, 7, task_views=("front",))
  with pytest.raises(DatasetError, match="camera 1 is 'wrist' in one and 'front' in the other"):
    check_cameras_fit({"real": ("has", ("observation.images.wrist", "observation.images.front")),
                       "sim": ("renders", ("front", "wrist"))})
  check_cameras_fit({"real": ("has", ("cam_high", "cam_left_wrist")), "sim": ("renders", ("front", "wrist"))})


def test_a_lerobot_camera_dataset_from_make_demos_cotrains_with_rendered_sim(tmp_path):
  """The loop closed at smoke size: push_cube's real domain (visual gap) written by the
  make_demos command line as LeRobot video, co-trained with MJX-rendered sim, evaluated by MJX
  in the real domain that made the files; one real episode held out ranks the checkpoints."""
  out = tmp_path / "data"
  proc = module("tools.make_demos", "--task=push_cube", "--domain=real", "--gap=visual", "--episodes=8", "--batch=8",
                "--format=lerobot", "--observation=image", "--height=16", "--width=16", f"--out_dir={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  path = json.loads(proc.stdout)["path"]
  with open(os.path.join(path, "meta", "info.json")) as f:
    assert json.load(f)["features"]["observation.images.front"]["shape"] == [16, 16, 3]
  workdir = tmp_path / "run"
  args = (f"--workdir={workdir}", IMAGE_SMOKE, "--config.steps=20", f"--config.real_data={path}",
          "--config.sources.real.state_key=observation.state")
  proc = cotrain(*args, "--config.sources.real.image_keys=('observation.images.front', 'observation.images.front')",
                 timeout=300)
  assert proc.returncode == 2 and "real has 2 cameras" in proc.stderr and "sim renders 1 camera (front)" in proc.stderr
  assert not workdir.exists()
  proc = cotrain(*args, "--config.sources.real.image_keys=('observation.images.front',)",
                 "--config.sources.real.val_episodes=1", "--config.best_metric=val/real/action_mse",
                 "--config.best_mode=min", timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "real: 8 episodes" in proc.stdout and "images 16x16, 1 camera (observation.images.front)" in proc.stdout
  assert "real: 1 episodes" in proc.stdout and "held out (val/real/...)" in proc.stdout
  with open(workdir / "metrics.jsonl") as f:
    rows = {r["step"]: r for r in map(json.loads, f)}
  for step in (20,):  # the checkpoint: scored on the held-out episode, per action dimension too
    assert rows[step]["val/real/action_mse"] > 0 and {f"val/real/action_mse_{i}" for i in range(3)} <= set(rows[step])
  with open(workdir / "eval.json") as f:
    results = {(r["domain"], r["region"]): r for r in json.load(f)["results"]}
  assert set(results) == {("real", "in"), ("real", "ood")} and results[("real", "in")]["episodes"] == 8
  assert not os.path.exists(workdir / "demos" / "real.npz") and os.path.exists(workdir / "demos" / "sim.npz")
  # The trained checkpoint as the robot's policy: the dataset's names, frames of any size.
  policy = load_policy(str(workdir), step="best", domain="real")
  assert policy.spec == {"observation.state": ((3,), np.dtype(np.float32)),
                         "observation.images.front": ((16, 16, 3), np.dtype(np.uint8))}
  frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
  action = policy.act({"observation.state": np.zeros(3, np.float32), "observation.images.front": frame})
  assert action.shape == (3,) and np.all(np.abs(action) <= 1)
  with pytest.raises(ObservationError, match="observation 'observation.images.front' is missing"):
    policy.act({"observation.state": np.zeros(3, np.float32)})
  with pytest.raises(ObservationError, match="takes a uint8 camera frame"):
    policy.act({"observation.state": np.zeros(3, np.float32), "observation.images.front": frame.astype(np.float32)})


def test_images_over_the_device_budget_are_refused_before_the_workdir(tmp_path):
  workdir = tmp_path / "run"
  proc = cotrain(f"--workdir={workdir}", IMAGE_SMOKE, "--config.data.image_memory_fraction=1e-9", timeout=300)
  assert proc.returncode == 2 and re.search(r"the images would take [\d.]+ MiB on every device \(sim [\d.]+ MiB "
                                            r"\(16 episodes x \d+ steps\); real", proc.stderr), proc.stderr[-2000:]
  assert "over the budget of" in proc.stderr and "lower render.height and render.width" in proc.stderr
  assert "data.num_sim_demos or data.num_real_demos" in proc.stderr and not workdir.exists()


def test_domains_stepping_at_other_rates_are_refused_unless_a_stride_matches(tmp_path):
  rng = np.random.default_rng(1)
  states = [rng.normal(size=(40, 3)).astype(np.float32) for _ in range(2)]
  actions = [rng.normal(size=(40, 3)).astype(np.float32) for _ in range(2)]
  path = write_lerobot(str(tmp_path / "fast"), states=states, actions=actions, tasks=["t"] * 2, fps=100)
  c = _config(real_data=path)
  c.sources.real.state_key = "observation.state"
  with pytest.raises(DatasetError) as e:
    load_configured(c, 3, 3, task_rate=50.0)
  assert str(e.value).startswith("real steps at 100 per second") and "sim at 50 per second (generated in MJX by task 'push_cube')" in str(e.value)
  assert "set sources.real.frame_stride=2" in str(e.value)
  c.sources.real.frame_stride = 2
  real = load_configured(c, 3, 3, task_rate=50.0)["real"]
  assert real.fps == 50 and real.demos.obs.shape[1] == 20
  np.testing.assert_array_equal(np.asarray(real.demos.obs[1]), states[1][::2])
  np.testing.assert_array_equal(np.asarray(real.demos.actions[0]), actions[0][::2])
  with pytest.raises(DatasetError, match="only a whole multiple of the other rate can be matched"):
    load_configured(c, 3, 3, task_rate=30.0)
  c.sources.real.frame_stride = 8  # 5 steps left, fewer than the chunk of 8
  with pytest.raises(DatasetError, match="keeps 5 steps at frame_stride=8, fewer than the action chunk"):
    load_configured(c, 3, 3, task_rate=12.5)
  # One domain's datasets at two rates are refused too, naming each.
  slow = write_lerobot(str(tmp_path / "slow"), states=states, actions=actions, tasks=["t"] * 2, fps=50)
  c = _config()
  c.sources.sim.mixture = ({"path": path, "weight": 1, "state_key": "observation.state"},
                           {"path": slow, "weight": 1, "state_key": "observation.state"})
  with pytest.raises(DatasetError, match=r"the sim datasets step at different rates \(per second: .*fast.* 100, "
                                         r".*slow.* 50\)"):
    load_configured(c, 3, 3)
  c.sources.sim.mixture = (dict(c.sources.sim.mixture[0], frame_stride=2), c.sources.sim.mixture[1])
  assert load_configured(c, 3, 3, task_rate=50.0)["sim"].fps == 50


def test_a_run_whose_dataset_steps_at_another_rate_is_refused_before_the_workdir(tmp_path):
  rng = np.random.default_rng(2)
  path = write_lerobot(str(tmp_path / "fast"), states=[rng.normal(size=(20, 8)).astype(np.float32)] * 2,
                       actions=[rng.uniform(-1, 1, (20, 3)).astype(np.float32)] * 2, tasks=["t"] * 2, fps=100)
  workdir = tmp_path / "run"
  proc = cotrain(f"--workdir={workdir}", SMOKE, f"--config.real_data={path}",
                 "--config.sources.real.state_key=observation.state", timeout=300)
  assert proc.returncode == 2 and "real steps at 100 per second" in proc.stderr, proc.stderr[-2000:]
  assert "sim at 50 per second (generated in MJX by task 'push_cube')" in proc.stderr
  assert "frame_stride=2" in proc.stderr and not workdir.exists()


def test_make_demos_takes_a_users_domain_file(tmp_path):
  from tools.make_demos import make_demos
  with pytest.raises(ValueError, match="--domain_file=.*does not exist"):
    make_demos("push_cube", "real", "in", 2, str(tmp_path), domain_file=str(tmp_path / "missing.py"))
  bad = tmp_path / "bad.py"
  bad.write_text("def get_domain():\n  return {'cube_mass': 0.5, 'no_such_field': 1.0}\n")
  with pytest.raises(ValueError, match="no_such_field"):
    make_demos("push_cube", "real", "in", 2, str(tmp_path / "out"), domain_file=str(bad))
  assert not (tmp_path / "out").exists()
