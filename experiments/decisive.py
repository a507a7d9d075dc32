r"""Issue 32's decisive test, as registered in experiments/README.md: at the dose the dose-response
chose, does uot_joint beat co-training and ot_marginal where only sim demos go (real/ood)?

  python -m experiments.decisive --workdir=runs/decisive --config.choice_from=runs/dose/dose_response.json
  python -m experiments.decisive --workdir=runs/decisive_ot --config.choice_from=runs/dose_ot/dose_response.json \
      --config.methods="('cotrain', 'uot_joint')" --config.holm_over=all
  python -m experiments.decisive --workdir=runs/decisive_smoke \
      --config=experiments/configs/decisive.py:smoke --config.choice_from=runs/dose_smoke/dose_response.json

One cell per (task, demo draw, method). Draw d's cells start at seed `seed + d * num_seeds`, so
each draw trains on its own demos (cotrain draws them from its first seed) and its seeds share
them; its seeds train in one program (gdacot.sweep: rerunning skips finished cells, and
`--executor=slurm|print` spreads them). The form and dose come from the dose-response's choice
(`choice_from`, its dose_response.json), set alike on every aligned method; where the rule kept
no form, the registered fallback (the plain form at dose 0.01), and the outputs say so.

Per task, every contrast paired by seed, its interval and p-value clustered by draw
(gdacot.stats.clustered_difference: CR1, t on draws - 1 degrees of freedom):
  primary       uot_joint - cotrain and uot_joint - ot_marginal (of `methods`) in `primary_pair`
                success, Holm at `alpha` over each task's contrasts (`holm_over="task"`, as first
                registered) or over every task's (`"all"`)
  secondary     the same contrasts in `secondary_pairs`, not corrected
  manipulation  uot_joint - cotrain in W2 and discernibility: did the treatment move the features?
                (and, descriptive, in W2/scale: closer for their size, or only smaller?)
  ceilings      the methods whose mean success on a pair is at or above 0.98 (nothing to compare there)
  by draw       each method's `primary_pair` success per demo draw (descriptive: what the clusters are)
Each primary verdict is said as the data allow: higher or lower where Holm rejects, else "not
detected; effects above X excluded", X the interval's upper end. Writes decisive.json
(every number, per seed too) and decisive.md.
"""

from __future__ import annotations

import json
import os
import statistics

import ml_collections

from experiments import dose_response
from gdacot import cli_common, stats, sweep

NAME = "decisive"
_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "decisive.py")
METHODS = ("cotrain", "ot_marginal", "uot_joint")  # the methods a test may run; cotrain and uot_joint always
REQUIRED = ("cotrain", "uot_joint")  # the primary contrast and the manipulation check read both
HOLM_FAMILIES = ("task", "all")
SUMMARY_FIELDS = ("holm_over",)  # read by the analysis alone: a change re-summarises finished cells
FALLBACK = {"form": "plain", "lam": 0.01}  # registered: when no dose of any form stays above the floor
CEILING = 0.98  # a mean success at or above this cannot tell methods apart
ALIGNMENT = ("wasserstein", "discernibility")


def read_choice(path: str) -> dict:
  """The dose-response's kept form and dose, as the cells' align overrides: {"form", "lam",
  "fallback", "align": {field: value}, "source": {...the scan's setting}}. GridError naming the
  problem for a missing, unreadable or pre-amendment file."""
  bad = lambda why: sweep.GridError(f"bad {NAME} config: choice_from {path!r} {why}")
  if not path:
    raise sweep.GridError(f"bad {NAME} config: choice_from is empty; name the dose-response's dose_response.json "
                          "(the test runs at the dose its rule chose)")
  try:
    with open(path) as f:
      record = json.load(f)
  except (OSError, ValueError) as e:
    raise bad(f"does not read: {e}") from None
  if (not isinstance(record, dict) or record.get("experiment") != dose_response.NAME
      or not isinstance(record.get("config"), dict) or not isinstance(record.get("choice"), dict)
      or "kept" not in record["choice"]):
    raise bad(f"is not a {dose_response.NAME}.json (no experiment {dose_response.NAME!r} with a config and a choice)")
  scan = record["config"]
  if "collapse_fraction" not in scan:  # the rule before its amendment of 2026-12-06 could keep a collapsed cell
    raise bad("was chosen by the rule before its amendment of 2026-12-06; summarise its cells again with today's "
              f"rule (python -m experiments.{dose_response.NAME} ... --collect) and pass the new file")
  kept = record["choice"]["kept"]
  form, lam = (FALLBACK["form"], FALLBACK["lam"]) if kept is None else (kept["form"], float(kept["lam"]))
  known = [*dose_response.FORMS, *dose_response.ot_settings(ml_collections.ConfigDict(scan))]
  if form not in known:
    raise bad(f"keeps form {form!r}, which neither this gdacot nor the scan's ot_settings know ({sorted(known)})")
  return {"form": form, "lam": lam, "fallback": kept is None,
          "align": dose_response.form_overrides(ml_collections.ConfigDict(scan), form),
          "source": {"cotrain_variant": scan.get("cotrain_variant"), "seeds": record.get("seeds"),
                     "rule": record["choice"].get("rule")}}


