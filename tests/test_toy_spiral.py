"""experiments.toy_spiral (paper B's toy model): the data generator's geometry (the target a
shifted / scaled copy, scattered or contiguous target samples, normalised inputs), the hidden
features, config checks, and the smoke grid run as users run it (a subprocess), including the W2
and discernibility it records per cell and the refusal to overwrite results."""

import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from runs import module

from experiments.configs.toy_spiral import get_config
from experiments.toy_spiral import (ToySpiralError, claim_workdir, covered_mask, eval_t, hidden_features, make_data,
                                    model_inputs, normalise, plane_inputs, rotation, source_only_l2, source_spiral,
                                    target_spiral, validate)
from gdacot.stats import t_interval

SMOKE = "--config=experiments/configs/toy_spiral.py:smoke"


def toy(*args, timeout=300):
  return module("experiments.toy_spiral", *args, timeout=timeout)


@pytest.fixture(scope="module")
def smoke_grid(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("toy") / "smoke"
  proc = toy(SMOKE, f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return workdir, proc


# --- the data generator ------------------------------------------------------------------------

def test_source_on_plane_zero_target_on_plane_dz_within_its_cover():
  cfg = get_config("rotated_third")  # the first version: contiguous third, raw inputs
  data = make_data(jax.random.PRNGKey(0), 3.0, cfg)
  assert data["x_source"].shape == (cfg.num_source, 3) and data["y_source"].shape == (cfg.num_source, 2)
  assert data["x_target"].shape == (cfg.num_target, 3) and data["y_target"].shape == (cfg.num_target, 2)
  np.testing.assert_array_equal(data["x_source"][:, 2], 0.0)
  np.testing.assert_array_equal(data["x_target"][:, 2], 3.0)
  # Target samples cover only the first third of the spiral; source samples all of it.
  assert float(data["t_target"].max()) <= cfg.target_cover
  assert float(data["t_source"].min()) < 0.05 and float(data["t_source"].max()) > 0.95
  # The two domains share the input coordinates of a spiral point: only the plane differs.
  np.testing.assert_allclose(data["x_target"][:, :2], plane_inputs(data["t_target"], 0.0, cfg.spiral)[:, :2])


def test_default_target_is_the_source_spiral_shifted_by_0_3():
  # Paper B's toy as the issue reads it: a shifted copy (r_max 0.6, shift 0.3), not a rotation.
  cfg = get_config()
  assert cfg.spiral.r_max == 0.6 and tuple(cfg.shift) == (0.3, 0.0) and cfg.rotation_deg == 0.0
  t = jnp.linspace(0.0, 1.0, 101)
  np.testing.assert_allclose(target_spiral(t, cfg) - source_spiral(t, cfg.spiral), np.tile([0.3, 0.0], (101, 1)),
                             atol=1e-6)
  assert source_only_l2(cfg) == pytest.approx(0.3, rel=1e-5)


def test_target_spiral_is_a_scaled_rotated_shifted_copy():
  cfg = get_config()
  cfg.target_scale, cfg.rotation_deg, cfg.shift = 0.5, 90.0, (0.1, -0.2)
  validate(cfg)
  t = jnp.linspace(0.0, 1.0, 101)
  y_s = source_spiral(t, cfg.spiral)
  np.testing.assert_allclose(target_spiral(t, cfg), 0.5 * jnp.stack([-y_s[:, 1], y_s[:, 0]], -1) + jnp.array([0.1, -0.2]),
                             atol=1e-6)


def test_scattered_target_samples_cover_the_whole_spiral():
  cfg = get_config()
  assert cfg.target_layout == "scattered"
  for seed in range(3):
    t = np.sort(np.asarray(make_data(jax.random.PRNGKey(seed), 1.0, cfg)["t_target"]))
    # One sample in each of num_target equal slices of [0, 1]: no stretch left without data.
    np.testing.assert_array_equal(np.floor(t * cfg.num_target), np.arange(cfg.num_target))
    assert np.diff(np.concatenate([[0.0], t, [1.0]])).max() < 2.0 / cfg.num_target
  # The contiguous layout keeps them on the first target_cover of the spiral.
  cfg.target_layout = "contiguous"
  assert float(make_data(jax.random.PRNGKey(0), 1.0, cfg)["t_target"].max()) <= cfg.target_cover


def test_normalised_inputs_have_zero_mean_unit_std_in_plane_and_keep_dz():
  cfg = get_config()
  assert cfg.normalize_inputs
  data = make_data(jax.random.PRNGKey(0), 5.0, cfg)
  np.testing.assert_allclose(data["x_source"][:, :2].mean(0), 0.0, atol=1e-5)
  np.testing.assert_allclose(data["x_source"][:, :2].std(0), 1.0, atol=1e-5)
  np.testing.assert_array_equal(data["x_source"][:, 2], 0.0)
  np.testing.assert_array_equal(data["x_target"][:, 2], 5.0)  # dz stays in its own units
  # The target (and every eval input) is standardised with the source's statistics.
  raw = plane_inputs(data["t_target"], 5.0, cfg.spiral)
  np.testing.assert_allclose(data["x_target"], normalise(raw, data["stats"]), atol=1e-6)
  np.testing.assert_allclose(model_inputs(data["t_target"], 5.0, cfg, data["stats"]), data["x_target"], atol=1e-6)
  assert float(jnp.abs(raw[:, :2] - data["x_target"][:, :2]).max()) > 0.1  # it did change them
  cfg.normalize_inputs = False
  raw_data = make_data(jax.random.PRNGKey(0), 5.0, cfg)
  assert raw_data["stats"] is None
  np.testing.assert_allclose(raw_data["x_source"], plane_inputs(raw_data["t_source"], 0.0, cfg.spiral))


def test_covered_part_is_near_target_data():
  cfg = get_config()
  t_eval = eval_t(cfg)
  t_target = jnp.array([0.1, 0.5])
  near = np.asarray(covered_mask(t_eval, t_target, cfg))
  gap = np.abs(np.asarray(t_eval)[:, None] - np.asarray(t_target)[None]).min(1)
  np.testing.assert_array_equal(near, gap <= 0.5 / cfg.num_target)
  assert near.any() and not near.all()
  cfg.target_layout = "contiguous"
  np.testing.assert_array_equal(np.asarray(covered_mask(t_eval, t_target, cfg)), np.asarray(t_eval) <= cfg.target_cover)


def test_hidden_features_are_the_denoisers_last_hidden_layer():
  from flax import nnx

  from gdacot.models.heads import DiffusionHead
  cfg = get_config("smoke")
  head = DiffusionHead(3, 1, 2, cfg.hidden, cfg.depth, rngs=nnx.Rngs(0), train_steps=cfg.diffusion_steps,
                       sample_steps=cfg.sample_steps, time_dim=cfg.time_dim)
  x = plane_inputs(jnp.linspace(0.0, 1.0, 16), 2.0, cfg.spiral)
  f = hidden_features(head, x, cfg.feature_step)
  assert f.shape == (16, cfg.hidden)
  # The output layer on these features is the denoiser's output for noisy action 0 at that step.
  net = head.denoiser.net
  out = getattr(net, f"dense_{net.num_layers - 1}")(f)
  time = jnp.full((16,), (cfg.feature_step + 1.0) / cfg.diffusion_steps)
  np.testing.assert_allclose(out, head.denoiser(jnp.zeros((16, 1, 2)), time, x).reshape(16, 2), atol=1e-5)
  # They depend on the plane.
  assert float(jnp.abs(f - hidden_features(head, x.at[:, 2].set(0.0), cfg.feature_step)).max()) > 1e-3


def test_rotated_third_variant_is_the_first_version():
  cfg = get_config("rotated_third")
  assert (cfg.spiral.r_max, cfg.rotation_deg, tuple(cfg.shift), cfg.target_layout, cfg.normalize_inputs) == \
      (0.9, 45.0, (0.0, 0.0), "contiguous", False)
  validate(cfg)


def test_target_spiral_is_the_rotated_and_shifted_source_spiral():
  cfg = get_config()
  cfg.rotation_deg, cfg.shift = 90.0, (0.05, -0.05)
  t = jnp.linspace(0.0, 1.0, 101)
  y_s, y_t = source_spiral(t, cfg.spiral), target_spiral(t, cfg)
  # 90 degrees: (x, y) -> (-y, x), then the shift.
  np.testing.assert_allclose(y_t, jnp.stack([-y_s[:, 1], y_s[:, 0]], -1) + jnp.array([0.05, -0.05]), atol=1e-6)
  np.testing.assert_allclose(rotation(30.0) @ rotation(-30.0), jnp.eye(2), atol=1e-6)
  # The spiral: radius grows linearly from r_min to r_max, outputs in the head's [-1, 1].
  radius = cfg.spiral.r_min + (cfg.spiral.r_max - cfg.spiral.r_min) * t
  np.testing.assert_allclose(jnp.linalg.norm(y_s, axis=-1), radius, atol=1e-6)
  assert float(jnp.abs(y_t).max()) <= 1.0


def test_the_input_determines_the_output():
  # Distinct spiral points have distinct inputs (the arc is open), so the map is a function.
  cfg = get_config()
  u = plane_inputs(jnp.linspace(0.0, 1.0, 200), 0.0, cfg.spiral)[:, :2]
  gaps = jnp.linalg.norm(u[:, None] - u[None], axis=-1) + jnp.eye(200)
  assert float(gaps.min()) > 1e-3


def test_source_only_error_is_the_rotation_chord():
  # Predicting the source point for a target input misses by the chord 2 r sin(angle / 2).
  cfg = get_config()
  cfg.rotation_deg, cfg.shift = 60.0, (0.0, 0.0)
  mean_r = (cfg.spiral.r_min + cfg.spiral.r_max) / 2
  assert source_only_l2(cfg) == pytest.approx(2 * mean_r * math.sin(math.radians(30.0)), rel=1e-3)


def test_t_interval():
  mean, lo, hi = t_interval([1.0, 2.0, 3.0])
  assert mean == 2.0 and hi - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-3) and mean - lo == hi - mean
  assert t_interval([0.5]) == (0.5, None, None)


# --- config and workdir checks -----------------------------------------------------------------

@pytest.mark.parametrize(
    "field,value,message",
    [
        ("dz", (), "dz (plane separations) is empty"),
        ("dz", (0.1, -1.0), "dz values must be finite and >= 0"),
        ("w", (), "w (mixing ratios) is empty"),
        ("w", (0.5, 1.0), "w values (target share of the loss) must be in (0, 1)"),
        ("w", (0.0,), "must be in (0, 1)"),
        ("num_target", 0, "num_target must be a positive integer"),
        ("num_source", -5, "num_source must be a positive integer"),
        ("steps", 0, "steps must be a positive integer"),
        ("num_seeds", 0, "num_seeds must be a positive integer"),
        ("learning_rate", 0.0, "learning_rate must be positive"),
        ("target_cover", 0.0, "target_cover must be in (0, 1]"),
        ("shift", (0.5, 0.0), "max(1, target_scale) * spiral.r_max + |shift| must be <= 1"),
        ("target_scale", 1.8, "max(1, target_scale) * spiral.r_max + |shift| must be <= 1"),
        ("target_scale", 0.0, "target_scale must be positive"),
        ("target_layout", "random", "target_layout must be one of ('scattered', 'contiguous')"),
        ("feature_step", 100, "feature_step must be an integer in [0, diffusion_steps)"),
        ("num_target", 1, "num_target must be >= 2"),
    ],
)
def test_bad_config_is_refused(field, value, message):
  cfg = get_config("smoke")
  validate(cfg)
  cfg[field] = value
  with pytest.raises(ToySpiralError, match=re.escape(message)):
    validate(cfg)


def test_unknown_variant_is_refused():
  with pytest.raises(ValueError, match="unknown config variant"):
    get_config("smoke,huge")


def test_claim_workdir(tmp_path):
  claim_workdir(str(tmp_path / "new"))  # created
  claim_workdir(str(tmp_path / "new"))  # empty: fine
  (tmp_path / "new" / "x").write_text("mine")
  with pytest.raises(ToySpiralError, match="not empty"):
    claim_workdir(str(tmp_path / "new"))


def test_cli_refuses_bad_config_before_any_work(tmp_path):
  workdir = tmp_path / "run"
  proc = toy(SMOKE, "--config.w=(0.5,1.5)", f"--workdir={workdir}")
  assert proc.returncode == 2
  assert "w values (target share of the loss) must be in (0, 1)" in proc.stderr
  assert not workdir.exists()


# --- the smoke grid, end to end ----------------------------------------------------------------

def test_smoke_grid_writes_json_markdown_and_png(smoke_grid):
  workdir, proc = smoke_grid
  with open(workdir / "toy_spiral.json") as f:
    r = json.load(f)
  cfg = get_config("smoke")
  assert r["dz"] == list(cfg.dz) and r["w"] == list(cfg.w) and r["seeds"] == [0]
  n_dz, n_w = len(cfg.dz), len(cfg.w)
  assert np.shape(r["l2"]) == (n_dz, n_w) and np.shape(r["l2_seeds"]) == (n_dz, n_w, 1)
  assert np.all(np.isfinite(r["l2"])) and np.all(np.asarray(r["l2"]) > 0)
  np.testing.assert_allclose(r["l2"], np.asarray(r["l2_seeds"]).mean(-1))
  assert np.shape(r["l2_ci95"]) == (n_dz, n_w) and all(c is None for row in r["l2_ci95"] for c in row)  # one seed
  assert "one seed" in r["ci95_note"]
  assert r["config"]["num_seeds"] == 1 and r["wall_time_s"] > 0
  assert {"platform", "jax_backend", "cpu_count"} <= set(r["machine"])
  table = (workdir / "toy_spiral.md").read_text()
  assert "| dz \\ w | 0.1 | 0.5 | best w |" in table and table.count("\n| ") == 2 * (1 + n_dz)  # the dz x w table and the per-dz one
  assert (workdir / "toy_spiral.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "wrote" in proc.stdout


def test_smoke_grid_records_feature_w2_and_discernibility_per_cell_and_per_dz(smoke_grid):
  workdir, _ = smoke_grid
  with open(workdir / "toy_spiral.json") as f:
    r = json.load(f)
  cfg = get_config("smoke")
  n_dz, n_w = len(cfg.dz), len(cfg.w)
  for name in ("w2", "discernibility", "feature_scale", "l2_covered"):
    assert np.shape(r[name]) == (n_dz, n_w) and np.shape(r[name + "_seeds"]) == (n_dz, n_w, 1), name
    assert np.all(np.isfinite(r[name])), name
  disc, w2 = np.asarray(r["discernibility"]), np.asarray(r["w2"])
  assert np.all((disc >= 0) & (disc <= 1)) and np.all(w2 > 0)
  # Planes 3 apart are further apart in feature space than planes 0.1 apart, at every w.
  assert np.all(w2[1] > w2[0])
  assert [row["dz"] for row in r["per_dz"]] == list(cfg.dz)
  for row in r["per_dz"]:
    i, j = cfg.dz.index(row["dz"]), cfg.w.index(row["best_w"])
    assert row["w2"] == r["w2"][i][j] and row["discernibility"] == r["discernibility"][i][j]
    assert row["l2"] == min(r["l2"][i])
  assert set(r["u_shape"]) == {"l2", "l2_covered"} and r["u_shape"]["l2"]["best_dz"] in cfg.dz
  assert "hostname" not in r["machine"]  # checked-in results name no machine
  assert "| dz | best w | L2 whole | L2 covered | W2 | feature spread | discernibility |" in \
      (workdir / "toy_spiral.md").read_text()


def test_second_run_into_nonempty_workdir_fails_and_leaves_files(smoke_grid):
  workdir, _ = smoke_grid
  before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in workdir.iterdir()}
  proc = toy(SMOKE, f"--workdir={workdir}")
  assert proc.returncode == 2
  assert "not empty" in proc.stderr and "refusing to overwrite" in proc.stderr
  assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in workdir.iterdir()} == before
  assert sorted(before) == ["toy_spiral.json", "toy_spiral.md", "toy_spiral.png"]
