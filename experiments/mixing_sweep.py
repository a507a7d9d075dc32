r"""Success against the mixing ratio w, per method, next to paper B's guideline for choosing w.

  python -m experiments.mixing_sweep --workdir=runs/mixing
  python -m experiments.mixing_sweep --workdir=runs/mixing_smoke --config=experiments/configs/mixing_sweep.py:smoke

One cell per (method, w), its seeds in one cotrain program (gdacot.sweep: rerunning the
command on the same workdir skips finished cells). w is PER SAMPLE, as cotrain takes it: a BC
batch holds round(w * batch_size) real samples, so the w a run trains with is that count over
the batch size (`w_effective`, in the JSON and the table).

Paper B's guideline, from the demo FRAMES the runs trained on (N real, M sim; eval.json
"demos"): the natural ratio w_n = N / (N + M) is a lower bound, and when M / N > 5 the upper
bound is sqrt(N / M). Writes mixing_sweep.json (every number, per seed too), mixing_sweep.md and
mixing_sweep.png (success against w with 95% bands, one panel per evaluation pair, the
guideline's bounds as vertical lines), and per method and pair the best w and whether it lies
in the guideline's range.
"""

from __future__ import annotations

import math
import os

from gdacot import cli_common, sweep

NAME = "mixing_sweep"
_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "mixing_sweep.py")


def validate(cfg) -> None:
  from gdacot.align import METHODS  # pylint: disable=g-import-not-at-top
  problems = sweep.check_common(cfg)
  ws, methods = tuple(cfg.w), tuple(cfg.methods)
  if not ws:
    problems.append("w is empty: the grid has no cells")
  bad = [w for w in ws if not 0.0 < w <= 1.0]
  if bad:
    problems.append(f"w values (share of real samples per BC batch) must be in (0, 1], got {bad}")
  if len(set(ws)) != len(ws):
    problems.append(f"w values repeat: {ws}")
  problems += cli_common.choice_problems("methods", methods, METHODS, "method")
  problems += [f"method {m!r} fixes w to {METHODS[m].forced_w}: sweeping w does not change it"
               for m in methods if m in METHODS and METHODS[m].forced_w is not None]
  if problems:
    raise sweep.GridError(f"bad {NAME} config: " + "; ".join(problems))


def make_cells(cfg) -> list[sweep.Cell]:
  return [sweep.Cell(name=f"{method}-w{w:g}", labels={"method": method, "w": float(w)},
                    overrides={"method": method, "w": float(w)}, variant=cfg.cotrain_variant)
          for method in cfg.methods for w in cfg.w]


def guideline(records: list[dict]) -> dict:
  """Paper B's range for w from the runs' demo frames (the same demos in every cell)."""
  frames = {(r["demos"]["real_frames"], r["demos"]["sim_frames"]) for r in records}
  if len(frames) != 1:
    raise RuntimeError(f"the cells trained on different demos (real, sim frames): {sorted(frames)}")
  (n, m), = frames
  return {"real_frames_N": n, "sim_frames_M": m, "w_natural": n / (n + m), "w_upper": math.sqrt(n / m),
          "upper_applies": m > 5 * n,
          "rule": "lower bound w_n = N / (N + M); if M / N > 5, upper bound sqrt(N / M) (paper B)"}


def best_w(cfg, records: list[dict], g: dict) -> list[dict]:
  """Per method and real pair, the w of highest mean success and whether the guideline's range
  holds it (paper B's guideline is about the real domain; sim pairs are the ceilings)."""
  hi = g["w_upper"] if g["upper_applies"] else 1.0
  out = []
  for method in cfg.methods:
    for pair in [p for p in cfg.eval_pairs if p.startswith("real:")]:
      cells = [sweep.find(records, method=method, w=float(w)) for w in cfg.w]
      top = max(r["success"][pair]["mean"] for r in cells)
      tied = [r["labels"]["w"] for r in cells if r["success"][pair]["mean"] == top]
      out.append({"method": method, "pair": pair, "best_w": tied[0], "tied_w": tied[1:], "mean": top,
                  "in_guideline_range": g["w_natural"] <= tied[0] <= hi,
                  "note": "picked on the means; neighbouring w often lie within its interval"})
  return out


