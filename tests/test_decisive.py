"""experiments.decisive (issue 32, item 3): its cells (a demo draw per first seed, the
dose-response's choice on every aligned method), its checks, and the registered analysis of
made-up finished cells (the engine that runs cells is gdacot.sweep's, tested on its own)."""

import json
import os

import pytest

from experiments import decisive
from experiments.configs import decisive as decisive_config
from experiments.configs import dose_response as dose_config
from gdacot import stats, sweep
from gdacot.rollout import result_entry


def _choice_file(tmp_path, kept=("warmup", 0.3), amended=True, **scan_changes):
  scan = {**dose_config.get_config("smoke").to_dict(), **scan_changes}
  if not amended:
    del scan["collapse_fraction"]
  kept = None if kept is None else {"method": "uot_joint", "form": kept[0], "lam": kept[1]}
  path = tmp_path / "dose_response.json"
  path.write_text(json.dumps({"experiment": "dose_response", "config": scan, "seeds": [0],
                              "choice": {"kept": kept, "rule": "the rule"}}))
  return str(path)


def cfg_warmup():
  return dose_config.get_config("smoke").warmup_steps


def _config(tmp_path, **changes):
  cfg = decisive_config.get_config("smoke")
  cfg.update(**{"num_draws": 3, **changes})
  if "choice_from" not in changes:
    cfg.choice_from = _choice_file(tmp_path)
  return cfg


def test_each_draw_is_its_own_first_seed_and_the_choice_is_set_on_every_aligned_method(tmp_path):
  cfg = _config(tmp_path)
  choice = decisive.validate(cfg)
  assert (choice["form"], choice["lam"], choice["fallback"]) == ("warmup", 0.3, False)
  cells = decisive.make_cells(cfg, choice)
  assert [c.name for c in cells] == [f"push_cube-draw{d}-{m}" for d in range(3)
                                     for m in ("cotrain", "ot_marginal", "uot_joint")]
  assert [c.seed for c in cells] == [0, 0, 0, 2, 2, 2, 4, 4, 4]  # num_seeds 2: draws start at 0, 2, 4
  by_name = {c.name: c for c in cells}
  assert by_name["push_cube-draw1-uot_joint"].overrides == {
      "method": "uot_joint", "gap": "physics", "align.lam": 0.3, "align.warmup_steps": cfg_warmup()}
  assert by_name["push_cube-draw1-ot_marginal"].overrides["align.lam"] == 0.3
  assert by_name["push_cube-draw1-cotrain"].overrides == {"method": "cotrain", "gap": "physics"}
  resolved = sweep.resolve(by_name["push_cube-draw2-uot_joint"], cfg)
  assert resolved.seed == 4 and resolved.num_seeds == 2 and resolved.data.seed == -1  # demos from seed 4
  # The registered size resolves as cotrain checks it: images, 10 real and 1000 sim demos, 200 episodes.
  full = decisive_config.get_config()
  full.choice_from = cfg.choice_from
  registered = decisive.make_cells(full, decisive.validate(full))
  assert len(registered) == 2 * 4 * 3 and {c.seed for c in registered} == {0, 6, 12, 18}
  big = sweep.resolve(next(c for c in registered if c.name == "pick_place-draw3-uot_joint"), full)
  assert (big.task, big.gap, big.data.num_real_demos, big.data.num_sim_demos, big.eval.episodes, big.seed) == (
      "pick_place", "visual", 10, 1000, 200, 18)


def test_no_kept_form_runs_the_registered_fallback(tmp_path):
  choice = decisive.read_choice(_choice_file(tmp_path, kept=None))
  assert (choice["form"], choice["lam"], choice["fallback"], choice["align"]) == ("plain", 0.01, True, {})


@pytest.mark.parametrize("changes,message", [
    ({"choice_from": ""}, "choice_from is empty"),
    ({"choice_from": "/nonexistent/dose_response.json"}, "does not read"),
    ({"num_draws": 1}, "num_draws must be an integer >= 2"),
    ({"tasks": ("push_cube", "nope")}, "unknown task 'nope'"),
    ({"gap": "visual"}, "a state policy does not see"),
    ({"primary_pair": "sim:in"}, "sim:in is not in eval_pairs"),
    ({"methods": ("cotrain", "ot_marginal")}, "methods must hold 'uot_joint'"),
    ({"methods": ("uot_joint", "mmd")}, "unknown method 'mmd'"),
    ({"holm_over": "draw"}, "holm_over must be one of"),
])
def test_bad_configs_are_refused_before_any_work(tmp_path, changes, message):
  with pytest.raises(sweep.GridError, match=message):
    decisive.validate(_config(tmp_path, **changes))


