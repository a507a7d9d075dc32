r"""The dose-response of the alignment loss: what each dose does to the features and to the policy.

  python -m experiments.dose_response --workdir=runs/dose
  python -m experiments.dose_response --workdir=runs/dose_smoke --config=experiments/configs/dose_response.py:smoke

Issue 32, item 1. One cell per (method, form of the loss, dose), plus co-training (dose 0) as the
reference; each cell's seeds train in one cotrain program (gdacot.sweep: rerunning the command
skips finished cells; `--executor=slurm|print` spreads them over a cluster). Per cell and dose:

  the manipulation     W2 and discernibility of the final features (does the loss align?), and
                       W2 over the features' own scale (the forms change the scale: plain
                       shrinks the features, which lowers W2 without bringing the domains closer)
  the cost             success on every evaluation pair (real/in, real/ood, sim/ood)
  the collapse check   each domain's feature variance (mean over dimensions) and mean norm, and
                       the final BC loss (do the features shrink to a point, does BC suffer?)
  the choice           success on `choice_pair` over the SCORING episodes of the final checkpoint
                       (ckpt_eval) and the feature spread ratio (the smaller domain's feature
                       variance over the larger's), which pick each form's dose by the rule the
                       config fixes

The forms (FORMS) are the remedies gdacot.align.options offers: the OT cost on l2-normalised
features, the gradient through the real side only, and a warm-up of the dose. The config's
`ot_settings` add a form per (epsilon, rho) of the unbalanced plan (plain otherwise), so the
plan's sharpness and unbalance are scanned like the remedies; each cell then records the plan's
mass, which says how much of the batch the loss acts on (paper A's settings leave a few percent
of it). Writes
dose_response.json (every number, per seed too), dose_response.md and dose_response.png (each
measure against the dose, one line per method and form, co-training as a dashed line).
"""

from __future__ import annotations

import json
import math
import os

from gdacot import cli_common, stats, sweep

NAME = "dose_response"
_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "dose_response.py")
BASELINE = "cotrain"
# The forms of the loss: cotrain overrides on top of the method and its dose.
FORMS = {
    "plain": lambda cfg: {},
    "l2": lambda cfg: {"align.feature_norm": "l2"},
    "real_side": lambda cfg: {"align.grad_side": "real"},
    "warmup": lambda cfg: {"align.warmup_steps": int(cfg.warmup_steps)},
}
# Methods whose loss reads both align.epsilon and align.rho: the unbalanced OT (ot_settings).
UNBALANCED = ("uot_joint",)
# A cell's numbers beyond success, each a mean over seeds with its interval: the manipulation
# (record["alignment"]) and the collapse check (record["collapse"], from gdacot.align.analysis).
ALIGNMENT = ("wasserstein", "discernibility")
COLLAPSE = ("feature_variance_sim", "feature_variance_real", "feature_norm_sim", "feature_norm_real")
# The plan's measures (OT methods; the last logged step, already averaged over the seeds by the
# train loop): its mass, 1 for a balanced plan, and the share of Sinkhorn solves that converged.
PLAN = ("ot_mass", "ot_converged")
# The choice rule's fields: no cell reads them, so a rerun with other values (or --collect)
# applies the new rule to the finished cells without training any.
SUMMARY_FIELDS = ("choice_pair", "choice_margin", "collapse_fraction")


def validate(cfg) -> None:
  from gdacot.align import METHODS  # pylint: disable=g-import-not-at-top
  problems = sweep.check_common(cfg) + sweep.check_methods(cfg.methods)
  lams = tuple(cfg.lams)
  if not lams or any(not lam > 0 for lam in lams) or len(set(lams)) != len(lams):
    problems.append(f"lams must be distinct positive doses, got {lams}")
  problems += [f"method {m!r} has no alignment loss to dose" for m in cfg.methods
               if m in METHODS and METHODS[m].align is None]
  problems += cli_common.choice_problems("forms", cfg.forms, FORMS, "form")
  problems += ot_settings_problems(cfg)
  if "plain" not in tuple(cfg.forms):
    problems.append("forms must hold 'plain': every other form is read against it")
  problems += [f"form_methods: {m!r} is not in methods" for m in cfg.form_methods if m not in cfg.methods]
  if not 0.0 <= cfg.choice_margin < 1.0:
    problems.append(f"choice_margin must be in [0, 1), got {cfg.choice_margin}")
  if not 0.0 <= cfg.collapse_fraction < 1.0:
    problems.append(f"collapse_fraction must be in [0, 1), got {cfg.collapse_fraction}")
  if cfg.warmup_steps < 1:
    problems.append(f"warmup_steps must be >= 1, got {cfg.warmup_steps}")
  if problems:
    raise sweep.GridError(f"bad {NAME} config: " + "; ".join(problems))
  # The choice reads the scoring episodes of the final checkpoint: the cells must score it.
  scored = sweep.resolve(make_cells(cfg)[0], cfg)
  if scored.ckpt_eval.episodes <= 0 or cfg.choice_pair not in tuple(scored.ckpt_eval.pairs):
    raise sweep.GridError(f"bad {NAME} config: choice_pair {cfg.choice_pair} must be scored at every checkpoint "
                          f"(ckpt_eval.episodes > 0 and ckpt_eval.pairs holding it; the cells have "
                          f"{scored.ckpt_eval.episodes} episodes of {tuple(scored.ckpt_eval.pairs)})")