def validate(cfg) -> dict:
  """The config's problems as one GridError; returns the choice the cells apply."""
  from gdacot.envs import GAP_NAMES, TASKS  # pylint: disable=g-import-not-at-top
  problems = sweep.check_common(cfg)
  problems += [f"unknown task {t!r}; known: {sorted(TASKS)}" for t in cfg.tasks if t not in TASKS]
  if not tuple(cfg.tasks) or len(set(cfg.tasks)) != len(tuple(cfg.tasks)):
    problems.append(f"tasks must name distinct tasks, got {tuple(cfg.tasks)}")
  if cfg.gap not in GAP_NAMES:
    problems.append(f"unknown gap {cfg.gap!r}; known: {sorted(GAP_NAMES)}")
  if cfg.observation not in ("image", "state"):
    problems.append(f"observation must be 'image' or 'state', got {cfg.observation!r}")
  elif cfg.observation == "state" and cfg.gap.startswith("visual"):
    problems.append(f"gap {cfg.gap!r} changes camera images, which a state policy does not see")
  if isinstance(cfg.num_draws, bool) or not isinstance(cfg.num_draws, int) or cfg.num_draws < 2:
    problems.append(f"num_draws must be an integer >= 2 (the intervals cluster by draw), got {cfg.num_draws!r}")
  pairs = (cfg.primary_pair, *cfg.secondary_pairs)
  problems += [f"{p} is not in eval_pairs {tuple(cfg.eval_pairs)}" for p in pairs if p not in cfg.eval_pairs]
  problems += cli_common.choice_problems("methods", cfg.methods, METHODS, "method")
  problems += [f"methods must hold {m!r}: the primary contrast and the manipulation check read it"
               for m in REQUIRED if m not in tuple(cfg.methods)]
  if cfg.holm_over not in HOLM_FAMILIES:
    problems.append(f"holm_over must be one of {HOLM_FAMILIES}, got {cfg.holm_over!r}")
  if not 0.0 < cfg.alpha < 1.0:
    problems.append(f"alpha must be in (0, 1), got {cfg.alpha}")
  if problems:
    raise sweep.GridError(f"bad {NAME} config: " + "; ".join(problems))
  return read_choice(cfg.choice_from)


def draw_seed(cfg, draw: int) -> int:
  return cfg.seed + draw * cfg.num_seeds


def make_cells(cfg, choice: dict) -> list[sweep.Cell]:
  from gdacot.align import METHODS as ALIGN_METHODS  # pylint: disable=g-import-not-at-top
  image = ["image"] if cfg.observation == "image" else []
  cells = []
  for task in cfg.tasks:
    variant = ",".join(image + [task] + [v for v in cfg.cotrain_variant.split(",") if v])
    for draw in range(cfg.num_draws):
      for method in cfg.methods:
        weight = ALIGN_METHODS[method].weight
        aligned = {} if ALIGN_METHODS[method].align is None else {f"align.{weight}": choice["lam"], **choice["align"]}
        cells.append(sweep.Cell(name=f"{task}-draw{draw}-{method}", labels={"task": task, "draw": draw, "method": method},
                                overrides={"method": method, "gap": cfg.gap, **aligned}, variant=variant,
                                seed=draw_seed(cfg, draw)))
  return cells


def _per_seed(cells: list[dict], value_of) -> dict[int, float]:
  """{seed: value} over a method's draws (its cells), value_of(cell) giving {seed: value}."""
  out = {}
  for cell in cells:
    out.update(value_of(cell))
  return out


def _success(pair: str):
  return lambda cell: dict(zip(cell["success"][pair]["seeds"], cell["success"][pair]["per_seed"]))


def _alignment(metric: str):
  return lambda cell: {a["seed"]: a[metric] for a in cell["alignment_per_seed"]}


def _w2_over_scale(cell: dict) -> dict[int, float]:
  d = cell["cotrain_config"]["model"]["latent_dim"]
  return {a["seed"]: dose_response.w2_over_scale(a, d) for a in cell["alignment_per_seed"]}