def test_a_choice_made_before_the_amendment_or_not_by_a_dose_response_is_refused(tmp_path):
  with pytest.raises(sweep.GridError, match="before its amendment of 2026-12-06"):
    decisive.read_choice(_choice_file(tmp_path, amended=False))
  other = tmp_path / "other.json"
  other.write_text(json.dumps({"experiment": "method_table", "cells": []}))
  with pytest.raises(sweep.GridError, match="is not a dose_response.json"):
    decisive.read_choice(str(other))
  other.write_text(json.dumps({"experiment": "dose_response", "config": {}, "choice": {}}))  # no kept form recorded
  with pytest.raises(sweep.GridError, match="is not a dose_response.json"):
    decisive.read_choice(str(other))


# Made-up real/ood success per seed (draws of 2 seeds): uot_joint well above cotrain on every
# draw; against ot_marginal, noise around zero.
_OOD = {"cotrain": [0.30, 0.32, 0.28, 0.30, 0.31, 0.29],
        "ot_marginal": [0.52, 0.47, 0.50, 0.53, 0.49, 0.55],
        "uot_joint": [0.50, 0.53, 0.49, 0.50, 0.52, 0.51]}
_DISC = {"cotrain": [0.95, 0.96, 0.94, 0.95, 0.97, 0.95], "ot_marginal": [0.9] * 6,
         "uot_joint": [0.85, 0.88, 0.84, 0.86, 0.87, 0.83]}


def _write_finished_cell(workdir, cell, cfg):
  method, seeds = cell.labels["method"], [cell.seed, cell.seed + 1]
  run = os.path.join(workdir, "runs", cell.name)
  os.makedirs(run)
  results = [result_entry(method=method, domain=d, region=r, successes=round(100 * rate), episodes=100, step=40, seed=s)
             for s in seeds for d, r, rate in (("real", "in", 0.9), ("real", "ood", _OOD[method][s]),
                                               ("sim", "ood", 1.0))]
  alignment = [{"seed": s, "step": 40, "wasserstein": 2.0 * _DISC[method][s], "discernibility": _DISC[method][s],
                "feature_variance_sim": 1.0, "feature_variance_real": 3.0} for s in seeds]
  with open(os.path.join(run, "eval.json"), "w") as f:
    json.dump({"results": results, "alignment": alignment, "wall_time_s": 1.0}, f)
  with open(os.path.join(run, "config.json"), "w") as f:
    json.dump(sweep.resolve(cell, cfg).to_dict(), f)


def test_finished_cells_give_the_registered_verdicts(tmp_path):
  cfg = _config(tmp_path)
  workdir = str(tmp_path / "decisive")
  sweep.claim_workdir(workdir, decisive.NAME, cfg)
  for cell in decisive.make_cells(cfg, decisive.validate(cfg)):
    _write_finished_cell(workdir, cell, cfg)
  record = decisive.run(cfg, workdir)  # every cell done: nothing trains
  (task,) = record["tasks"]
  draws = [0, 0, 1, 1, 2, 2]
  by = {d["contrast"]: d for d in task["primary"]}
  for (a, b), d in zip(decisive.contrasts(cfg), task["primary"]):
    expected = stats.cluster_interval([x - y for x, y in zip(_OOD[a], _OOD[b])], draws)
    assert d["mean"] == pytest.approx(expected["mean"]) and d["p_value"] == pytest.approx(expected["p_value"])
    assert d["ci95"] == pytest.approx(expected["ci95"]) and d["family_size"] == 2
  vs_cotrain, vs_marginal = by["uot_joint - cotrain"], by["uot_joint - ot_marginal"]
  # Holm over two: the smaller p doubled, the larger kept (never below the smaller's).
  assert vs_cotrain["p_holm"] == pytest.approx(2 * vs_cotrain["p_value"]) and vs_cotrain["reject_holm"]
  assert vs_cotrain["verdict"] == "uot_joint higher (Holm)"
  assert not vs_marginal["reject_holm"] and vs_marginal["p_holm"] == pytest.approx(vs_marginal["p_value"])
  assert vs_marginal["verdict"] == f"not detected; effects above {vs_marginal['ci95'][1]:+.3f} excluded"
  assert [d["measure"] for d in task["secondary"]] == ["real:in", "real:in"]
  assert decisive.verdict(task["secondary"][0]) == "no spread to judge it by: no test"  # 0.9 on every seed
  assert task["discernibility_moved"] and task["manipulation"][1]["mean"] == pytest.approx(-0.0983, abs=1e-4)
  # W2/scale, descriptive: the made-up W2 over sqrt(latent_dim * (var_sim + var_real) / 2), variances 1 and 3.
  scaled = task["manipulation"][2]
  assert scaled["measure"] == "w2_scaled" and scaled["descriptive"] and not task["manipulation"][1].get("descriptive")
  latent = sweep.resolve(decisive.make_cells(cfg, decisive.validate(cfg))[0], cfg).model.latent_dim
  assert scaled["mean"] == pytest.approx(2.0 * (sum(_DISC["uot_joint"]) - sum(_DISC["cotrain"])) / 6 / (2 * latent) ** 0.5)
  assert {(c["method"], c["pair"]) for c in task["ceilings"]} == {(m, "sim:ood") for m in decisive.METHODS}
  assert task["methods"]["uot_joint"]["real:ood"]["seeds"] == [0, 1, 2, 3, 4, 5]
  for m in decisive.METHODS:  # each draw's mean over its two seeds
    assert task["by_draw"][m] == pytest.approx({d: (_OOD[m][2 * d] + _OOD[m][2 * d + 1]) / 2 for d in range(3)})

  table = (tmp_path / "decisive" / "decisive.md").read_text()
  assert "| cotrain | 0.31 | 0.29 | 0.30 |" in table  # real/ood by draw
  assert "Descriptive, not registered: W2/scale" in table
  assert "warmup at dose 0.3" in table and "| uot_joint - cotrain |" in table and "not detected; effects above" in table
  saved = json.loads((tmp_path / "decisive" / "decisive.json").read_text())
  assert saved["choice"]["form"] == "warmup" and saved["tasks"][0]["primary"][0]["reject_holm"]


