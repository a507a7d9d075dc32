r"""Does the file path change what a policy learns? The real domain in memory against the very
same demos written as a LeRobot dataset and read back.

  python -m experiments.dataset_roundtrip --workdir=runs/roundtrip              # lift 16x16, 5 seeds
  python -m experiments.dataset_roundtrip --workdir=runs/roundtrip_smoke \
      --config=experiments/configs/dataset_roundtrip.py:smoke

Two arms per method, each one cotrain program over the seeds:
  memory   the real domain generated in MJX, as cotrain does (WORKDIR/memory, an gdacot.sweep
           sweep);
  lerobot  the memory cells' own real demos (kept in their workdir, WORKDIR/memory/runs/*/demos)
           written as LeRobot v3.0 (WORKDIR/real_lerobot: exact float32 states and actions, one
           H.264 video per camera at the task's control rate) and read back as `real_data`, the
           frames resized as any dataset's (WORKDIR/files).
The sim demos are generated in both and are the same; both arms are evaluated by MJX in the real
domain that made the files. Seeds are paired (a seed's cells share the demo draw and the policy's
initialisation), so the table gives, per method and pair, lerobot - memory with a 95% t-interval
over the per-seed differences. The files' only difference is H.264's loss on the frames.
Writes dataset_roundtrip.json and .md into WORKDIR; rerunning the same command resumes.
"""

from __future__ import annotations

import json
import os

from gdacot import stats, sweep

NAME = "dataset_roundtrip"
_CONFIG_DEFAULT = os.path.join(os.path.dirname(__file__), "configs", "dataset_roundtrip.py")
ARMS = ("memory", "lerobot")


def validate(cfg) -> None:
  problems = sweep.check_common(cfg) + sweep.check_methods(cfg.methods)
  if "image" not in cfg.cotrain_variant.split(","):
    problems.append(f"cotrain_variant {cfg.cotrain_variant!r} must include 'image': the files hold the cameras")
  if problems:
    raise sweep.GridError(f"bad {NAME} config: " + "; ".join(problems))


def make_cells(cfg, arm: str, real_data: str = "", views=()) -> list[sweep.Cell]:
  overrides = {}
  if arm == "lerobot":
    from gdacot.data.sources.lerobot_write import CAMERA_PREFIX  # pylint: disable=g-import-not-at-top
    overrides = {"real_data": real_data, "sources.real.state_key": "observation.state",
                 "sources.real.image_keys": tuple(CAMERA_PREFIX + v for v in views)}
  return [sweep.Cell(name=f"{arm}-{method}", labels={"arm": arm, "method": method},
                    overrides={"method": method, **overrides}, variant=cfg.cotrain_variant) for method in cfg.methods]


def export_real_demos(memory_dir: str, out: str) -> tuple[str, tuple[str, ...]]:
  """The real demos the memory cells trained on, as a LeRobot dataset at `out` (written once);
  returns its path and the cameras' views."""
  from gdacot.data import demo_files  # pylint: disable=g-import-not-at-top
  from gdacot.data.sources.lerobot_write import write_demos  # pylint: disable=g-import-not-at-top
  from gdacot.envs import env_from_config  # pylint: disable=g-import-not-at-top
  from gdacot.train import kept_demos  # pylint: disable=g-import-not-at-top
  from gdacot.train.config import complete_saved_config  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top

  runs = sorted(os.listdir(os.path.join(memory_dir, "runs")))
  fingerprints = {}
  for run in runs:  # every memory cell trained on the same real demos
    demos = demo_files.read(kept_demos.path(os.path.join(memory_dir, "runs", run), "real"))
    fingerprints[run] = demos.fingerprint()["blake2b"]
  if len(set(fingerprints.values())) != 1:
    raise sweep.GridError(f"the memory cells trained on different real demos: {fingerprints}")
  workdir = os.path.join(memory_dir, "runs", runs[0])
  with open(os.path.join(workdir, "config.json")) as f:
    run_cfg = ml_collections.ConfigDict(complete_saved_config(json.load(f)))
  env = env_from_config(run_cfg)
  if not os.path.exists(out):
    metadata = [{"task": run_cfg.task, "domain": "real", "episode": e, "exported_from": f"memory/runs/{runs[0]}"}
                for e in range(demos.num_episodes)]
    write_demos(out, demos, metadata, fps=round(1.0 / env.control_dt), views=env.views)
    print(f"{NAME}: wrote the memory cells' {demos.num_episodes} real demos to {out}", flush=True)
  return out, tuple(env.views)


def compare(cfg, memory: dict, files: dict) -> dict:
  """Per method and pair: each arm's success row and lerobot - memory, paired by seed."""
  rows = {}
  for method in cfg.methods:
    a, b = sweep.find(memory["cells"], method=method), sweep.find(files["cells"], method=method)
    for pair in cfg.eval_pairs:
      ra, rb = a["success"][pair], b["success"][pair]
      diff = stats.paired_difference(dict(zip(rb["seeds"], rb["per_seed"])), dict(zip(ra["seeds"], ra["per_seed"])))
      rows[f"{method}/{pair}"] = {"method": method, "pair": pair, "memory": ra, "lerobot": rb,
                                  "lerobot_minus_memory": diff,
                                  "wall_time_s": {"memory": a["wall_time_s"], "lerobot": b["wall_time_s"]}}
  return rows


def markdown(cfg, record: dict) -> str:
  lines = [f"# {NAME}: the real domain in memory vs the same demos through LeRobot files",
           "", f"Cells: {cfg.cotrain_variant} with {', '.join(cfg.cotrain_overrides)}; seeds {record['seeds']}; "
           f"{record['interval_note']}; differences: 95% t-interval over per-seed differences.", "",
           "| method | pair | memory | lerobot | lerobot - memory | cell walls (memory, lerobot) |",
           "|---|---|---|---|---|---|"]
  for row in record["comparison"].values():
    d = row["lerobot_minus_memory"]
    ci = d.get("ci95")
    shown = f"{d['mean_diff']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
    walls = row["wall_time_s"]
    lines.append(f"| {row['method']} | {row['pair']} | {sweep.fmt(row['memory'])} | {sweep.fmt(row['lerobot'])} | "
                 f"{shown} | {walls['memory'] / 60:.1f}, {walls['lerobot'] / 60:.1f} min |")
  return "\n".join(lines) + "\n"


def run(cfg, workdir: str) -> dict:
  validate(cfg)
  workdir = os.path.abspath(workdir)
  sweep.claim_workdir(workdir, NAME, cfg)
  memory = sweep.run_grid(f"{NAME}/memory", cfg, make_cells(cfg, "memory"), os.path.join(workdir, "memory"))
  path, views = export_real_demos(os.path.join(workdir, "memory"), os.path.join(workdir, "real_lerobot"))
  files = sweep.run_grid(f"{NAME}/lerobot", cfg, make_cells(cfg, "lerobot", path, views), os.path.join(workdir, "files"))
  record = {"experiment": NAME, "config": cfg.to_dict(), "seeds": memory["seeds"],
            "interval_note": memory["interval_note"], "comparison": compare(cfg, memory, files),
            "cells": memory["cells"] + files["cells"], "machine": files["machine"],
            "wall_time_s": memory["wall_time_s"] + files["wall_time_s"],
            "cells_run": memory["cells_run"] + files["cells_run"],
            "cells_skipped": memory["cells_skipped"] + files["cells_skipped"]}
  sweep.write_outputs(workdir, NAME, record, markdown(cfg, record), {}, also=["real_lerobot"])
  return record


if __name__ == "__main__":
  sweep.main(run, _CONFIG_DEFAULT)