def _contrast(a: str, b: str, measure: str, values: dict, draw_of: dict) -> dict:
  return {"contrast": f"{a} - {b}", "measure": measure, a: statistics.fmean(values[a].values()), b: statistics.fmean(values[b].values()),
          **stats.clustered_difference(values[a], values[b], draw_of)}


def verdict(d: dict) -> str:
  if d["ci95"] is None or d["p_value"] is None:  # one draw, or the same difference on every seed
    return "no spread to judge it by: no test"
  if d.get("reject_holm"):
    return f"{d['contrast'].split(' - ')[0]} {'higher' if d['mean'] > 0 else 'lower'} (Holm)"
  return f"not detected; effects above {d['ci95'][1]:+.3f} excluded"


def contrasts(cfg) -> list[tuple[str, str]]:
  """uot_joint against each other method the test runs (cotrain first)."""
  return [("uot_joint", m) for m in cfg.methods if m != "uot_joint"]


def analyse(cfg, records: list[dict]) -> list[dict]:
  """Per task: each method's success, the primary contrasts (Holm over `holm_over`'s family),
  the secondary ones, the manipulation check and the ceilings."""
  out, runs = [], tuple(cfg.methods)
  for task in cfg.tasks:
    cells = {m: [r for r in records if r["labels"]["task"] == task and r["labels"]["method"] == m] for m in runs}
    draw_of = {s: r["labels"]["draw"] for rs in cells.values() for r in rs for s in r["seeds"]}
    success = {pair: {m: _per_seed(rs, _success(pair)) for m, rs in cells.items()} for pair in cfg.eval_pairs}
    methods = {m: {pair: {**stats.cluster_interval(list(success[pair][m].values()),
                                                   [draw_of[s] for s in success[pair][m]]),
                          "seeds": sorted(success[pair][m])} for pair in cfg.eval_pairs} for m in runs}
    # With four clusters, the draws' own means show what the clustered interval is made of.
    by_draw = {m: {d: statistics.fmean([v for s, v in success[cfg.primary_pair][m].items() if draw_of[s] == d])
                   for d in sorted({draw_of[s] for s in success[cfg.primary_pair][m]})} for m in runs}
    primary = [_contrast(a, b, cfg.primary_pair, success[cfg.primary_pair], draw_of) for a, b in contrasts(cfg)]
    secondary = [_contrast(a, b, pair, success[pair], draw_of) for pair in cfg.secondary_pairs
                 for a, b in contrasts(cfg)]
    manipulation = []
    if all(r["alignment_per_seed"] for m in ("uot_joint", "cotrain") for r in cells[m]):
      for metric in ALIGNMENT:
        values = {m: _per_seed(cells[m], _alignment(metric)) for m in ("uot_joint", "cotrain")}
        manipulation.append(_contrast("uot_joint", "cotrain", metric, values, draw_of))
      # Descriptive, outside the registered check: W2 in units of the features' spread, since on
      # images the dose-response's W2 fell mostly by shrinking the features (its W2/scale rose).
      values = {m: _per_seed(cells[m], _w2_over_scale) for m in ("uot_joint", "cotrain")}
      manipulation.append({**_contrast("uot_joint", "cotrain", "w2_scaled", values, draw_of), "descriptive": True})
    disc = next((d for d in manipulation if d["measure"] == "discernibility"), None)
    moved = disc is not None and disc["ci95"] is not None and disc["ci95"][1] < 0
    ceilings = [{"method": m, "pair": pair, "mean": methods[m][pair]["mean"]} for m in runs for pair in cfg.eval_pairs
                if methods[m][pair]["mean"] >= CEILING]
    out.append({"task": task, "methods": methods, "by_draw": by_draw, "primary": primary, "secondary": secondary,
                "manipulation": manipulation, "discernibility_moved": moved, "ceilings": ceilings})
  # Holm's families: each task's primary contrasts, or all of them together.
  families = [[d for t in out for d in t["primary"]]] if cfg.holm_over == "all" else [t["primary"] for t in out]
  for family in families:
    corrected = stats.holm([d["p_value"] for d in family], alpha=cfg.alpha)
    for d, p_holm, reject in zip(family, corrected["p_adjusted"], corrected["reject"]):
      d.update(p_holm=p_holm, reject_holm=reject, family_size=corrected["m"])
      d["verdict"] = verdict(d)
  return out


def holm_family(cfg) -> str:
  per_task = len(contrasts(cfg))
  return (f"Holm over all {per_task * len(tuple(cfg.tasks))} primary contrasts of the tasks" if cfg.holm_over == "all"
          else f"Holm over the task's {per_task}")


def _interval(d: dict, digits: int = 3, sign: str = "+") -> str:
  ci = d["ci95"]
  return f"{d['mean']:{sign}.{digits}f}" + ("" if ci is None else f" [{ci[0]:{sign}.{digits}f}, {ci[1]:{sign}.{digits}f}]")