def test_a_kept_ot_setting_sets_the_plans_epsilon_and_rho_and_the_test_may_drop_ot_marginal(tmp_path):
  path = _choice_file(tmp_path, kept=("eps0.005-rho0.01", 1.0), ot_settings=[[0.005, 0.01]])
  cfg = _config(tmp_path, choice_from=path, methods=("cotrain", "uot_joint"))
  choice = decisive.validate(cfg)
  assert choice["align"] == {"align.epsilon": 0.005, "align.rho": 0.01} and choice["lam"] == 1.0
  cells = decisive.make_cells(cfg, choice)
  assert [c.name for c in cells] == [f"push_cube-draw{d}-{m}" for d in range(3) for m in ("cotrain", "uot_joint")]
  resolved = sweep.resolve(cells[1], cfg)
  assert (resolved.align.epsilon, resolved.align.rho, resolved.align.lam) == (0.005, 0.01, 1.0)
  assert decisive.contrasts(cfg) == [("uot_joint", "cotrain")]
  # A setting the scan did not have is refused by name.
  with pytest.raises(sweep.GridError, match="keeps form 'eps0.02-rho1'"):
    decisive.read_choice(_choice_file(tmp_path, kept=("eps0.02-rho1", 1.0), ot_settings=[[0.005, 0.01]]))


def test_holm_over_all_tasks_corrects_across_them(tmp_path):
  cfg = _config(tmp_path, tasks=("push_cube", "lift"), methods=("cotrain", "uot_joint"), holm_over="all",
                cotrain_overrides=())
  workdir = str(tmp_path / "decisive")
  sweep.claim_workdir(workdir, decisive.NAME, cfg)
  for cell in decisive.make_cells(cfg, decisive.validate(cfg)):
    _write_finished_cell(workdir, cell, cfg)
  record = decisive.run(cfg, workdir)
  (a,), (b,) = (t["primary"] for t in record["tasks"])
  assert a["family_size"] == b["family_size"] == 2  # one contrast per task, two tasks
  assert a["p_value"] == pytest.approx(b["p_value"])  # the same made-up cells in both tasks
  # Holm over two equal p-values: both doubled (the second step never below the first).
  assert a["p_holm"] == pytest.approx(2 * a["p_value"]) and b["p_holm"] == pytest.approx(2 * b["p_value"])
  assert "Holm over all 2 primary contrasts of the tasks" in (tmp_path / "decisive" / "decisive.md").read_text()
  # The family is the summary's alone: per task again, the same cells re-summarised, nothing trained.
  cfg.holm_over = "task"
  again = decisive.run(cfg, workdir)
  assert again["cells_run"] == 0 and again["tasks"][0]["primary"][0]["family_size"] == 1
