r"""Every method x every domain gap x seeds: the success table both papers report, and its claims.

  python -m experiments.method_table --workdir=runs/table                     # images; visual, physics, visual_physics
  python -m experiments.method_table --workdir=runs/table_state \
      --config=experiments/configs/method_table.py:state                      # state observations, quick
  python -m experiments.method_table --workdir=runs/table_smoke \
      --config=experiments/configs/method_table.py:smoke

One cell per (gap, method), its seeds in one cotrain program (gdacot.sweep: rerunning the
command on the same workdir skips finished cells). Success is measured in each of `eval_pairs`
(real/in, real/ood: the region only sim demos cover, sim/in). Writes into --workdir:
method_table.json (every number, per seed too), method_table.md (rows: methods; columns: gap x
pair) and method_table.png (bars with 95% intervals, one panel per gap), with a "claims" block
computed from the numbers:
  - uot_joint minus cotrain and minus mmd in real/in and real/ood (paper A): the difference of
    mean success with a 95% t-interval over the per-seed differences (seeds are paired: a seed's
    cells share their demos);
  - cfg_adda minus the best other method (paper B), the best picked on these same numbers;
  - per gap, the Pearson correlation over methods between the final feature W2 and real success
    (paper B: positive under a physics-only gap, negative under a visual one).
"""

from __future__ import annotations

import os

from gdacot import cli_common, stats, sweep

NAME = "method_table"
_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "method_table.py")
# Paper B's correlation between feature W2 and success, by kind of gap (PAPERS.md).
PAPER_B_W2_CORRELATION = {"physics": 0.57, "visual": -0.76}


def validate(cfg) -> None:
  from gdacot.envs import GAP_NAMES  # pylint: disable=g-import-not-at-top
  problems = sweep.check_common(cfg) + sweep.check_methods(cfg.methods)
  gaps = tuple(cfg.gaps)
  problems += cli_common.choice_problems("gaps", gaps, sorted(GAP_NAMES), "gap")
  if cfg.observation not in ("image", "state"):
    problems.append(f"observation must be 'image' or 'state', got {cfg.observation!r}")
  elif cfg.observation == "state":
    problems += [f"gap {g!r} changes camera images, which a state policy does not see; with observation="
                 "'state' use physics, sensor or sensor_physics" for g in gaps if g.startswith("visual")]
  set_here = sorted({v for v in cfg.cotrain_variant.split(",") if v} & ({"image"} | set(GAP_NAMES)))
  if set_here:
    problems.append(f"cotrain_variant {cfg.cotrain_variant!r} names {set_here}: set observation and gaps instead")
  if problems:
    raise sweep.GridError(f"bad {NAME} config: " + "; ".join(problems))


def cotrain_variant(cfg) -> str:
  """The cotrain config variant of every cell: `image` for camera observations, then the user's."""
  return ",".join((["image"] if cfg.observation == "image" else []) + [v for v in cfg.cotrain_variant.split(",") if v])


def make_cells(cfg) -> list[sweep.Cell]:
  return [sweep.Cell(name=f"{gap}-{method}", labels={"gap": gap, "method": method},
                    overrides={"method": method, "gap": gap}, variant=cotrain_variant(cfg))
          for gap in cfg.gaps for method in cfg.methods]


def paired(a: dict, b: dict) -> dict:
  """Success row a minus success row b (sweep.summarise_success rows), seed by seed."""
  return stats.paired_difference(dict(zip(a["seeds"], a["per_seed"])), dict(zip(b["seeds"], b["per_seed"])))


# A mean success at or above this is a ceiling: methods there cannot be told apart.
CEILING = 0.98


