"""Paper B's alignment analysis: Wasserstein distance (against POT's exact solver),
discernibility, the report, PCA, the feature plots and their command line."""

import os
import subprocess
import sys

import jax
import numpy as np
import ot
import pytest

from gdacot.align import analysis, plots
from tools import plot_features

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def exact_w2(x, y):
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  return float(np.sqrt(ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), ot.dist(x, y))))


@pytest.mark.parametrize("n,m,d", [(30, 45, 2), (64, 64, 8), (50, 70, 32)])
def test_wasserstein_matches_exact_ot(n, m, d):
  rng = np.random.default_rng(n + d)
  for _ in range(2):
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10)
    y = rng.normal(size=(m, d)) * x.std() * rng.uniform(0.5, 2) + rng.normal(size=d) * x.std()
    ref = exact_w2(x, y)
    w = float(analysis.wasserstein_distance(x.astype(np.float32), y.astype(np.float32)))
    # Entropic bias is positive and ~0.3% in 2-d, less in higher dimensions.
    assert w == pytest.approx(ref, rel=0.02), (w, ref)


def test_wasserstein_zero_for_identical_sets():
  x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32) * 3.0
  rms = np.sqrt(ot.dist(x, x).mean())
  assert float(analysis.wasserstein_distance(x, x)) < 0.01 * rms
  assert float(analysis.wasserstein_distance(np.zeros((5, 3)), np.zeros((7, 3)))) == 0.0


def test_wasserstein_grows_with_mean_shift_and_approaches_its_norm():
  rng = np.random.default_rng(1)
  n, d = 512, 2
  x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
  direction = rng.normal(size=d)
  direction /= np.linalg.norm(direction)
  # A translated copy: W2 is exactly the shift's norm.
  m = 2.5 * direction
  assert float(analysis.wasserstein_distance(x, x + m)) == pytest.approx(2.5, rel=0.01)
  # Independent samples of two Gaussians: W2 -> ||m||. Exactly, | W2(x, y + m) - ||m|| | <=
  # W2(x, y) by the triangle inequality, the finite-sample term that vanishes as n grows.
  ws = [float(analysis.wasserstein_distance(x, y + s * direction)) for s in (0.0, 1.0, 2.0, 4.0)]
  assert all(a < b for a, b in zip(ws, ws[1:])), ws
  assert ws[0] < 0.4
  for s, w in zip((1.0, 2.0, 4.0), ws[1:]):
    assert abs(w - s) <= 1.02 * ws[0], (s, w, ws[0])
  assert ws[-1] == pytest.approx(4.0, rel=0.05)


def test_wasserstein_rejects_mismatched_dims():
  with pytest.raises(ValueError, match="dimensions differ"):
    analysis.wasserstein_distance(np.zeros((4, 3)), np.zeros((4, 2)))


def test_discernibility_separable_chance_and_deterministic():
  rng = np.random.default_rng(2)
  d = 16
  z_sim = rng.normal(size=(300, d))
  far = rng.normal(size=(200, d)) + 3.0  # mean shift of norm 12 against unit noise
  same = rng.normal(size=(200, d))
  key = jax.random.key(0)
  assert float(analysis.discernibility(z_sim, far, key)) >= 0.98
  chance = [float(analysis.discernibility(z_sim, same, jax.random.key(k))) for k in range(3)]
  assert all(0.35 <= c <= 0.65 for c in chance), chance
  a = float(analysis.discernibility(z_sim, same, key))
  assert a == float(analysis.discernibility(z_sim, same, key))
  assert 0.0 <= a <= 1.0


def test_alignment_report_types():
  rng = np.random.default_rng(3)
  z_real = 0.1 * rng.normal(size=(30, 4)) + 5.0  # shifted, and shrunk toward a point
  rep = analysis.alignment_report(rng.normal(size=(40, 4)), z_real, jax.random.key(1))
  assert set(rep) == {"wasserstein", "discernibility", "n_sim", "n_real", "feature_variance_sim",
                      "feature_variance_real", "feature_norm_sim", "feature_norm_real"}
  # The collapse measures: unit variance against 0.01; norms about sqrt(4) - and 10 for the shift.
  assert rep["feature_variance_sim"] == pytest.approx(1.0, rel=0.3) and rep["feature_variance_real"] < 0.02
  assert rep["feature_norm_sim"] == pytest.approx(2.0, rel=0.3) and rep["feature_norm_real"] == pytest.approx(10.0, rel=0.05)
  assert type(rep["wasserstein"]) is float and type(rep["discernibility"]) is float
  assert rep["n_sim"] == 40 and rep["n_real"] == 30 and type(rep["n_sim"]) is int
  assert rep["wasserstein"] > 8.0 and rep["discernibility"] == 1.0