def _p(p) -> str:
  return "-" if p is None else f"{p:.3g}"


def markdown(cfg, record: dict) -> str:
  c = record["choice"]
  dose = (f"the registered fallback, plain at dose {c['lam']:g} (the dose-response kept no form)" if c["fallback"]
          else f"the dose-response's kept form, {c['form']} at dose {c['lam']:g}")
  lines = [
      "# The decisive test (issue 32)", "",
      f"Tasks {', '.join(cfg.tasks)}, {cfg.gap} gap, {cfg.observation} observations; {cfg.num_draws} demo draws x "
      f"{cfg.num_seeds} seeds per method; {', '.join(m for m in cfg.methods if m != 'cotrain')} at {dose}"
      + "".join(f", {k}={v}" for k, v in c["align"].items()) + " (from a dose-response over cotrain "
      f"variant '{c['source']['cotrain_variant']}'). Differences are paired by seed; intervals (95%) and p-values "
      "are clustered by demo draw (CR1, t on draws - 1 degrees of freedom).", ""]
  for t in record["tasks"]:
    pairs = list(cfg.eval_pairs)
    lines += [f"## {t['task']}", "", "| method | " + " | ".join(p.replace(":", "/") for p in pairs) + " |",
              "|---" * (len(pairs) + 1) + "|"]
    for m in cfg.methods:
      lines.append(f"| {m} | " + " | ".join(_interval(t["methods"][m][p], 2, sign="") for p in pairs) + " |")
    draws = sorted({d for m in cfg.methods for d in t["by_draw"][m]})
    lines += ["", f"{cfg.primary_pair.replace(':', '/')} success by demo draw (each a mean over its seeds; the "
              "intervals cluster the seeds by these draws):", "",
              "| method | " + " | ".join(f"draw {d}" for d in draws) + " |", "|---" * (len(draws) + 1) + "|"]
    lines += [f"| {m} | " + " | ".join(f"{t['by_draw'][m][d]:.2f}" if d in t["by_draw"][m] else "-" for d in draws)
              + " |" for m in cfg.methods]
    lines += ["", f"Primary, {cfg.primary_pair.replace(':', '/')} success ({holm_family(cfg)} at {cfg.alpha:g}):", "",
              "| contrast | difference [95%] | p | p (Holm) | verdict |", "|---|---|---|---|---|"]
    lines += [f"| {d['contrast']} | {_interval(d)} | {_p(d['p_value'])} | {_p(d['p_holm'])} | {d['verdict']} |"
              for d in t["primary"]]
    if t["secondary"]:
      lines += ["", "Secondary (not corrected):", "", "| contrast | pair | difference [95%] | p |", "|---|---|---|---|"]
      lines += [f"| {d['contrast']} | {d['measure'].replace(':', '/')} | {_interval(d)} | {_p(d['p_value'])} |"
                for d in t["secondary"]]
    registered = [d for d in t["manipulation"] if not d.get("descriptive")]
    lines += ["", "Manipulation check (uot_joint - cotrain): " + (", ".join(
        f"{d['measure']} {_interval(d)}" for d in registered) or "no alignment analysis in these runs") + ". "
        + ("Discernibility fell: the treatment moved the features." if t["discernibility_moved"] else
           "Discernibility did not fall detectably: the success contrasts test no alignment.")]
    lines += [f"Descriptive, not registered: W2/scale (W2 over the features' spread) {_interval(d)}, uot_joint "
              f"{d['uot_joint']:.3f} against cotrain {d['cotrain']:.3f} (below 0: the domains closer for their "
              "size; above 0: farther apart for their size, whatever W2 itself did)."
              for d in t["manipulation"] if d.get("descriptive")]
    lines += ["", "Ceilings: " + ("; ".join(f"{x['method']} {x['pair'].replace(':', '/')} {x['mean']:.2f}"
                                            for x in t["ceilings"]) or f"none (no mean at or above {CEILING})")
              + ". sim/ood is the ceiling of transfer: what the policy does in the far region in the domain its "
              "demos come from.", ""]
  return "\n".join(lines)


def run(cfg, workdir: str) -> dict:
  choice = validate(cfg)
  record = sweep.run_grid(NAME, cfg, make_cells(cfg, choice), workdir, summary_fields=SUMMARY_FIELDS)
  record["choice"] = choice
  record["tasks"] = analyse(cfg, record["cells"])
  sweep.write_outputs(workdir, NAME, record, markdown(cfg, record), {})
  return record


if __name__ == "__main__":
  sweep.main(run, _CONFIG_DEFAULT)