def claims(cfg, records: list[dict]) -> dict:
  """The papers' claims, recomputed from the cells; what cannot be computed says why. The paired
  comparisons are one family, Holm-corrected together (p_holm, reject_holm); `ceilings` names
  the methods at a ceiling per gap and pair; `manipulation` says whether uot_joint moved the
  features at all against cotrain (W2 and discernibility, paired by seed)."""
  out = {"uot_joint_minus_baseline": [], "cfg_adda_minus_best_other": [], "w2_vs_real_success": [],
         "ceilings": [], "manipulation": [], "not_computed": []}
  pairs = [p for p in ("real:in", "real:ood") if p in cfg.eval_pairs]
  if not pairs:
    out["not_computed"].append("eval_pairs has neither real:in nor real:ood")
  for gap in cfg.gaps:
    cells = {m: sweep.find(records, gap=gap, method=m) for m in cfg.methods}
    for pair in pairs:
      success = {m: r["success"][pair] for m, r in cells.items()}
      for baseline in ("cotrain", "mmd"):
        if "uot_joint" in success and baseline in success:
          out["uot_joint_minus_baseline"].append({
              "gap": gap, "pair": pair, "baseline": baseline, "uot_joint": success["uot_joint"]["mean"],
              baseline: success[baseline]["mean"], **paired(success["uot_joint"], success[baseline])})
        else:
          out["not_computed"].append(f"uot_joint - {baseline} ({gap}, {pair}): both methods must be in the grid")
      others = {m: s for m, s in success.items() if m != "cfg_adda"}
      if "cfg_adda" in success and others:
        best = max(others, key=lambda m: others[m]["mean"])
        out["cfg_adda_minus_best_other"].append({
            "gap": gap, "pair": pair, "best_other": best, "cfg_adda": success["cfg_adda"]["mean"],
            "best_other_mean": others[best]["mean"], **paired(success["cfg_adda"], others[best]),
            "note": "the best other method is picked on these same numbers, which favours it"})
      else:
        out["not_computed"].append(f"cfg_adda - best other ({gap}, {pair}): needs cfg_adda and another method")
      if all(r["alignment"] for r in cells.values()):
        w2 = [cells[m]["alignment"]["wasserstein"]["mean"] for m in cfg.methods]
        rates = [success[m]["mean"] for m in cfg.methods]
        out["w2_vs_real_success"].append({
            "gap": gap, "pair": pair, "methods": list(cfg.methods), "w2": w2, "success": rates,
            "paper_b_r": PAPER_B_W2_CORRELATION.get(gap), **stats.pearson(w2, rates)})
      else:
        out["not_computed"].append(f"W2 vs success ({gap}, {pair}): runs without alignment analysis")
    for pair in cfg.eval_pairs:
      at = [m for m, r in cells.items() if r["success"][pair]["mean"] >= CEILING]
      if at:
        out["ceilings"].append({"gap": gap, "pair": pair, "methods": at, "ceiling": CEILING})
    out["manipulation"] += _manipulation(gap, cells)
  family = out["uot_joint_minus_baseline"] + out["cfg_adda_minus_best_other"]
  for d in family:
    d["p_value"] = stats.mean_p_value(d["per_seed_diff"])
  corrected = stats.holm([d["p_value"] for d in family])
  for d, p_holm, reject in zip(family, corrected["p_adjusted"], corrected["reject"]):
    d.update(p_holm=p_holm, reject_holm=reject, family_size=corrected["m"])
  return out


def _manipulation(gap: str, cells: dict) -> list[dict]:
  """uot_joint - cotrain in each alignment metric, paired by seed: did the treatment act?"""
  a, b = cells.get("uot_joint"), cells.get("cotrain")
  if not (a and b and a.get("alignment_per_seed") and b.get("alignment_per_seed")):
    return []
  per_seed = lambda cell, metric: {r["seed"]: r[metric] for r in cell["alignment_per_seed"]}
  return [{"gap": gap, "metric": metric, **stats.paired_difference(per_seed(a, metric), per_seed(b, metric))}
          for metric in ("wasserstein", "discernibility")]


def _claim_lines(c: dict) -> list[str]:
  def diff(d):
    ci = "" if d["ci95"] is None else f" [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
    holm = "" if d.get("p_holm") is None else (
        f"; Holm over {d['family_size']}: p = {d['p_holm']:.2g}, {'rejected' if d['reject_holm'] else 'not rejected'}")
    return f"{d['mean_diff']:+.3f}{ci} over seeds {d['seeds']}: {d['verdict']}{holm}"

  lines = [f"- uot_joint - {d['baseline']}, {d['gap']} gap, {d['pair'].replace(':', '/')}: {diff(d)}"
           for d in c["uot_joint_minus_baseline"]]
  lines += [f"- cfg_adda - best other ({d['best_other']}), {d['gap']} gap, {d['pair'].replace(':', '/')}: {diff(d)}"
            for d in c["cfg_adda_minus_best_other"]]
  for d in c["w2_vs_real_success"]:
    where = f"{d['gap']} gap, {d['pair'].replace(':', '/')}"
    paper = "" if d["paper_b_r"] is None else f" (paper B: {d['paper_b_r']:+.2f})"
    if d["r"] is None:
      lines.append(f"- Pearson r(W2, success) over {d['n']} methods, {where}: undefined ({d['note']}){paper}")
    else:
      ci = "" if d["ci95"] is None else f" [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"
      lines.append(f"- Pearson r(W2, success) over {d['n']} methods, {where}: {d['r']:+.2f}{ci}, "
                   f"p = {d['p_value']:.2g}{paper}")
  for d in c.get("manipulation", []):
    lines.append(f"- manipulation check, uot_joint - cotrain {d['metric']}, {d['gap']} gap: {diff(d)}")
  for d in c.get("ceilings", []):
    lines.append(f"- ceiling, {d['gap']} gap, {d['pair'].replace(':', '/')}: {', '.join(d['methods'])} at "
                 f">= {d['ceiling']}: a comparison among them says nothing")
  lines += [f"- not computed: {n}" for n in c["not_computed"]]
  return lines


