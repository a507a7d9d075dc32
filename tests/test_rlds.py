"""RLDS in and out (gdacot.data.sources.rlds): the real Bridge sample, generated demos
round-tripped without TensorFlow, and every kind of bad dataset refused by the shared
validation with a message naming the episode and the field."""

import importlib.util
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from gdacot.data import Dataset, Normalizer
from gdacot.data.sources import DatasetError, KeyMap, eval_skips, load, load_domains
from gdacot.data.sources.rlds import resolve_dataset_dir, write_episodes
from gdacot.data.sources.validate import parse_slice
from runs import ROOT, SMOKE, cotrain, module

BRIDGE = os.path.normpath(os.path.join(ROOT, "..", "shared", "datasets", "bridge_dataset", "1.0.0"))
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
# TFRecord needs the [rlds] extra. CI installs it, so there a missing TensorFlow fails loudly.
needs_tf = pytest.mark.skipif(not HAVE_TF and not os.environ.get("CI"),
                              reason="reading TFRecord needs the [rlds] extra (tensorflow-cpu)")
needs_bridge = pytest.mark.skipif(not os.path.isdir(BRIDGE) and not os.environ.get("CI"),
                                  reason=f"no Bridge sample at {BRIDGE}")
# The same sample as LeRobot v3.0, written by LeRobot 0.4.4 (tests/test_lerobot.py reads it).
BRIDGE_LEROBOT = os.path.normpath(os.path.join(ROOT, "..", "shared", "datasets", "bridge_lerobot"))
needs_bridge_lerobot = pytest.mark.skipif(not os.path.isdir(BRIDGE_LEROBOT) and not os.environ.get("CI"),
                                          reason=f"no LeRobot Bridge copy at {BRIDGE_LEROBOT}")
IMAGES = tuple(f"observation/image_{i}" for i in range(4))


def features_json_steps(path):
  """Step feature -> (shape, dtype) read straight from features.json, without tfds."""
  with open(os.path.join(path, "features.json")) as f:
    top = json.load(f)["featuresDict"]["features"]
  out = {}

  def walk(node, prefix):
    if "featuresDict" in node:
      for name, sub in node["featuresDict"]["features"].items():
        walk(sub, prefix + [name])
      return
    spec = node.get("tensor") or node.get("image")
    if spec is not None:
      out["/".join(prefix)] = ([int(d) for d in spec.get("shape", {}).get("dimensions", [])], spec["dtype"])
    else:  # Text
      out["/".join(prefix)] = ([], "string")

  walk(top["steps"]["sequence"]["feature"], [])
  return out


# --- The real Bridge sample (TFRecord, written by nobody here). -----------------------------


@needs_tf
@needs_bridge
def test_bridge_train_split_reads_with_the_shapes_of_its_features_json():
  spec = features_json_steps(BRIDGE)
  data = load(BRIDGE, KeyMap(image_keys=IMAGES), min_length=8)  # the format detected: rlds
  lengths = np.asarray(data.demos.lengths)
  assert data.format == "rlds" and data.file_format == "tfrecord" and len(lengths) == 25 and len(data.metadata) == 25
  horizon = int(lengths.max())
  assert data.demos.obs.shape == (25, horizon, *spec["observation/state"][0])
  assert data.demos.actions.shape == (25, horizon, *spec["action"][0])
  for key in IMAGES:
    assert data.images[key].shape == (25, horizon, *spec[key][0]) and spec[key][1] == "uint8"
    assert data.images[key].dtype == np.uint8
  assert data.images["observation/image_0"].mean() > 10  # decoded JPEG (image_3 is the sample's blank)
  assert {"episode_id", "file_path"} <= set(data.metadata[0])
  # The loaded demos are what the trainer takes: normalised, sampled with chunks.
  norm = Normalizer.fit(data.demos)
  batch = Dataset.create(data.demos, norm, obs_horizon=2, chunk=8).sample(jax.random.PRNGKey(0), 5)
  assert batch.obs.shape == (5, 2, 7) and batch.actions.shape == (5, 8, 7)
  assert np.isfinite(np.asarray(batch.obs)).all()


