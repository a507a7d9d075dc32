"""Many seeds in one program: --config.num_seeds=K equals K separate runs."""

import json
import os

import numpy as np
from runs import SMOKE, cotrain, module

_ARGS = (SMOKE, "--config.steps=20", "--config.eval.episodes=8")


def _read(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  with open(os.path.join(workdir, "eval.json")) as f:
    return rows, json.load(f)


def test_two_seeds_in_one_program_equal_two_separate_runs(tmp_path):
  both = str(tmp_path / "k2")
  proc = cotrain(f"--workdir={both}", *_ARGS, "--config.num_seeds=2")
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows, out = _read(both)
  assert sorted({e["seed"] for e in out["results"]}) == [0, 1]
  assert [r["seeds"] for r in out["over_seeds"]] == [[0, 1], [0, 1]]
  for k in (0, 1):
    # The separate run of seed k, on the same demos (those of the first seed, data.seed=0).
    alone = str(tmp_path / f"s{k}")
    proc = cotrain(f"--workdir={alone}", *_ARGS, f"--config.seed={k}", "--config.data.seed=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows_k, out_k = _read(alone)
    np.testing.assert_allclose([r[f"loss/seed{k}"] for r in rows], [r["loss"] for r in rows_k], rtol=1e-5)
    np.testing.assert_allclose(out["alignment"][k]["wasserstein"], out_k["alignment"]["wasserstein"], rtol=1e-4)
    mine = [(e["domain"], e["region"], e["successes"]) for e in out["results"] if e["seed"] == k]
    assert mine == [(e["domain"], e["region"], e["successes"]) for e in out_k["results"]]
  # The evaluation CLI evaluates every seed of such a run, each as its own run would.
  eval_out = str(tmp_path / "eval.json")
  proc = module("gdacot.evaluate", f"--workdir={both}", "--domain=real", "--region=in", "--episodes=8",
                f"--out={eval_out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(eval_out) as f:
    cli = json.load(f)
  assert [(e["seed"], e["successes"]) for e in cli["results"]] == \
      [(e["seed"], e["successes"]) for e in out["results"] if e["region"] == "in"]
  assert cli["over_seeds"][0]["seeds"] == [0, 1]
