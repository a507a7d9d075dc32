r"""Runs `experiments.cotrain` for methods x seeds and writes the success table over seeds.

  python -m tools.method_table --out=runs/table [--methods=cotrain,uot_joint] --seeds=0,1,2 \
      [--config=experiments/configs/cotrain.py] [-- extra --config.* flags]

Each (method, seed) is its own workdir under --out (an existing one is resumed, so the
tool can be rerun after an interruption). Writes OUT/table.json and OUT/table.md: per
method and (domain, region), the mean success over seeds with a 95% t-interval over seeds,
and the pooled Wilson interval over all episodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from absl import app, flags

from gdacot.align import METHODS
from gdacot.rollout import aggregate_over_seeds

_OUT = flags.DEFINE_string("out", None, "Output directory.", required=True)
_METHODS = flags.DEFINE_list("methods", list(METHODS), "Methods (default: every method of the registry).")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
_CONFIG = flags.DEFINE_string("config", "experiments/configs/cotrain.py", "Config file [:variant].")

def markdown(rows: list[dict], pairs: list[tuple[str, str]]) -> str:
  head = "| method | " + " | ".join(f"{d}/{r}" for d, r in pairs) + " |"
  lines = [head, "|" + "---|" * (len(pairs) + 1)]
  by_key = {(r["method"], r["domain"], r["region"]): r for r in rows}
  for method in dict.fromkeys(r["method"] for r in rows):
    cells = []
    for d, reg in pairs:
      r = by_key.get((method, d, reg))
      cells.append("" if r is None else
                   f"{r['mean']:.3f} [{r['seed_ci95'][0]:.2f}, {r['seed_ci95'][1]:.2f}]")
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv):
  extra = argv[1:]
  os.makedirs(_OUT.value, exist_ok=True)
  entries, times = [], {}
  for method in _METHODS.value:
    for seed in _SEEDS.value:
      workdir = os.path.join(_OUT.value, f"{method}_s{seed}")
      cmd = [sys.executable, "-m", "experiments.cotrain", f"--workdir={workdir}", f"--config={_CONFIG.value}",
             f"--config.method={method}", f"--config.seed={seed}", *extra]
      print("$", " ".join(cmd), flush=True)
      t0 = time.perf_counter()
      proc = subprocess.run(cmd, capture_output=True, text=True)
      times[f"{method}_s{seed}"] = time.perf_counter() - t0
      if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
        sys.exit(f"run {workdir} failed")
      with open(os.path.join(workdir, "eval.json")) as f:
        results = json.load(f)["results"]
      entries.extend(results)
      print("  " + ", ".join(f"{r['domain']}/{r['region']} {r['success_rate']:.3f}" for r in results)
            + f"  ({times[f'{method}_s{seed}']:.0f}s)", flush=True)
  rows = aggregate_over_seeds(entries)
  pairs = list(dict.fromkeys((e["domain"], e["region"]) for e in entries))
  table = markdown(rows, pairs)
  with open(os.path.join(_OUT.value, "table.json"), "w") as f:
    json.dump({"rows": rows, "entries": entries, "wall_time_s": times, "extra_flags": extra}, f, indent=2)
  with open(os.path.join(_OUT.value, "table.md"), "w") as f:
    f.write(table + "\n")
  print(table)
  print(f"total wall time {sum(times.values()):.0f}s over {len(times)} runs")


if __name__ == "__main__":
  app.run(main)
