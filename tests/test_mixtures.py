"""Weighted mixtures of datasets in one domain (sources.<domain>.mixture): weights are per
sample, any mix of formats loads into one domain, mismatched sizes are refused, and a CLI run
co-trains with a LeRobot dataset as the real domain and robomimic HDF5 as the sim domain."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdacot.data import Dataset, Demos, Normalizer, sample_mixed
from gdacot.data.sources import DatasetError, check_sources, datasets, load_configured
from gdacot.data.sources.lerobot_write import write_lerobot
from runs import SMOKE, cotrain
from test_lerobot import BRIDGE_LEROBOT, needs_bridge_lerobot
from test_robomimic import JOINTS, LENGTHS, MASKS, write_robomimic_file
from test_sources import _config


def _demos(episodes: int, length: int, value: float) -> Demos:
  """Demos whose every state holds `value` (so a sample tells which dataset it came from)."""
  return Demos(obs=jnp.full((episodes, length, 2), value, jnp.float32),
               actions=jnp.zeros((episodes, length, 1), jnp.float32),
               lengths=jnp.full((episodes,), length, jnp.int32))


def test_a_mixture_samples_each_dataset_at_its_weight_per_sample():
  # A small dataset (3 x 10 frames) at weight 0.7 and a large one (60 x 20 frames) at 0.3: per
  # frame the small one would get 2.4% of the samples; per sample it gets 70%.
  small, large = _demos(3, 10, 0.0), _demos(60, 20, 1.0)
  demos = Demos(obs=jnp.concatenate([jnp.pad(small.obs, ((0, 0), (0, 10), (0, 0)), mode="edge"), large.obs]),
                actions=jnp.zeros((63, 20, 1)), lengths=jnp.concatenate([small.lengths, large.lengths]))
  identity = Normalizer(mean=jnp.zeros(2), std=jnp.ones(2))
  data = Dataset.create(demos, identity, obs_horizon=1, chunk=1, parts=[("small", 3, 0.7), ("large", 60, 0.3)])
  draw = jax.jit(lambda key: data.sample(key, 512))
  parts, values = [], []
  for i in range(100):  # 51200 samples: the share's standard error is 0.2 points
    batch = draw(jax.random.PRNGKey(i))
    parts.append(np.asarray(batch.part))
    values.append(np.asarray(batch.obs[:, 0, 0]))
  parts, values = np.concatenate(parts), np.concatenate(values)
  shares = np.bincount(parts, minlength=2) / len(parts)
  assert abs(shares[0] - 0.7) < 0.02 and abs(shares[1] - 0.3) < 0.02, shares
  np.testing.assert_array_equal(values, parts.astype(np.float32))  # each sample is from its own dataset
  # Within a dataset frames stay uniform: the small dataset's 30 frames each get about 1/30 of its share.
  e, t, part = jax.jit(lambda key: data.draw(key, 30000))(jax.random.PRNGKey(7))
  small_frames = np.asarray(e)[np.asarray(part) == 0] * 10 + np.asarray(t)[np.asarray(part) == 0]
  counts = np.bincount(small_frames, minlength=30)
  assert counts.min() > 0.7 * counts.mean() and np.asarray(t)[np.asarray(part) == 0].max() < 10


def test_one_dataset_samples_exactly_as_before():
  """Without a mixture the sampler draws the very batches it always drew (resumed runs depend on it)."""
  demos = _demos(4, 6, 0.5)
  data = Dataset.create(demos, Normalizer(mean=jnp.zeros(2), std=jnp.ones(2)), obs_horizon=2, chunk=3)
  key = jax.random.PRNGKey(3)
  pick = data.frames[jax.random.randint(key, (16,), 0, data.frames.shape[0])]
  want = data.gather(pick[:, 0], pick[:, 1])
  got = data.sample(key, 16)
  np.testing.assert_array_equal(np.asarray(got.obs), np.asarray(want.obs))
  assert data.part_names == () and not np.asarray(got.part).any()
  batch, is_real = sample_mixed(key, data, data, 16, 0.25)  # trees of both domains still select
  assert batch.part.shape == (16,) and int(is_real.sum()) == 4


@pytest.fixture(scope="module")
def two_formats(tmp_path_factory):
  """A LeRobot dataset (4-d state, 2-d action) and a robomimic file (3-d eef + 7-d joints, 7-d actions)."""
  out = tmp_path_factory.mktemp("mix")
  rng = np.random.default_rng(0)
  lerobot = write_lerobot(str(out / "lerobot"), states=[rng.normal(size=(10, 4)).astype(np.float32) for _ in range(3)],
                          actions=[rng.normal(size=(10, 2)).astype(np.float32) for _ in range(3)],
                          tasks=["t"] * 3, fps=10)
  h5 = str(out / "mg.hdf5")
  write_robomimic_file(h5, LENGTHS, MASKS)
  return lerobot, h5


def _mixture(lerobot, h5, **robomimic):
  return ({"path": lerobot, "weight": 1, "state_key": "observation.state"},
          {"path": h5, "weight": 3, "state_key": JOINTS, "action_key": "actions", "state_slice": "0:4",
           "action_slice": "0:2", "name": "mimicgen", **robomimic})


def test_a_domain_mixes_a_lerobot_dataset_and_a_robomimic_file(two_formats):
  lerobot, h5 = two_formats
  c = _config()
  c.sources.sim.mixture = _mixture(lerobot, h5)
  problems = []
  check_sources(c, problems)
  assert problems == []
  loaded = load_configured(c, 4, 2)["sim"]
  assert [(p.name, p.format, p.episodes, p.share) for p in loaded.parts] == [
      ("lerobot", "lerobot", 3, 0.25), ("mimicgen", "robomimic", 3, 0.75)]
  assert loaded.demos.num_episodes == 6 and (loaded.obs_size, loaded.action_size) == (4, 2)
  assert loaded.format == "lerobot+robomimic" and loaded.demos.obs.shape[1] == 12  # padded to the longest


def test_datasets_of_different_sizes_in_one_domain_are_refused_naming_both(two_formats):
  lerobot, h5 = two_formats
  c = _config()
  c.sources.sim.mixture = _mixture(lerobot, h5, state_slice="")  # 7-d joints next to a 4-d state
  with pytest.raises(DatasetError) as e:
    load_configured(c, 4, 2)
  msg = str(e.value)
  assert "the sim datasets differ in state size" in msg and f"{lerobot} [train] (lerobot) gives 4" in msg
  assert f"{h5} [train] (mimicgen) gives 7 (field 'obs/robot0_joint_pos')" in msg


def test_mixture_config_problems_are_named(two_formats, tmp_path):
  lerobot, h5 = two_formats
  c = _config(sim_data=lerobot)
  c.sources.sim.mixture = ({"path": h5, "weight": 1},)
  c.sources.real.mixture = ({"path": lerobot, "weight": 0}, {"path": str(tmp_path / "none"), "weight": 1, "colour": 2},
                            "just/a/path")
  problems = []
  check_sources(c, problems)
  assert problems[0].startswith("sim_data and sources.sim.mixture are both set")
  assert "sources.real.mixture[0]: 'weight' must be a positive number" in problems[1]
  assert "sources.real.mixture[1]: unknown field(s) ['colour']" in problems[2]
  assert "sources.real.mixture[2] must be a dict" in problems[3]
  assert len(problems) == 4
  c = _config(real_data=lerobot)  # the single-path form is a one-dataset domain of weight 1
  [spec] = datasets(c)["real"]
  assert (spec.name, spec.path, spec.weight, spec.key_map.split) == ("lerobot", lerobot, 1.0, "train")


@needs_bridge_lerobot
def test_cli_cotrains_lerobot_real_with_a_robomimic_sim_mixture(tmp_path):
  """The smoke run: real = the LeRobot Bridge copy; sim = a robomimic file written here, its
  train mask at weight 3 and its valid mask at weight 1 (7-d joints and actions, as Bridge)."""
  h5 = str(tmp_path / "mimicgen.hdf5")
  write_robomimic_file(h5, {f"demo_{i}": 10 for i in range(6)},
                       {"train": [f"demo_{i}" for i in range(4)], "valid": ["demo_4", "demo_5"]})
  mixture = ({"path": h5, "weight": 3, "name": "mg_train"}, {"path": h5, "weight": 1, "split": "valid", "name": "mg_valid"})
  workdir = tmp_path / "run"
  proc = cotrain(f"--workdir={workdir}", SMOKE, "--config.steps=20", f"--config.real_data={BRIDGE_LEROBOT}",
                 "--config.sources.real.state_key=observation.state", f"--config.sources.sim.mixture={mixture!r}",
                 f"--config.sources.sim.state_key={JOINTS}", "--config.sources.sim.action_key=actions",
                 "--config.keep_best=0", timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert f"real: 25 episodes, 250 frames from {BRIDGE_LEROBOT} [train] (parquet+mp4, 5 fps)" in proc.stdout
  assert "mg_train: 4 episodes, 40 frames" in proc.stdout and "75.0% of the sim samples" in proc.stdout
  with open(workdir / "metrics.jsonl") as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [10, 20] and all(np.isfinite(r["bc_loss"]) for r in rows)
  for r in rows:  # the realised shares of the sim samples, averaged over each log interval's steps
    assert abs(r["share/sim/mg_train"] + r["share/sim/mg_valid"] - 1) < 1e-5
    assert 0.6 < r["share/sim/mg_train"] < 0.9
    assert not any(k.startswith("share/real") for k in r)  # one dataset: nothing to share
  with open(workdir / "config.json") as f:
    saved = json.load(f)
  assert saved["sources"]["sim"]["mixture"][1] == {"path": h5, "weight": 1, "split": "valid", "name": "mg_valid"}
  with open(workdir / "eval.json") as f:
    out = json.load(f)
  assert out["demos"]["real_frames"] == 250 and out["demos"]["sim_frames"] == 60 and out["results"] == []
