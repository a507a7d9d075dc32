"""The readings of the checked-in method tables, recomputed with gdacot.stats (issue 32).

  python -m experiments.claims                                # every section
  python -m experiments.claims --sections=holm_physics,seeds16   # some of them

Sections (each README that quotes a number names the section that prints it):
  w2            W2 and discernibility per method, lowest first (which method aligns most)
  manipulation  uot_joint - cotrain in W2 and discernibility, paired by seed (does the OT term act?)
  ceilings      per table, the methods at a ceiling: real/in >= 0.98, sim/in = 1.00 (>= 0.995)
  seeds16       lift's 16-seed pair: each difference's p, Holm over the pair's tests, and the
                interval clustered by demo draw (seeds 0-4 one draw, 5-15 another)
  holm_physics  the physics table's 14 paired tests with Holm's adjusted p-values
  subset_r      the physics table's six-method r(W2, real/ood), the same six on the other tables
  w2_success    r(W2, success) over all methods: Pearson, Spearman, and Pearson within co-trained
  excluded      "not detected" differences and the largest effect each interval leaves possible

Reads only experiments/results/*/method_table.json; writes nothing.
"""

from __future__ import annotations

import json
import os

from absl import flags

from gdacot import stats
from gdacot.cli_common import BadInput, run

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TABLES = {
    "lift": "method_table_lift_visual16_all",
    "pick_place": "method_table_pick_place_visual16_all",
    "physics": "method_table_physics",
    "visual32": "method_table_visual32",
    "lift_state": "method_table_lift_state",
    "pick_place_state": "method_table_pick_place_state",
    "lift_diffusion": "method_table_lift_visual16_diffusion",
}
SINGLE_DOMAIN = ("real_only", "sim_only")  # trained on one domain: not co-trained
# The subset the physics README's +0.87 was computed over: co-trained, no discriminator.
PHYSICS_SUBSET = ("cotrain", "mmd", "ot_marginal", "ot_joint", "uot_joint", "cfg")


def load(name: str, gap: str | None = None) -> dict:
  """{method: cell} of one checked-in table (one gap: the table's only one unless named)."""
  with open(os.path.join(RESULTS, TABLES.get(name, name), "method_table.json")) as f:
    cells = [c for c in json.load(f)["cells"] if c.get("success")]
  gaps = sorted({c["labels"]["gap"] for c in cells})
  gap = gap or gaps[0]
  return {c["labels"]["method"]: c for c in cells if c["labels"]["gap"] == gap}


def per_seed(cell: dict, pair: str) -> dict:
  s = cell["success"][pair]
  return dict(zip(s["seeds"], s["per_seed"]))


def per_seed_alignment(cell: dict, metric: str) -> dict:
  return {r["seed"]: r[metric] for r in cell["alignment_per_seed"]}


def w2(cell: dict) -> float:
  return cell["alignment"]["wasserstein"]["mean"]


def diff_line(label: str, a: dict, b: dict) -> tuple[str, float | None]:
  d = stats.paired_difference(a, b)
  p = stats.mean_p_value(d["per_seed_diff"])
  ci = d["ci95"]
  text = f"{label}: {d['mean_diff']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else f"{label}: {d['mean_diff']:+.3f}"
  return f"{text}, p = {_p(p)}", p


def _p(p):
  return "n/a (no spread)" if p is None else f"{p:.3g}"


def _r(res: dict, key: str = "r") -> str:
  if res[key] is None:
    return res.get("note", "undefined")
  ci = res.get("ci95")
  return f"{res[key]:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "") + f", p = {res['p_value']:.2g} (n = {res['n']})"


def section_w2():
  for name in ("lift", "pick_place", "physics", "visual32"):
    table = load(name)
    ranked = sorted(table, key=lambda m: w2(table[m]))
    print(f"{name}: " + ", ".join(f"{m} {w2(table[m]):.2f} (disc {table[m]['alignment']['discernibility']['mean']:.3f})"
                                  for m in ranked))


def section_manipulation():
  for name in ("lift", "pick_place", "physics", "visual32", "lift_diffusion"):
    table = load(name)
    for metric in ("wasserstein", "discernibility"):
      a, b = per_seed_alignment(table["uot_joint"], metric), per_seed_alignment(table["cotrain"], metric)
      rel = stats.paired_difference(a, b)["mean_diff"] / (sum(b.values()) / len(b))
      line, _ = diff_line(f"{name} uot_joint - cotrain, {metric}", a, b)
      print(f"{line} ({rel:+.0%} of cotrain's)")
  for name, gap in (("lift_state", "sensor"), ("lift_state", "physics"), ("pick_place_state", None)):
    table = load(name, gap)
    for metric in ("wasserstein", "discernibility"):
      a, b = per_seed_alignment(table["uot_joint"], metric), per_seed_alignment(table["cotrain"], metric)
      print(diff_line(f"{name} ({gap or 'sensor'}) uot_joint - cotrain, {metric}", a, b)[0])


