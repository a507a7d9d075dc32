"""Paper B's figure: sim and real features on the 2 principal components of their union.

  info = load_features("WORKDIR/analysis/features.npz")    # what a run saves of its features
  plot_features(info["z_sim"], info["z_real"], "pca.png", title=default_title(info))

A features file is an .npz (loaded with allow_pickle=False) holding `z_sim` (n, d) and `z_real`
(m, d), and optionally the scalars `wasserstein`, `discernibility`, `step` and the string `method`
(as a run's alignment analysis writes them). `python -m tools.plot_features` is the command line.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from gdacot import io
from gdacot.align.analysis import pca_2d


class PlotError(ValueError):
  """A bad features file or output path; the message says which."""


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
  """The method, step and metrics that load_features found, e.g. "mmd step 5: W2 = 1.5, ..."."""
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


def plot_features(z_sim, z_real, out_path: str, title: str | None = None, overwrite: bool = True) -> np.ndarray:
  """Writes the PCA scatter of z_sim and z_real, coloured by domain, to out_path (PNG, whole or
  not at all); returns the 2 components' explained variance ratios. overwrite=False refuses
  (PlotError) an out_path that exists by the time the file is ready."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

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
    try:
      with io.replacing(out_path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    except FileExistsError:
      raise PlotError(f"{out_path} exists; not replaced (overwrite=False)") from None
  finally:
    plt.close(fig)
  return ratio