def markdown(cfg, record: dict) -> str:
  records, pairs = record["cells"], list(cfg.eval_pairs)
  cols = [(g, p) for g in cfg.gaps for p in pairs]
  lines = [
      "# Method table: success rate by method, domain gap and evaluation pair", "",
      f"Mean success over seeds {record['seeds']}, in brackets its {record['interval_note']}; "
      f"{cfg.observation} observations; "
      f"cotrain config variant '{cotrain_variant(cfg)}' with --config.gap=<gap>.", "",
      "| method | " + " | ".join(f"{g} {p.replace(':', '/')}" for g, p in cols) + " |",
      "|---" * (len(cols) + 1) + "|"]
  for m in cfg.methods:
    lines.append(f"| {m} | " + " | ".join(sweep.fmt(sweep.find(records, gap=g, method=m)["success"][p])
                                          for g, p in cols) + " |")
  lines += ["", "## Feature alignment at the end of training (mean over seeds)", "",
            "W2: Wasserstein distance between sim and real encoder features; discernibility: held-out "
            "accuracy of a domain classifier on them (0.5: indistinguishable).", "",
            "| method | " + " | ".join(f"{g} W2 | {g} discernibility" for g in cfg.gaps) + " |",
            "|---" * (2 * len(cfg.gaps) + 1) + "|"]
  for m in cfg.methods:
    cells = [sweep.find(records, gap=g, method=m)["alignment"] for g in cfg.gaps]
    lines.append(f"| {m} | " + " | ".join("n/a | n/a" if a is None else
                                          f"{a['wasserstein']['mean']:.3g} | {a['discernibility']['mean']:.3f}"
                                          for a in cells) + " |")
  lines += ["", "## Claims (computed from the numbers above)", "", *_claim_lines(record["claims"])]
  return "\n".join(lines) + "\n"


def plot(cfg, record: dict):
  import numpy as np  # pylint: disable=g-import-not-at-top
  plt = sweep.pyplot()
  methods, pairs = list(cfg.methods), list(cfg.eval_pairs)
  fig, axes = plt.subplots(len(cfg.gaps), 1, figsize=(max(6.0, 1.1 * len(methods)), 3.4 * len(cfg.gaps)),
                           squeeze=False)
  width = 0.8 / len(pairs)
  for ax, gap in zip(axes[:, 0], cfg.gaps):
    for j, pair in enumerate(pairs):
      rows = [sweep.find(record["cells"], gap=gap, method=m)["success"][pair] for m in methods]
      mean = np.array([r["mean"] for r in rows])
      lo, hi = np.array([sweep.shown_interval(r) for r in rows]).T
      x = np.arange(len(methods)) + (j - (len(pairs) - 1) / 2) * width
      # Clipped at 0: a Wilson bound of an all-success row lands a rounding error inside the mean.
      yerr = np.maximum([mean - lo, hi - mean], 0.0)
      ax.bar(x, mean, width, yerr=yerr, capsize=2, label=pair.replace(":", "/"))
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate")
    ax.set_title(f"{gap} gap: mean of {record['num_seeds']} seed(s) with 95% intervals", fontsize=9)
    ax.legend(fontsize=8, ncol=len(pairs))
  fig.tight_layout()
  return fig


def run(cfg, workdir: str) -> dict:
  validate(cfg)
  record = sweep.run_grid(NAME, cfg, make_cells(cfg), workdir)
  record["claims"] = claims(cfg, record["cells"])
  sweep.write_outputs(workdir, NAME, record, markdown(cfg, record), {f"{NAME}.png": plot(cfg, record)})
  return record


if __name__ == "__main__":
  sweep.main(run, _CONFIG_DEFAULT)