def ot_form(epsilon: float, rho: float) -> str:
  """The form name of an (epsilon, rho) setting of the unbalanced plan, e.g. eps0.005-rho0.0025."""
  return f"eps{epsilon:g}-rho{rho:g}"


def ot_settings(cfg) -> dict[str, tuple[float, float]]:
  """The config's (epsilon, rho) settings by form name, in their order."""
  return {ot_form(float(e), float(r)): (float(e), float(r)) for e, r in cfg.get("ot_settings", ())}


def ot_settings_problems(cfg) -> list[str]:
  settings = tuple(tuple(s) for s in cfg.get("ot_settings", ()))
  if not settings:
    return []
  problems = [f"ot_settings: {s} is not an (epsilon, rho) pair of positive numbers" for s in settings
              if len(s) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                         for v in s)]
  if problems:
    return problems
  if len(set(settings)) != len(settings):
    problems.append(f"ot_settings repeat: {settings}")
  problems += [f"ot_settings set rho, which only {', '.join(UNBALANCED)} reads; form_methods holds {m!r}"
               for m in cfg.form_methods if m not in UNBALANCED]
  return problems


def forms_of(cfg, method: str) -> tuple[str, ...]:
  return tuple(cfg.forms) + tuple(ot_settings(cfg)) if method in cfg.form_methods else ("plain",)


def form_overrides(cfg, form: str) -> dict:
  """A form's cotrain overrides: a remedy of FORMS, or an (epsilon, rho) of ot_settings."""
  if form in FORMS:
    return FORMS[form](cfg)
  epsilon, rho = ot_settings(cfg)[form]
  return {"align.epsilon": epsilon, "align.rho": rho}


def make_cells(cfg) -> list[sweep.Cell]:
  from gdacot.align import METHODS  # pylint: disable=g-import-not-at-top
  cells = [sweep.Cell(name=BASELINE, labels={"method": BASELINE, "form": "plain", "lam": 0.0},
                      overrides={"method": BASELINE}, variant=cfg.cotrain_variant)]
  for method in cfg.methods:
    for form in forms_of(cfg, method):
      for lam in cfg.lams:
        overrides = {"method": method, f"align.{METHODS[method].weight}": float(lam), **form_overrides(cfg, form)}
        cells.append(sweep.Cell(name=f"{method}-{form}-lam{lam:g}",
                                labels={"method": method, "form": form, "lam": float(lam)},
                                overrides=overrides, variant=cfg.cotrain_variant))
  return cells