def test_pca_2d():
  rng = np.random.default_rng(4)
  shift = np.zeros(10)
  shift[3] = 10.0
  z_sim, z_real = rng.normal(size=(50, 10)), rng.normal(size=(60, 10)) + shift
  p_sim, p_real, ratio = analysis.pca_2d(z_sim, z_real)
  assert p_sim.shape == (50, 2) and p_real.shape == (60, 2) and ratio.shape == (2,)
  assert ratio[0] > 0.6 and ratio[0] >= ratio[1] and ratio.sum() <= 1.0 + 1e-9
  # The first component separates the domains.
  assert abs(p_real[:, 0].mean() - p_sim[:, 0].mean()) > 8.0


def _npz(tmp_path, name="f.npz", **arrays):
  path = str(tmp_path / name)
  np.savez(path, **arrays)
  return path


def _tool(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "tools.plot_features", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)


def test_plot_tool_writes_png_and_refuses_existing_out(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(5)
  features = _npz(tmp_path, z_sim=rng.normal(size=(200, 8)).astype(np.float32),
                  z_real=rng.normal(size=(30, 8)).astype(np.float32) + 1.0, wasserstein=np.float32(2.8),
                  discernibility=0.91, step=100, method="uot_joint")
  out = str(tmp_path / "pca.png")
  proc = _tool(f"--features={features}", f"--out={out}", "--title=test plot")
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(out, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  with Image.open(out) as im:
    assert im.format == "PNG" and im.size[0] >= 300 and im.size[1] >= 300
  before = os.path.getmtime(out), os.path.getsize(out)

  proc = _tool(f"--features={features}", f"--out={out}")
  assert proc.returncode == 2 and "exists" in proc.stderr
  assert (os.path.getmtime(out), os.path.getsize(out)) == before
  assert sorted(os.listdir(tmp_path)) == ["f.npz", "pca.png"]  # no temporary left behind


def test_plot_tool_errors(tmp_path):
  rng = np.random.default_rng(6)
  out = str(tmp_path / "p.png")
  bad_dims = _npz(tmp_path, "dims.npz", z_sim=rng.normal(size=(5, 4)), z_real=rng.normal(size=(6, 3)))
  no_real = _npz(tmp_path, "noreal.npz", z_sim=rng.normal(size=(5, 4)))
  good = _npz(tmp_path, "good.npz", z_sim=rng.normal(size=(5, 4)), z_real=rng.normal(size=(6, 4)))
  cases = [
      (bad_dims, out, "dimensions differ"),
      (no_real, out, "lacks z_real"),
      (str(tmp_path / "missing.npz"), out, "not found"),
      (good, str(tmp_path / "nodir" / "p.png"), "directory does not exist"),
  ]
  for features, target, message in cases:
    with pytest.raises(plots.PlotError, match=message):
      plot_features.run(features, target)
  assert not os.path.exists(out)
  # The command line turns them into exit code 2, writing nothing.
  proc = _tool(f"--features={bad_dims}", f"--out={out}")
  assert proc.returncode == 2 and "error: feature dimensions differ" in proc.stderr
  assert not os.path.exists(out)
  assert not os.path.exists(out)
  # --overwrite replaces; the title defaults to the metrics in the file.
  plots.plot_features(rng.normal(size=(5, 4)), rng.normal(size=(6, 4)), out, title="x")
  with pytest.raises(plots.PlotError, match="exists"):
    plots.plot_features(rng.normal(size=(5, 4)), rng.normal(size=(6, 4)), out, overwrite=False)
  plot_features.run(good, out, overwrite=True)
  assert os.path.getsize(out) > 0
  assert plots.default_title({"method": "mmd", "step": 5, "wasserstein": 1.5, "discernibility": 0.5}) \
      == "mmd step 5: W2 = 1.5, discernibility = 0.500"