def markdown(cfg, record: dict) -> str:
  g, records = record["guideline"], record["cells"]
  cols = [(m, p) for m in cfg.methods for p in cfg.eval_pairs]
  upper = (f"upper bound sqrt(N/M) = {g['w_upper']:.3f}" if g["upper_applies"] else
           f"no upper bound (M/N = {g['sim_frames_M'] / g['real_frames_N']:.1f} <= 5)")
  lines = [
      "# Mixing sweep: success rate against the mixing ratio w (share of real samples per BC batch)", "",
      f"Mean success over seeds {record['seeds']}, in brackets its {record['interval_note']}; cotrain config "
      f"variant '{cfg.cotrain_variant}'. w_eff: the share of real samples the batch really holds.", "",
      "| w | w_eff | " + " | ".join(f"{m} {p.replace(':', '/')}" for m, p in cols) + " |",
      "|---" * (len(cols) + 2) + "|"]
  for w in cfg.w:
    eff = sweep.find(records, w=float(w))["w_effective"]
    lines.append(f"| {w:g} | {eff:.3g} | " + " | ".join(
        sweep.fmt(sweep.find(records, method=m, w=float(w))["success"][p]) for m, p in cols) + " |")
  lines += ["", f"Paper B's guideline from the demo frames (N = {g['real_frames_N']} real, M = {g['sim_frames_M']} "
                f"sim): natural w_n = N/(N+M) = {g['w_natural']:.3f}, {upper}.", ""]
  lines += [f"- best w for {b['method']}, {b['pair'].replace(':', '/')}: {b['best_w']:g} (mean {b['mean']:.2f}"
            + (f"; tied with w = {', '.join(f'{w:g}' for w in b['tied_w'])}" if b["tied_w"] else "")
            + f"), {'inside' if b['in_guideline_range'] else 'outside'} the guideline's range" for b in record["best_w"]]
  return "\n".join(lines) + "\n"


def plot(cfg, record: dict):
  plt = sweep.pyplot()
  g, pairs = record["guideline"], list(cfg.eval_pairs)
  fig, axes = plt.subplots(1, len(pairs), figsize=(5.5 * len(pairs), 4.2), squeeze=False)
  for ax, pair in zip(axes[0], pairs):
    for method in cfg.methods:
      cells = [sweep.find(record["cells"], method=method, w=float(w)) for w in cfg.w]
      sweep.plot_curve(ax, list(cfg.w), [c["success"][pair] for c in cells], label=method)
    ax.axvline(g["w_natural"], ls="--", c="gray", label=f"natural w_n = N/(N+M) = {g['w_natural']:.3f}")
    if g["upper_applies"]:
      ax.axvline(g["w_upper"], ls=":", c="k", label=f"upper bound sqrt(N/M) = {g['w_upper']:.3f}")
      ax.axvspan(g["w_natural"], g["w_upper"], color="gray", alpha=0.08)
    sweep.success_axes(ax, cfg.w, pair, record["num_seeds"], "mixing ratio w (share of real samples per BC batch, log)")
  fig.tight_layout()
  return fig


def run(cfg, workdir: str) -> dict:
  validate(cfg)
  record = sweep.run_grid(NAME, cfg, make_cells(cfg), workdir)
  from gdacot.data.dataset import num_real_in_batch  # pylint: disable=g-import-not-at-top
  for r in record["cells"]:
    batch = r["cotrain_config"]["batch_size"]
    r["w_effective"] = num_real_in_batch(batch, r["labels"]["w"]) / batch
  record["guideline"] = guideline(record["cells"])
  record["best_w"] = best_w(cfg, record["cells"], record["guideline"])
  sweep.write_outputs(workdir, NAME, record, markdown(cfg, record), {f"{NAME}.png": plot(cfg, record)})
  return record


if __name__ == "__main__":
  sweep.main(run, _CONFIG_DEFAULT)
