r"""Paper B's alignment analysis: how close the sim and real features end up, per method, against
real success.

  python -m experiments.alignment_analysis --workdir=runs/alignment
  python -m experiments.alignment_analysis --workdir=runs/alignment_smoke \
      --config=experiments/configs/alignment_analysis.py:smoke

One cell per method, its seeds in one cotrain program (gdacot.sweep: rerunning the command on
the same workdir skips finished cells). Each run ends with cotrain's analysis of the EMA encoder's
features of fixed sim and real frames: the Wasserstein distance W2 between the two feature sets and
their discernibility (held-out accuracy of a 2-layer MLP domain classifier, 0.5 = indistinguishable),
per seed (eval.json "alignment"). Paper B's three regimes: disjoint features (no transfer),
structured-aligned ones (transfer) and overlapping ones (the policy cannot tell the domains apart:
negative transfer); `regimes` in the config reads them off the discernibility.

Writes alignment_analysis.json (per method and seed: W2, discernibility, success; Pearson
correlations over methods of W2 and of discernibility with real success, and over all runs),
alignment_analysis.md, alignment_analysis.png (success against W2 and against discernibility,
95% error bars on both axes) and pca/<method>.png (each method's features of its first seed on
their 2 principal components, gdacot.align.plots).
"""

from __future__ import annotations

import os

from gdacot import stats, sweep

NAME = "alignment_analysis"
_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "alignment_analysis.py")
METRICS = {"wasserstein": "feature W2 (sim vs real)", "discernibility": "discernibility (domain classifier accuracy)"}


def validate(cfg) -> None:
  problems = sweep.check_common(cfg) + sweep.check_methods(cfg.methods)
  r = cfg.regimes
  if not 0.5 <= r.overlapping_below <= r.disjoint_from <= 1.0:
    problems.append(f"regimes need 0.5 <= overlapping_below <= disjoint_from <= 1, got {r}")
  if not problems and sweep.parse_overrides(cfg.cotrain_overrides, cfg.cotrain_variant).get("analysis.frames", 1) <= 0:
    problems.append("cotrain_overrides turn the alignment analysis off (analysis.frames=0): nothing to analyse")
  if problems:
    raise sweep.GridError(f"bad {NAME} config: " + "; ".join(problems))


def make_cells(cfg) -> list[sweep.Cell]:
  return [sweep.Cell(name=m, labels={"method": m}, overrides={"method": m}, variant=cfg.cotrain_variant)
          for m in cfg.methods]


def regime(discernibility: float, r) -> str:
  if discernibility >= r.disjoint_from:
    return "disjoint"
  return "overlapping" if discernibility < r.overlapping_below else "structured-aligned"


def per_method(cfg, records: list[dict]) -> list[dict]:
  out = []
  for m in cfg.methods:
    c = sweep.find(records, method=m)
    out.append({"method": m, "cell": c["cell"], "seeds": c["seeds"], **c["alignment"], "success": c["success"],
                "regime": regime(c["alignment"]["discernibility"]["mean"], cfg.regimes)})
  return out


def correlations(cfg, methods: list[dict]) -> list[dict]:
  """Pearson r of each alignment metric with success in each pair: over methods (their means over
  seeds, the comparison paper B makes) and over runs (every method's every seed)."""
  out = []
  for metric in METRICS:
    for pair in cfg.eval_pairs:
      xs = [m[metric]["mean"] for m in methods]
      ys = [m["success"][pair]["mean"] for m in methods]
      xs_runs = [x for m in methods for x in m[metric]["per_seed"]]
      ys_runs = [y for m in methods for y in m["success"][pair]["per_seed"]]
      out.append({"metric": metric, "pair": pair, "over_methods": stats.pearson(xs, ys),
                  "over_runs": stats.pearson(xs_runs, ys_runs)})
  return out


def _r(c: dict) -> str:
  if c["r"] is None:
    return f"undefined over {c['n']} points ({c['note']})"
  ci = "" if c["ci95"] is None else f" [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]"
  return f"{c['r']:+.2f}{ci}, p = {c['p_value']:.2g}, n = {c['n']}"