def final_row(run_dir: str) -> dict:
  """The last row of a run's metrics.jsonl: the final checkpoint's losses and scores."""
  with open(os.path.join(run_dir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return rows[-1]


def add_measures(cfg, record: dict) -> None:
  """Adds to a cell's record, over its seeds: the collapse measures (and the spread ratio), W2 over
  the features' scale, the final BC loss, the plan's mass (OT methods) and the scoring-episode
  success the choice reads."""
  row, seeds = final_row(record["workdir"]), record["seeds"]
  per_seed = lambda key: [row[f"{key}/seed{s}"] for s in seeds] if len(seeds) > 1 else [row[key]]
  record["collapse"] = {k: stats.mean_interval([a[k] for a in record["alignment_per_seed"]]) for k in COLLAPSE}
  record["spread_ratio"] = spread_ratio(record)
  record["w2_scaled"] = scaled_w2(record)
  record["bc_loss"] = stats.mean_interval(per_seed("bc_loss"))
  record["plan"] = {k: {"mean": row[k], "ci95": None} for k in PLAN if k in row}
  record["scoring"] = {"pair": cfg.choice_pair, "step": row["step"],
                       **stats.mean_interval(per_seed(f"eval/{cfg.choice_pair}"))}


def scaled_w2(record: dict) -> dict:
  """W2 over the features' scale, per seed, then its mean and interval over seeds: the domains'
  distance in units of their features' RMS distance to their own mean, sqrt(d (var_sim +
  var_real) / 2), d the features' dimension (the encoder's latent_dim). Scaling every feature by c
  leaves it unchanged, so a loss that only shrinks the features (plain) cannot lower it, and l2's
  inflated features do not raise it. Two samples of one distribution do not read 0: the empirical
  W2 of finite samples in d dimensions has a positive floor (co-training's value holds it too)."""
  d = record["cotrain_config"]["model"]["latent_dim"]
  return stats.mean_interval([w2_over_scale(a, d) for a in record["alignment_per_seed"]])


def w2_over_scale(alignment: dict, latent_dim: int) -> float:
  """One seed's W2/scale (see scaled_w2) from its alignment analysis; inf when neither domain's
  features vary."""
  spread = alignment["feature_variance_sim"] + alignment["feature_variance_real"]
  return alignment["wasserstein"] / math.sqrt(latent_dim * spread / 2) if spread > 0 else math.inf


def spread_ratio(record: dict) -> float:
  """The smaller domain's feature variance over the larger's (each a mean over seeds): 1 when the
  domains spread alike, near 0 when one shrinks to a point inside the other. Free of the features'
  scale, which the loss's forms change (plain shrinks both domains, l2 inflates both)."""
  sim, real = (record["collapse"][f"feature_variance_{d}"]["mean"] for d in ("sim", "real"))
  return min(sim, real) / max(sim, real) if max(sim, real) > 0 else 0.0


def choose(cfg, records: list[dict]) -> dict:
  """The rule of the config, applied (experiments/README.md, "Dose response", with its amendment of
  2026-12-06): per method and form, the largest dose whose scoring success on choice_pair is within
  choice_margin of co-training's and whose features have not collapsed (spread ratio at least
  collapse_fraction of co-training's); the form kept is, among the forms of form_methods, the one
  whose chosen dose leaves discernibility lowest.

  Why the collapse test: where one domain's features shrink to a point inside the other's cloud,
  the discernibility probe cannot carve the point out and reads 0.75-0.79 while W2 is back at
  co-training's level (the lift state scans), so "lowest discernibility" alone rewards collapse."""
  base = sweep.find(records, method=BASELINE)
  floor = base["scoring"]["mean"] - cfg.choice_margin
  min_spread = cfg.collapse_fraction * spread_ratio(base)
  chosen = []
  for method in cfg.methods:
    for form in forms_of(cfg, method):
      cells = [sweep.find(records, method=method, form=form, lam=float(lam)) for lam in cfg.lams]
      fine = [c for c in cells if c["scoring"]["mean"] >= floor and spread_ratio(c) >= min_spread]
      best = max(fine, key=lambda c: c["labels"]["lam"]) if fine else None
      chosen.append({"method": method, "form": form, "lam": best and best["labels"]["lam"],
                     "scoring_mean": best and best["scoring"]["mean"], "spread_ratio": best and spread_ratio(best),
                     "discernibility": best and best["alignment"]["discernibility"]["mean"],
                     "wasserstein": best and best["alignment"]["wasserstein"]["mean"]})
  # The forms are remedies of form_methods' losses; the decisive test runs the kept one.
  candidates = [c for c in chosen if c["lam"] is not None and c["method"] in cfg.form_methods]
  kept = min(candidates, key=lambda c: c["discernibility"]) if candidates else None
  collapsed = [r["cell"] for r in records if spread_ratio(r) < min_spread]
  return {"rule": (f"per method and form, the largest dose whose {cfg.choice_pair} success on the scoring episodes "
                   f"of the final checkpoint is at least co-training's minus {cfg.choice_margin:g} and whose "
                   f"feature spread ratio is at least {cfg.collapse_fraction:g} of co-training's; kept: among the "
                   f"forms of {', '.join(cfg.form_methods) or 'no method'}, the one whose chosen dose leaves "
                   "discernibility lowest"),
          "floor": floor, "min_spread_ratio": min_spread, "collapsed": collapsed, "chosen": chosen, "kept": kept}


def _cell_label(r: dict) -> str:
  return BASELINE if r["labels"]["method"] == BASELINE else f"{r['labels']['method']} {r['labels']['form']}"


def _mean(row: dict) -> str:
  return f"{row['mean']:.3g}" + ("" if row["ci95"] is None else f" [{row['ci95'][0]:.3g}, {row['ci95'][1]:.3g}]")


def markdown(cfg, record: dict) -> str:
  pairs = list(cfg.eval_pairs)
  head = (["method, form", "dose"] + [p.replace(":", "/") for p in pairs]
          + [f"scoring {cfg.choice_pair.replace(':', '/')}", "W2", "discernibility", "W2/scale", "var sim", "var real",
             "norm sim", "norm real", "spread", "BC loss", "plan mass"])
  lines = [
      "# Dose-response of the alignment loss", "",
      f"Mean over seeds {record['seeds']}, in brackets its {record['interval_note']} (success) or 95% t-interval "
      f"(the rest); cotrain config variant '{cfg.cotrain_variant}'. The dose is the alignment loss's weight; "
      "W2/scale: W2 over the features' RMS distance to their domain's mean, sqrt(d (var sim + var real) / 2), free "
      "of the features' scale; var and norm: each domain's feature variance (mean over dimensions) and mean norm; "
      "spread: the smaller domain's variance over the larger's (‡: collapsed, below the rule's floor for it); plan "
      "mass: the OT plan's total mass at the last logged step (1: balanced; '-': no plan), averaged over seeds.", "",
      "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  for r in record["cells"]:
    cols = ([_cell_label(r), "0" if r["labels"]["lam"] == 0 else f"{r['labels']['lam']:g}"]
            + [sweep.fmt(r["success"][p]) for p in pairs] + [_mean(r["scoring"])]
            + [_mean(r["alignment"][k]) for k in ALIGNMENT] + [_mean(r["w2_scaled"])]
            + [_mean(r["collapse"][k]) for k in COLLAPSE]
            + [f"{r['spread_ratio']:.3g}" + ("‡" if r["cell"] in record["choice"]["collapsed"] else ""),
               _mean(r["bc_loss"]), _mean(r["plan"]["ot_mass"]) if "ot_mass" in r["plan"] else "-"])
    lines.append("| " + " | ".join(cols) + " |")
  c = record["choice"]
  lines += ["", f"Choice ({c['rule']}; floor {c['floor']:.3f}, spread ratio floor {c['min_spread_ratio']:.3g}):", ""]
  for ch in c["chosen"]:
    lines.append(f"- {ch['method']} {ch['form']}: " + ("no dose stays above the floor without collapsing" if ch["lam"] is None else
                 f"dose {ch['lam']:g} (scoring {ch['scoring_mean']:.3f}, spread {ch['spread_ratio']:.3g}, "
                 f"discernibility {ch['discernibility']:.3f}, W2 {ch['wasserstein']:.3g})"))
  kept = c["kept"]
  none = ("none (no method has forms here: form_methods is empty)" if not tuple(cfg.form_methods) else
          "none (every form falls below the floor or collapses at every dose)")
  lines += ["", "Kept: " + (none if kept is None else f"{kept['method']} {kept['form']} at dose {kept['lam']:g}")]
  return "\n".join(lines) + "\n"


def plot(cfg, record: dict):
  plt = sweep.pyplot()
  # (panel, the cell's row of it): alignment, the collapse test, success per pair, BC loss.
  spread = lambda r: {"mean": r["spread_ratio"], "ci95": None}
  panels = ([(k, lambda r, k=k: r["alignment"][k]) for k in ALIGNMENT] + [("W2 / feature scale", lambda r: r["w2_scaled"]),
                                                                          ("spread ratio", spread)]
            + [(p, lambda r, p=p: r["success"][p]) for p in cfg.eval_pairs] + [("bc_loss", lambda r: r["bc_loss"])])
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
  base = sweep.find(record["cells"], method=BASELINE)
  lams = list(cfg.lams)
  for ax, (title, row_of) in zip(axes[0], panels):
    success = title in cfg.eval_pairs
    for method in cfg.methods:
      for form in forms_of(cfg, method):
        rows = [row_of(sweep.find(record["cells"], method=method, form=form, lam=float(lam))) for lam in lams]
        sweep.plot_curve(ax, lams, rows, label=f"{method} {form}")
    ax.axhline(row_of(base)["mean"], ls="--", c="gray", label=BASELINE)
    sweep.log_x_ticks(ax, lams)
    ax.set_xlabel("dose (alignment loss weight, log)")
    ax.set_title(title.replace(":", "/") + (" success" if success else ""), fontsize=9)
    if success:
      ax.set_ylim(0, 1)
    if title in ("wasserstein", "spread ratio"):  # log: l2's W2 in the hundreds; spreads down to 1e-5
      ax.set_yscale("log")
    if title == "spread ratio":
      ax.axhline(record["choice"]["min_spread_ratio"], ls=":", c="black", label="collapse floor")
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  return fig


def run(cfg, workdir: str) -> dict:
  validate(cfg)
  record = sweep.run_grid(NAME, cfg, make_cells(cfg), workdir, summary_fields=SUMMARY_FIELDS)
  for r in record["cells"]:
    add_measures(cfg, r)
  record["choice"] = choose(cfg, record["cells"])
  sweep.write_outputs(workdir, NAME, record, markdown(cfg, record), {f"{NAME}.png": plot(cfg, record)})
  return record


if __name__ == "__main__":
  sweep.main(run, _CONFIG_DEFAULT)