@needs_tf
@needs_bridge
def test_dataset_info_prints_episodes_steps_and_every_feature():
  proc = module("tools.dataset_info", BRIDGE, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  info = json.loads(proc.stdout)
  assert info["format"] == "rlds" and info["file_format"] == "tfrecord"
  assert info["name"] == "bridge_dataset" and info["version"] == "1.0.0"
  for split in ("train", "val"):  # the sample's episodes are 10 steps each
    assert info["splits"][split] == {"episodes": 25, "steps": 250, "episode_length": {"min": 10, "max": 10}}
  spec = features_json_steps(BRIDGE)
  got = {k: (v["shape"], v["dtype"]) for k, v in info["features"]["steps"].items()}
  assert got == {k: (shape, dtype) for k, (shape, dtype) in spec.items()}
  assert info["features"]["episode"]["episode_metadata/episode_id"] == {
      "shape": [], "dtype": "int32", "feature": "Scalar"}


@needs_tf
@needs_bridge
@needs_bridge_lerobot
def test_bridge_trains_a_smoke_run_with_its_camera_images(tmp_path):
  # No simulator of the Bridge robot exists here: the RLDS sample's val split stands in for the
  # sim domain, and its LeRobot copy (written by LeRobot, nobody here) is the real domain, both
  # through their cameras. This checks the plumbing, not transfer.
  workdir = tmp_path / "run"
  # rlds.sim.split is the README's older spelling of sources.sim.split: it still works, with a note.
  proc = cotrain(f"--workdir={workdir}", "--config=experiments/configs/cotrain.py:image,smoke", "--config.steps=20",
                 f"--config.real_data={BRIDGE_LEROBOT}", "--config.sources.real.state_key=observation.state",
                 "--config.sources.real.image_keys=('observation.images.image_0',)",
                 f"--config.sim_data={BRIDGE}", "--config.rlds.sim.split=val",
                 "--config.sources.sim.image_keys=('observation/image_0',)", "--config.keep_best=0", timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "note: rlds.sim.split is the old name of sources.sim.split" in proc.stdout
  assert "real: 25 episodes" in proc.stdout and "note: no MJX evaluation of real:in" in proc.stdout
  assert "images 16x16, 1 camera" in proc.stdout
  with open(workdir / "metrics.jsonl") as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [10, 20] and all(np.isfinite(r["bc_loss"]) for r in rows)
  with open(workdir / "eval.json") as f:
    out = json.load(f)
  assert out["results"] == [] and out["demos"]["real_frames"] == 25 * 10
  assert [s["pair"] for s in out["skipped"]] == ["real:in", "real:ood"]
  assert "(7, 7)" in out["skipped"][0]["reason"] and "(3, 3)" in out["skipped"][0]["reason"]
  assert np.isfinite(out["alignment"]["discernibility"])  # the CNN's features of both domains' frames
  # Scored offline on recorded episodes, as a run without an MJX scene is: the real domain's own.
  from gdacot.evaluate import score_recorded
  report = score_recorded(str(workdir), BRIDGE_LEROBOT, out=str(tmp_path / "offline.json"), plot_episodes=2)
  assert report["dataset"]["episodes"] == 25 and report["dataset"]["frames"] == 250
  assert len(report["first_action_mse_per_dim"]) == 7 and len(report["chunk_mse_by_position"]) == 8
  frames = np.array([e["frames"] for e in report["episodes"]])
  per_episode = np.array([e["first_action_mse"] for e in report["episodes"]])
  assert np.isclose((frames * per_episode).sum() / frames.sum(), report["first_action_mse"])
  assert (tmp_path / "offline.png").exists()


@needs_tf
@needs_bridge
def test_bridge_real_with_mjx_sim_of_another_shape_is_refused_before_training(tmp_path):
  proc = cotrain(f"--workdir={tmp_path / 'run'}", SMOKE, f"--config.real_data={BRIDGE}", timeout=120)
  assert proc.returncode == 2
  assert "action dimension differs between real (actions of shape (7,)" in proc.stderr
  assert "sim (actions of shape (3,), from generated in MJX by task 'push_cube')" in proc.stderr
  assert not (tmp_path / "run").exists()


# --- Generated demos: write and read back unchanged, with TensorFlow hidden. ---------------

_NO_TF_ROUND_TRIP = r"""
import importlib.util, json, sys

class HideTF:  # as if TensorFlow were not installed: its import finds nothing
  def __init__(self, inner): self.inner = inner
  def find_spec(self, name, path=None, target=None):
    if name == "tensorflow" or name.startswith("tensorflow."):
      return None
    return self.inner.find_spec(name, path, target)

sys.meta_path[:] = [HideTF(f) for f in sys.meta_path]
assert importlib.util.find_spec("tensorflow") is None
import numpy as np
from gdacot.data.sources import DatasetError, KeyMap, load, summary
from tools.make_demos import make_demos

out_dir, bridge = sys.argv[1:]
made, demos = make_demos("push_cube", "real", "in", 8, out_dir, seed=3, batch=8)  # the smoke demo program
data = load(out_dir, KeyMap(), min_length=8)  # the directory make_demos was given
lengths = np.asarray(demos.lengths)
same = bool((np.asarray(data.demos.lengths) == lengths).all()) and all(
    np.array_equal(np.asarray(data.demos.obs)[e, :n], np.asarray(demos.obs)[e, :n]) and
    np.array_equal(np.asarray(data.demos.actions)[e, :n], np.asarray(demos.actions)[e, :n])
    for e, n in enumerate(lengths))
try:
  load(bridge, KeyMap(), "rlds")
  tfrecord_error = ""
except DatasetError as e:
  tfrecord_error = str(e)
print(json.dumps({"same": same, "summary": made, "metadata": data.metadata, "task": data.task,
                  "info": summary(made["path"]), "tfrecord_error": tfrecord_error,
                  "tensorflow_imported": "tensorflow" in sys.modules}))
"""


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
  out_dir = str(tmp_path_factory.mktemp("demos"))
  proc = subprocess.run([sys.executable, "-c", _NO_TF_ROUND_TRIP, out_dir, BRIDGE], cwd=ROOT,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_generated_demos_round_trip_unchanged_without_tensorflow(round_trip):
  assert round_trip["same"] and not round_trip["tensorflow_imported"]
  assert round_trip["summary"]["episodes"] == 8 and round_trip["task"] == "push_cube"
  meta = round_trip["metadata"]
  assert [m["episode"] for m in meta] == list(range(8))
  assert all(m["domain"] == "real" and m["region"] == "in" and m["seed"] == 3 for m in meta)
  assert abs(meta[0]["expert_noise"] - 0.1) < 1e-6


def test_written_dataset_is_rlds_array_record(round_trip):
  info = round_trip["info"]
  assert info["file_format"] == "array_record" and info["name"] == "push_cube_real_in"
  assert info["splits"]["train"]["episodes"] == 8
  assert info["splits"]["train"]["steps"] == round_trip["summary"]["steps"]
  steps = info["features"]["steps"]
  assert steps["observation/state"]["shape"] == [8] and steps["action"]["shape"] == [3]
  for flag in ("is_first", "is_last", "is_terminal"):
    assert steps[flag]["dtype"] == "bool"
  assert steps["reward"]["dtype"] == steps["discount"]["dtype"] == "float32"
  assert {"domain", "seed"} <= {k.split("/")[-1] for k in info["features"]["episode"]}


def test_tfrecord_without_tensorflow_says_which_extra_to_install(round_trip):
  if not os.path.isdir(BRIDGE):
    pytest.skip("no Bridge sample")
  assert "TFRecord" in round_trip["tfrecord_error"]
  assert "pip install 'gdacot[rlds]'" in round_trip["tfrecord_error"]


# --- Bad datasets, each refused with the episode and the field. ----------------------------


def _features(state_shape=(4,), action_shape=(2,), state_dtype=np.float32, action_dtype=np.float32):
  import tensorflow_datasets as tfds
  f = tfds.features
  # A per-step shape of unknown size inside a sequence must be stored encoded (tfds' rule).
  encoding = "zlib" if None in action_shape else "none"
  return f.FeaturesDict({"steps": f.Dataset({
      "observation": f.FeaturesDict({"state": f.Tensor(shape=state_shape, dtype=state_dtype)}),
      "action": f.Tensor(shape=action_shape, dtype=action_dtype, encoding=encoding),
      "is_first": f.Scalar(dtype=np.bool_),
  })})


def _episode(n, state_dim=4, action_dim=2, state=None, action=None, state_dtype=np.float32,
             action_dtype=np.float32, seed=0):
  rng = np.random.default_rng(seed)
  return {"steps": {
      "observation": {"state": rng.normal(size=(n, state_dim)).astype(state_dtype) if state is None else state},
      "action": rng.normal(size=(n, action_dim)).astype(action_dtype) if action is None else action,
      "is_first": np.arange(n) == 0}}


def _write(tmp_path, episodes, name="bad", fmt="array_record", **features):
  return write_episodes(str(tmp_path), name, _features(**features), episodes, file_format=fmt)


def _refused(path, message, key_map=KeyMap(), min_length=8):
  with pytest.raises(DatasetError) as e:
    load(path, key_map, min_length=min_length)
  assert message in str(e.value), str(e.value)
  return str(e.value)


def test_nan_in_actions_is_refused_naming_episode_field_and_step(tmp_path):
  action = np.zeros((12, 2), np.float32)
  action[5, 1] = np.nan
  path = _write(tmp_path, [_episode(12), _episode(12), _episode(12, action=action)])
  _refused(path, "episode 2, field 'action': NaN at step 5")


def test_inf_in_states_is_refused(tmp_path):
  state = np.zeros((12, 4), np.float32)
  state[0, 3] = -np.inf
  path = _write(tmp_path, [_episode(12), _episode(12, state=state)])
  _refused(path, "episode 1, field 'observation/state': Inf at step 0")


def test_empty_episode_is_refused(tmp_path):
  path = _write(tmp_path, [_episode(12), _episode(12), _episode(12), _episode(0)])
  _refused(path, "episode 3 is empty (0 steps)")


def test_episode_shorter_than_the_action_chunk_is_refused(tmp_path):
  path = _write(tmp_path, [_episode(12), _episode(5)])
  _refused(path, "episode 1 has 5 steps, fewer than the action chunk (8)")
  assert load(path, KeyMap(), min_length=4).demos.num_episodes == 2  # a shorter chunk fits


def test_missing_key_is_refused_listing_the_fields(tmp_path):
  path = _write(tmp_path, [_episode(12)])
  msg = _refused(path, "episode 0 (and every other): missing field 'observation/joints'",
                 KeyMap(state_key="observation/joints"))
  assert "observation/state" in msg  # what the steps do hold


def test_integer_actions_do_not_fit_the_policy(tmp_path):
  path = _write(tmp_path, [_episode(12, action_dtype=np.int32)], action_dtype=np.int32)
  _refused(path, "episode 0, field 'action': dtype int32 does not fit the policy")


def test_image_shaped_state_does_not_fit_the_flat_state_policy(tmp_path):
  state = np.zeros((12, 2, 2), np.float32)
  path = _write(tmp_path, [_episode(12, state=state)], state_shape=(2, 2))
  _refused(path, "episode 0, field 'observation/state': each step holds shape (2, 2)")


def test_image_key_that_is_not_an_image_is_refused(tmp_path):
  path = _write(tmp_path, [_episode(12)])
  _refused(path, "episode 0, field 'observation/state': dtype float32 is not an image's uint8",
           KeyMap(image_keys=("observation/state",)))


def test_slice_outside_the_field_is_refused(tmp_path):
  path = _write(tmp_path, [_episode(12)])
  _refused(path, "action_slice='0:9' reaches outside the field's 2 dimensions", KeyMap(action_slice="0:9"))


@needs_tf
def test_tfrecord_episode_whose_shape_differs_is_refused(tmp_path):
  path = _write(tmp_path, [_episode(10), _episode(10), _episode(10, action_dim=3)], fmt="tfrecord",
                action_shape=(None,))
  _refused(path, "episode 2, field 'action': per-step shape (3,) differs from episode 0's (2,)")


@needs_tf
def test_tfrecord_empty_episode_is_refused(tmp_path):
  path = _write(tmp_path, [_episode(12), _episode(0)], fmt="tfrecord")
  _refused(path, "episode 1 is empty (0 steps)")


def test_action_dimension_differing_between_sim_and_real_needs_a_mapping(tmp_path):
  sim = _write(tmp_path, [_episode(12, action_dim=3)], name="sim", action_shape=(3,))
  real = _write(tmp_path, [_episode(12, action_dim=2)], name="real")
  with pytest.raises(DatasetError, match=r"action dimension differs between sim \(actions of shape \(3,\)"):
    load_domains({"sim": sim, "real": real}, {"sim": KeyMap(), "real": KeyMap()}, min_length=8)
  # With a mapping (the first two action dimensions of sim) they fit one policy.
  loaded = load_domains({"sim": sim, "real": real}, {"sim": KeyMap(action_slice="0:2"), "real": KeyMap()},
                        min_length=8)
  assert loaded["sim"].action_size == loaded["real"].action_size == 2


def test_bad_dataset_stops_the_run_before_anything_is_written(tmp_path):
  action = np.zeros((40, 3), np.float32)
  action[7, 0] = np.inf
  path = _write(tmp_path, [_episode(40, state_dim=8, action_dim=3), _episode(40, 8, 3, action=action)],
                state_shape=(8,), action_shape=(3,))
  proc = cotrain(f"--workdir={tmp_path / 'run'}", SMOKE, f"--config.real_data={path}", timeout=120)
  assert proc.returncode == 2
  assert "error:" in proc.stderr and "episode 1, field 'action': Inf at step 7" in proc.stderr
  assert not (tmp_path / "run").exists()


def test_image_keys_with_a_state_encoder_are_refused_not_dropped(tmp_path):
  path = _write(tmp_path, [_episode(12)])
  proc = cotrain(f"--workdir={tmp_path / 'run'}", SMOKE, f"--config.real_data={path}",
                 "--config.sources.real.image_keys=('observation/image_0',)", timeout=120)
  assert proc.returncode == 2 and "observation='state' trains on the state vector alone" in proc.stderr
  assert not (tmp_path / "run").exists()


# --- Small pieces. ---------------------------------------------------------------------------


def test_parse_slice():
  assert parse_slice("", "s") == slice(None) and parse_slice("0:3", "s") == slice(0, 3)
  assert parse_slice("2", "s") == slice(2, 3) and parse_slice("::2", "s") == slice(None, None, 2)
  with pytest.raises(DatasetError, match="is not a slice"):
    parse_slice("a:b", "state_slice")


def test_dataset_directory_is_found_below_the_given_one(tmp_path):
  path = _write(tmp_path / "one", [_episode(12)])
  assert resolve_dataset_dir(str(tmp_path / "one")) == path
  _write(tmp_path / "one", [_episode(12)], name="other")
  with pytest.raises(DatasetError, match="several datasets"):
    resolve_dataset_dir(str(tmp_path / "one"))
  with pytest.raises(DatasetError, match="no such directory"):
    resolve_dataset_dir(str(tmp_path / "nowhere"))


def test_writing_never_overwrites(tmp_path):
  _write(tmp_path, [_episode(12)])
  with pytest.raises(DatasetError, match="never overwrites"):
    _write(tmp_path, [_episode(12)])


def test_eval_skips_when_mjx_cannot_run_the_policy(tmp_path):
  pairs = ("real:in", "sim:in")
  assert eval_skips(pairs, {}, "push_cube", (8, 3), (8, 3)) == {}
  skips = eval_skips(pairs, {}, "push_cube", (7, 7), (8, 3))
  assert set(skips) == set(pairs) and "(7, 7)" in skips["real:in"]
  # Same sizes, but the real data say they come from another task: only real is skipped.
  path = write_episodes(str(tmp_path), "lift", _features_with_task(), [_episode_with_task("lift_cube")])
  real = load(path, KeyMap(), min_length=8)
  assert set(eval_skips(pairs, {"real": real}, "push_cube", (4, 2), (4, 2))) == {"real:in"}


def _features_with_task():
  import tensorflow_datasets as tfds
  f = _features()
  return tfds.features.FeaturesDict({"steps": f["steps"],
                                     "episode_metadata": tfds.features.FeaturesDict({"task": tfds.features.Text()})})


def _episode_with_task(task):
  return {**_episode(12), "episode_metadata": {"task": task}}