def section_ceilings():
  """real/in >= 0.98 and sim/in rounding to 1.00 leave no room above: a method there cannot
  show a gain, and a difference there is a difference between ceilings."""
  for name, gap in [(n, None) for n in ("lift", "pick_place", "physics", "visual32", "lift_diffusion",
                                         "pick_place_state")] + [("lift_state", "sensor"), ("lift_state", "physics"),
                                                                 ("method_table_lift_visual16_seeds5_15", None)]:
    table = load(name, gap)
    at = {"real:in": [m for m in table if table[m]["success"]["real:in"]["mean"] >= 0.98],
          "sim:in": [m for m in table if "sim:in" in table[m]["success"] and table[m]["success"]["sim:in"]["mean"] >= 0.995]}
    print(f"{name}{' ' + gap if gap else ''}: real/in >= 0.98: {', '.join(at['real:in']) or 'none'}; "
          f"sim/in = 1.00: {', '.join(at['sim:in']) or 'none'}")


def section_seeds16():
  parts = [load("method_table_lift_visual16"), load("method_table_lift_visual16_seeds5_15")]
  # A cell draws its demos from its first seed: seeds 0-4 trained on one draw, 5-15 on another.
  draw = {s: part["cotrain"]["seeds"][0] for part in parts for s in part["cotrain"]["seeds"]}
  pairs, ps = ("real:in", "real:ood", "sim:in"), []
  for pair in pairs:
    a = {k: v for part in parts for k, v in per_seed(part["uot_joint"], pair).items()}
    b = {k: v for part in parts for k, v in per_seed(part["cotrain"], pair).items()}
    line, p = diff_line(f"uot_joint - cotrain {pair}, 16 seeds", a, b)
    ps.append(p)
    c = stats.clustered_difference(a, b, draw)
    print(f"{line}; clustered by demo draw ({c['clusters']} draws): [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]")
  for m in (2, 3):  # the README's two tests, and the pair's three columns
    h = stats.holm(ps[:m])
    print(f"Holm over {', '.join(pairs[:m])}: adjusted p = {', '.join(_p(p) for p in h['p_adjusted'])}, "
          f"reject at 0.05: {h['reject']}")


def section_holm_physics():
  table = load("physics")
  tests = [("uot_joint", "cotrain"), ("uot_joint", "mmd"), ("adda", "cotrain"), ("cfg_adda", "cotrain"),
           ("cfg_adda", "adda"), ("mmd", "cotrain"), ("cfg", "cotrain")]
  lines, ps = [], []
  for a, b in tests:
    for pair in ("real:in", "real:ood"):
      line, p = diff_line(f"{a} - {b} {pair}", per_seed(table[a], pair), per_seed(table[b], pair))
      lines.append(line)
      ps.append(p)
  h = stats.holm(ps)
  for line, adj, rej in zip(lines, h["p_adjusted"], h["reject"]):
    print(f"{line}; Holm (m = {h['m']}) {_p(adj)}{' REJECTS' if rej else ''}")


def section_subset_r():
  for name in ("physics", "lift", "pick_place", "visual32"):
    table = load(name)
    for pair in ("real:ood",):
      xs = [w2(table[m]) for m in PHYSICS_SUBSET]
      ys = [table[m]["success"][pair]["mean"] for m in PHYSICS_SUBSET]
      print(f"{name}, the physics six, r(W2, {pair}): {_r(stats.pearson(xs, ys))}")


def section_w2_success():
  for name in ("lift", "pick_place", "physics", "visual32"):
    table = load(name)
    cotrained = [m for m in table if m not in SINGLE_DOMAIN]
    for pair in ("real:ood", "real:in"):
      xs, ys = [w2(table[m]) for m in table], [table[m]["success"][pair]["mean"] for m in table]
      xc, yc = [w2(table[m]) for m in cotrained], [table[m]["success"][pair]["mean"] for m in cotrained]
      print(f"{name} {pair}: all {len(xs)}: Pearson {_r(stats.pearson(xs, ys))}; Spearman "
            f"{_r(stats.spearman(xs, ys), 'rho')}; co-trained {len(xc)}: Pearson {_r(stats.pearson(xc, yc))}; "
            f"Spearman {_r(stats.spearman(xc, yc), 'rho')}")


def section_excluded():
  comparisons = [("lift", "uot_joint", "cotrain"), ("lift", "uot_joint", "ot_marginal"),
                 ("pick_place", "uot_joint", "cotrain"), ("pick_place", "uot_joint", "ot_marginal"),
                 ("visual32", "uot_joint", "cotrain"), ("visual32", "uot_joint", "ot_marginal"),
                 ("physics", "uot_joint", "cotrain"), ("lift_diffusion", "uot_joint", "cotrain")]
  for name, a, b in comparisons:
    table = load(name)
    d = stats.paired_difference(per_seed(table[a], "real:ood"), per_seed(table[b], "real:ood"))
    print(f"{name} {a} - {b} real/ood: {d['mean_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]: "
          f"gains above {d['ci95'][1]:+.3f} excluded")


SECTIONS = {name[len("section_"):]: fn for name, fn in globals().items() if name.startswith("section_")}


def main(argv):
  del argv
  names = FLAGS.sections or list(SECTIONS)
  unknown = [n for n in names if n not in SECTIONS]
  if unknown:
    raise BadInput(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
  for name in names:
    print(f"## {name}")
    SECTIONS[name]()
    print()


if __name__ == "__main__":
  FLAGS = flags.FLAGS
  flags.DEFINE_list("sections", [], f"The sections to print, comma-separated (default: all): {', '.join(SECTIONS)}.")
  run(main)
