r"""Plots sim and real features on the 2 principal components of their union (paper B's figure).

  python -m tools.plot_features --features=WORKDIR/analysis/features.npz --out=pca.png \
      [--title=...] [--overwrite]

FEATURES is an .npz (loaded with allow_pickle=False) holding `z_sim` (n, d) and `z_real`
(m, d), and optionally the scalars `wasserstein`, `discernibility`, `step` and the string
`method` (as `gdacot.align.analysis.alignment_report` computes them). Writes a PNG scatter
coloured by domain, axes labelled with the explained variance; the title names the method,
step and metrics found. Exit code 2 with `error: ...` (and nothing written) when the file is
missing or malformed, the feature dimensions differ, OUT exists (without --overwrite) or
OUT's directory does not exist.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile

from absl import app, flags
import numpy as np

FLAGS = flags.FLAGS


def define_flags():
  """The command line's flags, defined only when run as a program: importing this module for
  `plot_features()` must not claim flag names (--out) that other modules define."""
  flags.DEFINE_string("features", None, "Input .npz with z_sim (n, d) and z_real (m, d).")
  flags.DEFINE_string("out", None, "Output PNG path.")
  flags.DEFINE_string("title", None, "Plot title (default: method, step and metrics in the file).")
  flags.DEFINE_bool("overwrite", False, "Replace OUT if it exists.")


class PlotError(Exception):
  """A bad input or output path; the message says which."""


def load_features(path: str) -> dict:
  """{"z_sim", "z_real", and whichever of "wasserstein", "discernibility", "step", "method"}."""
  if not os.path.isfile(path):
    raise PlotError(f"features file not found: {path}")
  try:
    with np.load(path, allow_pickle=False) as data:
      if not hasattr(data, "files"):
        raise PlotError(f"{path} is a single array, not an .npz archive")
      contents = {k: data[k] for k in data.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise PlotError(f"cannot read {path} as .npz: {e}") from e
  missing = [k for k in ("z_sim", "z_real") if k not in contents]
  if missing:
    raise PlotError(f"{path} lacks {', '.join(missing)} (has: {', '.join(sorted(contents)) or 'nothing'})")
  out = {}
  for k in ("z_sim", "z_real"):
    z = contents[k]
    if z.ndim != 2 or z.shape[0] == 0 or not np.issubdtype(z.dtype, np.number):
      raise PlotError(f"{k} must be a non-empty numeric (n, d) array, got shape {z.shape} dtype {z.dtype}")
    if not np.all(np.isfinite(z)):
      raise PlotError(f"{k} holds non-finite values")
    out[k] = z
  if out["z_sim"].shape[1] != out["z_real"].shape[1]:
    raise PlotError(f"feature dimensions differ: z_sim {out['z_sim'].shape}, z_real {out['z_real'].shape}")
  for k in ("wasserstein", "discernibility", "step", "method"):
    if k in contents and contents[k].size == 1:
      out[k] = contents[k].item()
  return out


def default_title(info: dict) -> str:
  parts = []
  if "method" in info:
    parts.append(str(info["method"]))
  if "step" in info:
    parts.append(f"step {int(info['step'])}")
  metrics = []
  if "wasserstein" in info:
    metrics.append(f"W2 = {float(info['wasserstein']):.3g}")
  if "discernibility" in info:
    metrics.append(f"discernibility = {float(info['discernibility']):.3f}")
  head = " ".join(parts) if parts else "sim vs real features"
  return head + (": " + ", ".join(metrics) if metrics else "")


def plot_features(z_sim, z_real, out_path: str, title: str | None = None) -> np.ndarray:
  """Writes the PCA scatter of z_sim and z_real to out_path (PNG); returns the explained ratios.

  The file appears whole or not at all (written to a temporary file, then renamed).
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  from gdacot.align.analysis import pca_2d  # pylint: disable=g-import-not-at-top

  p_sim, p_real, ratio = pca_2d(z_sim, z_real)
  fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
  try:
    size = max(2.0, min(20.0, 4000.0 / (len(p_sim) + len(p_real))))
    ax.scatter(p_sim[:, 0], p_sim[:, 1], s=size, alpha=0.5, c="tab:blue", label=f"sim (n={len(p_sim)})",
               linewidths=0)
    ax.scatter(p_real[:, 0], p_real[:, 1], s=size, alpha=0.5, c="tab:orange",
               label=f"real (n={len(p_real)})", linewidths=0)
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f}% variance)")
    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f}% variance)")
    ax.legend(loc="best", markerscale=max(1.0, 20.0 / size))
    if title:
      ax.set_title(title, fontsize=10)
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=directory, prefix=".plot_features_")
    try:
      with os.fdopen(fd, "wb") as f:
        fig.savefig(f, format="png")
      umask = os.umask(0)
      os.umask(umask)
      os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
      os.replace(tmp, out_path)
    except BaseException:
      if os.path.exists(tmp):
        os.remove(tmp)
      raise
  finally:
    plt.close(fig)
  return ratio


def run(features: str, out: str, title: str | None = None, overwrite: bool = False) -> np.ndarray:
  """The tool without flags: checks the paths, loads and plots. Raises PlotError."""
  if not out:
    raise PlotError("--out is required")
  directory = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(directory):
    raise PlotError(f"output directory does not exist: {directory}")
  if os.path.exists(out) and not overwrite:
    raise PlotError(f"{out} exists (pass --overwrite to replace it)")
  info = load_features(features)
  return plot_features(info["z_sim"], info["z_real"], out, title=title if title is not None else default_title(info))


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
    return 2
  if not FLAGS.features or not FLAGS.out:
    print("error: --features and --out are required", file=sys.stderr)
    return 2
  try:
    ratio = run(FLAGS.features, FLAGS.out, FLAGS.title, FLAGS.overwrite)
  except PlotError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {FLAGS.out} (PC1 {100 * ratio[0]:.1f}%, PC2 {100 * ratio[1]:.1f}% of the variance)")
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
