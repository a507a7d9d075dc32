r"""Plots sim and real features on the 2 principal components of their union (paper B's figure).

  python -m tools.plot_features --features=WORKDIR/analysis/features.npz --out=pca.png \
      [--title=...] [--overwrite]

FEATURES is an .npz holding `z_sim` (n, d) and `z_real` (m, d), and optionally the scalars
`wasserstein`, `discernibility`, `step` and the string `method` (gdacot.align.plots reads and
plots it). Writes a PNG scatter coloured by domain, axes labelled with the explained variance;
the title names the method, step and metrics found. Exit code 2 with `error: ...` (and nothing
written) when the file is missing or malformed, the feature dimensions differ, OUT exists
(without --overwrite) or OUT's directory does not exist.
"""

from __future__ import annotations

import os

from absl import flags
import numpy as np

from gdacot import cli_common
from gdacot.align.plots import PlotError, default_title, load_features, plot_features

FLAGS = flags.FLAGS


def define_flags():
  """The command line's flags, defined only when run as a program (tests import `run`)."""
  flags.DEFINE_string("features", None, "Input .npz with z_sim (n, d) and z_real (m, d).")
  flags.DEFINE_string("out", None, "Output PNG path.")
  flags.DEFINE_string("title", None, "Plot title (default: method, step and metrics in the file).")
  flags.DEFINE_bool("overwrite", False, "Replace OUT if it exists.")


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
  return plot_features(info["z_sim"], info["z_real"], out, title=title if title is not None else default_title(info),
                       overwrite=overwrite)


def main(argv):
  if len(argv) > 1:
    raise PlotError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.features or not FLAGS.out:
    raise PlotError("--features and --out are required")
  ratio = run(FLAGS.features, FLAGS.out, FLAGS.title, FLAGS.overwrite)
  print(f"wrote {FLAGS.out} (PC1 {100 * ratio[0]:.1f}%, PC2 {100 * ratio[1]:.1f}% of the variance)")
  return 0


if __name__ == "__main__":
  define_flags()
  cli_common.run(main, PlotError)
