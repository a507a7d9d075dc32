"""robomimic HDF5 files (gdacot.data.sources.robomimic), written here with h5py as robomimic,
robosuite and MimicGen lay them out: demos in numeric order, mask/<split> filters, obs keys
mapped, actions sliced, and bad files refused naming the file, the demo and the field."""

import json
import os

import h5py
import numpy as np
import pytest

from gdacot.data.sources import DatasetError, KeyMap, detect_format, load, summary

EEF, JOINTS, IMAGE = "obs/robot0_eef_pos", "obs/robot0_joint_pos", "obs/agentview_image"


def demo_arrays(t: int, seed: int) -> dict:
  rng = np.random.default_rng(seed)
  return {EEF: rng.normal(size=(t, 3)), JOINTS: rng.normal(size=(t, 7)),
          IMAGE: rng.integers(0, 256, (t, 16, 16, 3), dtype=np.uint8), "actions": rng.uniform(-1, 1, (t, 7)),
          "rewards": np.zeros(t), "dones": (np.arange(t) == t - 1).astype(np.int64), "states": rng.normal(size=(t, 9))}


def write_robomimic_file(path: str, lengths: dict, masks: dict, change=None) -> dict:
  """A robomimic file: data/<demo> per `lengths` entry, mask/<split> per `masks` entry; returns
  the arrays written, by demo. `change(name, arrays)` may edit a demo's arrays first."""
  written = {}
  with h5py.File(path, "w") as f:
    data = f.create_group("data")
    data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {}})
    for i, (name, t) in enumerate(lengths.items()):
      arrays = demo_arrays(t, i)
      if change:
        change(name, arrays)
      demo = data.create_group(name)
      demo.attrs["num_samples"] = t
      for key, x in arrays.items():
        demo.create_dataset(key, data=x)
      written[name] = arrays
    data.attrs["total"] = sum(lengths.values())
    for split, names in masks.items():
      f.create_dataset(f"mask/{split}", data=np.array([n.encode() for n in names], dtype="S"))
  return written


LENGTHS = {"demo_0": 12, "demo_1": 10, "demo_10": 9, "demo_2": 11}  # stored out of numeric order
MASKS = {"train": ["demo_10", "demo_0", "demo_2"], "valid": ["demo_1"]}


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("robomimic") / "lift_ph.hdf5")
  return path, write_robomimic_file(path, LENGTHS, MASKS)


def test_masks_obs_keys_and_action_slice_read_as_specified(h5):
  path, written = h5
  assert detect_format(path) == "robomimic" and detect_format(os.path.dirname(path)) == "robomimic"
  keys = KeyMap(state_key=EEF, action_key="actions", action_slice="0:4", image_keys=(IMAGE,))
  data = load(path, keys, min_length=8)  # default split: train, from mask/train
  order = ["demo_0", "demo_2", "demo_10"]  # by demo number, whatever the mask's order
  assert data.format == "robomimic" and data.file_format == "hdf5" and data.path == path
  assert [m["demo"] for m in data.metadata] == order
  assert (data.obs_size, data.action_size) == (3, 4)
  for e, name in enumerate(order):
    n = LENGTHS[name]
    assert int(data.demos.lengths[e]) == n
    np.testing.assert_array_equal(np.asarray(data.demos.obs[e, :n]), written[name][EEF].astype(np.float32))
    np.testing.assert_array_equal(np.asarray(data.demos.actions[e, :n]), written[name]["actions"][:, :4].astype(np.float32))
    np.testing.assert_array_equal(data.images[IMAGE][e, :n], written[name][IMAGE])
  valid = load(path, KeyMap(state_key=JOINTS, action_key="actions", split="valid"), min_length=8)
  assert [m["demo"] for m in valid.metadata] == ["demo_1"] and valid.obs_size == 7
  every = load(path, KeyMap(state_key=EEF, action_key="actions", split="all"), min_length=8)
  assert [m["demo"] for m in every.metadata] == ["demo_0", "demo_1", "demo_2", "demo_10"]


def test_summary_describes_the_file(h5):
  info = summary(h5[0])
  assert info["format"] == "robomimic" and info["total"] == sum(LENGTHS.values()) and info["env_name"] == "Lift"
  assert info["splits"]["train"] == {"episodes": 3, "steps": 32, "episode_length": {"min": 9, "max": 12}}
  assert info["splits"]["all"]["episodes"] == 4
  assert info["features"]["steps"][IMAGE] == {"shape": [16, 16, 3], "dtype": "uint8", "feature": "image"}
  assert info["features"]["steps"]["actions"]["shape"] == [7]


def _refused(path, match, keys=KeyMap(state_key=EEF, action_key="actions"), min_length=8):
  with pytest.raises(DatasetError, match=match) as e:
    load(path, keys, min_length=min_length)
  assert path in str(e.value)
  return str(e.value)


def test_nan_in_actions_is_refused_naming_the_demo_and_step(tmp_path):
  path = str(tmp_path / "nan.hdf5")
  write_robomimic_file(path, LENGTHS, MASKS, lambda name, a: a["actions"].__setitem__((3, 1), np.nan)
                       if name == "demo_2" else None)
  _refused(path, r"episode 2, field 'actions': NaN at step 3")


def test_missing_obs_key_is_refused_listing_those_present(h5):
  msg = _refused(h5[0], r"missing field 'obs/robot0_eef_quat'", KeyMap(state_key="obs/robot0_eef_quat",
                                                                       action_key="actions"))
  assert EEF in msg and JOINTS in msg and "'actions'" in msg


def test_too_short_demo_and_unknown_split_are_refused(tmp_path, h5):
  path = str(tmp_path / "short.hdf5")
  write_robomimic_file(path, {"demo_0": 12, "demo_1": 5}, {})
  _refused(path, r"episode 1 has 5 steps, fewer than the action chunk \(8\)",
           KeyMap(state_key=EEF, action_key="actions", split="all"))
  _refused(h5[0], r"no split 'val'; the file has \['all', 'train', 'valid'\]",
           KeyMap(state_key=EEF, action_key="actions", split="val"))


def test_mask_naming_a_missing_demo_and_an_ambiguous_directory_are_refused(tmp_path):
  path = str(tmp_path / "mask.hdf5")
  write_robomimic_file(path, {"demo_0": 12}, {"train": ["demo_0", "demo_7"]})
  _refused(path, r"mask/train names demos that data/ lacks: \['demo_7'\]")
  write_robomimic_file(str(tmp_path / "other.hdf5"), {"demo_0": 12}, {})
  with pytest.raises(DatasetError, match=r"not a dataset of any known format"):
    load(str(tmp_path), KeyMap(state_key=EEF, action_key="actions"))  # two .hdf5 files: which one?
  with pytest.raises(DatasetError, match=r"nor a directory holding exactly one .hdf5 file \(several"):
    load(str(tmp_path), KeyMap(state_key=EEF, action_key="actions"), "robomimic")
