"""The data-source registry (gdacot.data.sources): format detection, the `sources` config
block with its checks, the legacy `rlds.*` names, and old saved configs upgraded.

The RLDS reader itself and the shared validation are tested in test_rlds.py."""

import json

import ml_collections
import numpy as np
import pytest

from gdacot.data.sources import (SOURCES, DatasetError, KeyMap, Reader, apply_legacy_rlds, check_sources,
                                 configured_sources, detect_format, legacy_rlds_config, load, load_configured,
                                 register_source, sources_config, summary, upgrade_saved_config)
from gdacot.data.sources.rlds import write_episodes
from tools import dataset_info, rlds_info


def _features():
  import tensorflow_datasets as tfds
  f = tfds.features
  return f.FeaturesDict({"steps": f.Dataset({
      "observation": f.FeaturesDict({"state": f.Tensor(shape=(4,), dtype=np.float32)}),
      "action": f.Tensor(shape=(2,), dtype=np.float32),
      "is_first": f.Scalar(dtype=np.bool_)})})


def _episode(n, seed):
  rng = np.random.default_rng(seed)
  return {"steps": {"observation": {"state": rng.normal(size=(n, 4)).astype(np.float32)},
                    "action": rng.normal(size=(n, 2)).astype(np.float32), "is_first": np.arange(n) == 0}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """A 3-episode array_record RLDS dataset whose one split is 'val' (4-d state, 2-d action)."""
  out = tmp_path_factory.mktemp("tiny")
  return write_episodes(str(out), "tiny", _features(), [_episode(10, s) for s in range(3)], split="val")


def _config(**top) -> ml_collections.ConfigDict:
  """The fields the data sources read, shaped as the default config holds them."""
  c = ml_collections.ConfigDict({"task": "push_cube", "chunk": 8, "sim_data": "", "real_data": "",
                                 "model": {"encoder": "mlp"}})
  c.sources = sources_config()
  c.rlds = legacy_rlds_config()
  c.update(top)
  return c


# --- Which format a directory holds. ------------------------------------------------------


def test_rlds_directory_is_detected_and_loaded_through_the_registry(tiny):
  assert detect_format(tiny) == "rlds" and "rlds" in SOURCES
  parent = str(tiny).rsplit("/", 2)[0]  # OUT/tiny/1.0.0 -> OUT: one dataset below it
  assert detect_format(parent) == "rlds"
  data = load(parent, KeyMap(split="val"), min_length=8)
  assert data.format == "rlds" and data.file_format == "array_record" and data.path == tiny
  assert data.demos.num_episodes == 3 and (data.obs_size, data.action_size) == (4, 2)


def test_a_directory_of_no_known_format_is_refused_listing_the_formats(tmp_path):
  (tmp_path / "notes.txt").write_text("not a dataset")
  for attempt in (lambda: detect_format(str(tmp_path)), lambda: load(str(tmp_path))):
    with pytest.raises(DatasetError) as e:
      attempt()
    msg = str(e.value)
    assert str(tmp_path) in msg and "not a dataset of any known format ['lerobot', 'rlds', 'robomimic']" in msg
    assert "dataset_info.json" in msg and "meta/info.json" in msg and ".hdf5" in msg  # what each reader looks for
  with pytest.raises(DatasetError, match="no such file or directory"):
    detect_format(str(tmp_path / "nowhere"))


def test_an_unknown_format_name_is_refused(tiny):
  with pytest.raises(DatasetError, match=r"unknown dataset format 'parquet'; known: \['lerobot', 'rlds', 'robomimic'\]"):
    load(tiny, KeyMap(split="val"), "parquet")
  assert load(tiny, KeyMap(split="val"), "rlds", min_length=8).format == "rlds"  # named, not detected


class _Everything(Reader):
  """A format that claims every directory, to make detection ambiguous."""

  looks_for = "everything: any directory"

  @classmethod
  def detect(cls, path):
    return True

  file_format = "none"
  splits = step_fields = episode_lengths = episodes = lambda *a: []


class _EverythingToo(_Everything):
  pass


def test_a_directory_that_several_formats_claim_must_be_named(tiny):
  register_source("everything", _Everything)
  try:
    with pytest.raises(DatasetError, match=r"looks like several formats \['everything', 'rlds'\]"):
      detect_format(tiny)
    assert load(tiny, KeyMap(split="val"), "rlds", min_length=8).demos.num_episodes == 3
    with pytest.raises(ValueError, match="already registered"):
      register_source("everything", _EverythingToo)
  finally:
    del SOURCES["everything"]
  with pytest.raises(TypeError, match="not a gdacot.data.sources.Reader subclass"):
    register_source("bad", object)


def test_summary_and_both_info_tools_describe_a_dataset(tiny, tmp_path, capsys):
  info = summary(tiny)
  assert info["format"] == "rlds" and info["name"] == "tiny" and info["file_format"] == "array_record"
  assert info["splits"] == {"val": {"episodes": 3, "steps": 30, "episode_length": {"min": 10, "max": 10}}}
  assert info["features"]["steps"]["observation/state"] == {"shape": [4], "dtype": "float32", "feature": "Tensor"}
  assert dataset_info.main([tiny, "--format=rlds"]) == 0
  assert json.loads(capsys.readouterr().out) == info
  assert rlds_info.main([tiny]) == 0  # the old name, an alias
  assert json.loads(capsys.readouterr().out) == info
  assert dataset_info.main([str(tmp_path)]) == 2
  assert "error: " in capsys.readouterr().err
  assert dataset_info.main([]) == 2 and "usage:" in capsys.readouterr().err


# --- The config block, its checks and the legacy names. ------------------------------------


def test_default_sources_block_is_the_default_key_map_with_format_detected():
  c = _config()
  for name in ("sim", "real"):
    assert c.sources[name].format == "" and KeyMap.from_config(c.sources[name]) == KeyMap()
    assert all(v is None for v in c.rlds[name].values())
  problems = []
  check_sources(c, problems)
  assert problems == []


def test_legacy_rlds_field_overrides_sources_with_a_note(tiny, capsys):
  c = _config(sim_data=tiny)
  c.rlds.sim.split = "val"  # what --config.rlds.sim.split=val sets
  assert configured_sources(c)["sim"]["split"] == "val" and c.sources.sim.split == "train"
  loaded = load_configured(c, 4, 2)  # reads the 'val' split, the only one there is
  assert loaded["sim"].split == "val" and loaded["sim"].demos.num_episodes == 3
  apply_legacy_rlds(c)
  assert "note: rlds.sim.split is the old name of sources.sim.split" in capsys.readouterr().out
  assert c.sources.sim.split == "val" and c.rlds.sim.split is None
  apply_legacy_rlds(c)  # once resolved, nothing is left to move
  assert capsys.readouterr().out == "" and c.sources.sim.split == "val"


def test_a_config_saved_before_the_sources_block_upgrades_to_the_same_run():
  old_key_map = {"split": "val", "state_key": "observation/state", "action_key": "action", "image_keys": [],
                 "state_slice": "", "action_slice": "0:2", "max_episodes": 0}
  old = {"task": "push_cube", "chunk": 8, "model": {"encoder": "mlp"}, "seed": 3, "sim_data": "/data/sim",
         "real_data": "",
         "rlds": {"sim": old_key_map, "real": {**old_key_map, "split": "train", "action_slice": ""}}}
  new = upgrade_saved_config(old)
  assert new["sources"]["sim"] == {"format": "", **old_key_map, "mixture": []}  # mixtures came later
  assert new["sources"]["real"]["split"] == "train"
  assert all(v is None for d in ("sim", "real") for v in new["rlds"][d].values())
  assert new["seed"] == 3 and old["rlds"]["sim"]["split"] == "val"  # the input is not changed
  assert upgrade_saved_config(new) == new  # idempotent
  # Today's config given the same old flags saves exactly this (the workdir resume check).
  c = _config(seed=3, sim_data="/data/sim")
  c.rlds.sim.split, c.rlds.sim.action_slice = "val", "0:2"
  apply_legacy_rlds(c)
  # ... once the fields added since the sources block (frame_stride, val_episodes) take their
  # defaults, as complete_saved_config fills them.
  for d in ("sim", "real"):
    new["sources"][d].update(frame_stride=1, val_episodes=0)
    new["rlds"][d]["frame_stride"] = None
  assert json.loads(c.to_json()) == new


def test_check_sources_names_every_problem(tiny, tmp_path):
  c = _config(sim_data=str(tmp_path / "nowhere"), real_data=str(tmp_path))
  c.sources.sim.format = "parquet"
  c.sources.sim.state_slice = "a:b"
  c.sources.real.split = ""
  c.rlds.real.max_episodes = -1  # a legacy field is checked where it lands
  problems = []
  check_sources(c, problems)
  expected = [
      "sources.sim.format: unknown format 'parquet'; known: ['lerobot', 'rlds', 'robomimic']",
      f"sim_data: {str(tmp_path / 'nowhere')!r} does not exist",
      "sources.sim.state_slice='a:b' is not a slice",
      f"real_data: {tmp_path}: not a dataset of any known format ['lerobot', 'rlds', 'robomimic']",
      "sources.real.split must name a split",
      "sources.real.max_episodes must be an integer >= 0 (0: all), got -1",
  ]
  assert len(problems) == len(expected)
  for want, got in zip(expected, problems):
    assert got.startswith(want), (want, got)
  c = _config(real_data=tiny)
  c.sources.real.image_keys = ("observation/image_0",)
  problems = []
  check_sources(c, problems)
  assert len(problems) == 1 and "sources.real.image_keys=('observation/image_0',)" in problems[0]
  assert "observation='state' trains on the state vector alone; set observation='image'" in problems[0]