def markdown(cfg, record: dict) -> str:
  pairs, r = list(cfg.eval_pairs), cfg.regimes
  lines = [
      "# Alignment analysis (paper B): final feature alignment against real success", "",
      f"Mean over seeds {record['seeds']}: W2 and discernibility with their 95% t-interval over seeds (one "
      f"seed: none), success with its {record['interval_note']}; cotrain config variant '{cfg.cotrain_variant}'. "
      f"Regime from the discernibility d: disjoint if d >= {r.disjoint_from}, overlapping if d < "
      f"{r.overlapping_below}, else structured-aligned.", "",
      "| method | W2 | discernibility | regime | " + " | ".join(p.replace(":", "/") for p in pairs) + " |",
      "|---" * (len(pairs) + 4) + "|"]
  for m in record["methods"]:
    stat = lambda s: f"{s['mean']:.3g}" + ("" if s["ci95"] is None else f" [{s['ci95'][0]:.3g}, {s['ci95'][1]:.3g}]")
    lines.append(f"| {m['method']} | {stat(m['wasserstein'])} | {stat(m['discernibility'])} | {m['regime']} | " +
                 " | ".join(sweep.fmt(m["success"][p]) for p in pairs) + " |")
  lines += ["", "## Pearson correlation with success", ""]
  lines += [f"- {c['metric']} vs {c['pair'].replace(':', '/')} success: over methods {_r(c['over_methods'])}; "
            f"over runs {_r(c['over_runs'])}" for c in record["correlations"]]
  lines += ["", "Paper B: r(W2, success) = +0.57 under a physics-only gap, -0.76 under a visual-only gap.", ""]
  if record["pca"]:
    lines += ["PCA of each method's features (first seed): " + ", ".join(record["pca"]), ""]
  return "\n".join(lines)


def plot(cfg, record: dict):
  import numpy as np  # pylint: disable=g-import-not-at-top
  plt = sweep.pyplot()
  pairs, methods = list(cfg.eval_pairs), record["methods"]
  fig, axes = plt.subplots(len(pairs), len(METRICS), figsize=(5.5 * len(METRICS), 4.2 * len(pairs)), squeeze=False)
  by_key = {(c["metric"], c["pair"]): c["over_methods"] for c in record["correlations"]}
  for i, pair in enumerate(pairs):
    for j, (metric, label) in enumerate(METRICS.items()):
      ax = axes[i, j]
      for m in methods:
        x, s = m[metric], m["success"][pair]
        lo, hi = sweep.shown_interval(s)
        xerr = None if x["ci95"] is None else [[x["mean"] - x["ci95"][0]], [x["ci95"][1] - x["mean"]]]
        ax.errorbar(x["mean"], s["mean"], xerr=xerr, yerr=[[s["mean"] - lo], [hi - s["mean"]]], fmt="o", capsize=3)
        ax.annotate(m["method"], (x["mean"], s["mean"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
      xs = np.array([m[metric]["mean"] for m in methods])
      ys = np.array([m["success"][pair]["mean"] for m in methods])
      corr = by_key[(metric, pair)]
      if corr["r"] is not None:  # least-squares line, to show the sign of r
        slope, intercept = np.polyfit(xs, ys, 1)
        ax.plot(np.sort(xs), slope * np.sort(xs) + intercept, "--", c="gray", lw=1)
      ax.set_xlabel(label)
      ax.set_ylabel(f"success rate, {pair.replace(':', '/')}")
      r_text = "r undefined" if corr["r"] is None else f"r = {corr['r']:+.2f} over {corr['n']} methods"
      ax.set_title(f"{pair.replace(':', '/')} vs {metric}: {r_text}", fontsize=9)
      ax.set_ylim(-0.02, 1.02)
  fig.suptitle(f"Mean of {record['num_seeds']} seed(s); bars: 95% intervals", fontsize=9)
  fig.tight_layout()
  return fig


def pca_figures(record: dict, workdir: str) -> list[str]:
  """pca/<method>.png from each run's features (its first seed), by gdacot.align.plots."""
  from gdacot.align.plots import default_title, load_features, plot_features  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.join(workdir, "pca"), exist_ok=True)
  written = []
  for c in record["cells"]:
    info = load_features(os.path.join(c["workdir"], "analysis", "features.npz"))
    path = os.path.join("pca", f"{c['labels']['method']}.png")
    plot_features(info["z_sim"], info["z_real"], os.path.join(workdir, path), title=default_title(info))
    written.append(path)
  return written


def run(cfg, workdir: str) -> dict:
  validate(cfg)
  record = sweep.run_grid(NAME, cfg, make_cells(cfg), workdir)
  record["methods"] = per_method(cfg, record["cells"])
  record["correlations"] = correlations(cfg, record["methods"])
  record["pca"] = pca_figures(record, workdir)
  sweep.write_outputs(workdir, NAME, record, markdown(cfg, record), {f"{NAME}.png": plot(cfg, record)},
                     also=record["pca"])
  return record


if __name__ == "__main__":
  sweep.main(run, _CONFIG_DEFAULT)
