"""experiments.dose_response (issue 32, item 1): its cells, its checks, and the summary, the
choice rule and the outputs it writes from finished cells (made up here: the engine that runs
the cells is gdacot.sweep's, run end to end by test_experiments' smoke sweeps)."""

import json
import math
import os

import pytest

from experiments import dose_response
from experiments.configs import dose_response as dose_response_config
from gdacot import sweep
from gdacot.rollout import result_entry

PNG = b"\x89PNG\r\n\x1a\n"


def _config(**changes):
  cfg = dose_response_config.get_config("smoke")
  cfg.update(num_seeds=2, **changes)
  return cfg


def test_cells_cover_every_method_form_and_dose_once_with_cotrain_as_dose_zero():
  cfg = _config(methods=("uot_joint", "mmd"), forms=("plain", "l2", "real_side", "warmup"))
  cells = dose_response.make_cells(cfg)
  assert cells[0].name == "cotrain" and cells[0].labels == {"method": "cotrain", "form": "plain", "lam": 0.0}
  assert [c.name for c in cells[1:]] == [f"uot_joint-{f}-lam{lam:g}" for f in cfg.forms for lam in cfg.lams] + \
      [f"mmd-plain-lam{lam:g}" for lam in cfg.lams]  # forms only for form_methods
  by_name = {c.name: c for c in cells}
  assert by_name["uot_joint-l2-lam1"].overrides == {"method": "uot_joint", "align.lam": 1.0, "align.feature_norm": "l2"}
  assert by_name["uot_joint-warmup-lam0.01"].overrides["align.warmup_steps"] == cfg.warmup_steps
  assert by_name["uot_joint-real_side-lam1"].overrides["align.grad_side"] == "real"
  dose_response.validate(cfg)  # and every cell's cotrain config is valid (checked as cotrain checks it)
  for cell in cells:
    sweep.resolve(cell, cfg)
  adversarial = dose_response.make_cells(_config(methods=("adda",), form_methods=()))
  assert adversarial[1].overrides == {"method": "adda", "align.adv_lam": 0.01}  # the method's own weight


def test_ot_settings_are_forms_that_set_the_plans_epsilon_and_rho():
  cfg = _config(forms=("plain",), lams=(1.0,), ot_settings=((0.005, 0.0025), (0.02, 1)))
  cells = dose_response.make_cells(cfg)
  assert [c.name for c in cells] == ["cotrain", "uot_joint-plain-lam1", "uot_joint-eps0.005-rho0.0025-lam1",
                                     "uot_joint-eps0.02-rho1-lam1"]
  assert cells[2].labels == {"method": "uot_joint", "form": "eps0.005-rho0.0025", "lam": 1.0}
  assert cells[2].overrides == {"method": "uot_joint", "align.lam": 1.0, "align.epsilon": 0.005, "align.rho": 0.0025}
  dose_response.validate(cfg)
  resolved = sweep.resolve(cells[3], cfg)  # what the cell trains with
  assert (resolved.align.epsilon, resolved.align.rho, resolved.align.lam) == (0.02, 1.0, 1.0)
  assert sweep.resolve(cells[1], cfg).align.epsilon == 0.05  # plain keeps the default
  # The registered scan: paper A's corners and each parameter alone, plus plain (the default).
  scan = dose_response_config.get_config("ot,scan")
  assert scan.num_seeds == 3 and scan.cotrain_variant == "lift" and len(dose_response.make_cells(scan)) == 22


@pytest.mark.parametrize("changes,message", [
    ({"ot_settings": ((0.005, 0.0),)}, r"not an \(epsilon, rho\) pair of positive numbers"),
    ({"ot_settings": ((0.005,),)}, "not an"),
    ({"ot_settings": ((0.005, True),)}, "not an"),
    ({"ot_settings": ((0.005, 0.01), (0.005, 0.01))}, "ot_settings repeat"),
    ({"ot_settings": ((0.005, 0.01),), "methods": ("uot_joint", "ot_marginal"), "form_methods": ("ot_marginal",)},
     "only uot_joint reads"),
    ({"lams": (0.1, 0.1)}, "lams must be distinct positive doses"),
    ({"lams": (0.0, 1.0)}, "lams must be distinct positive doses"),
    ({"methods": ("cotrain",), "form_methods": ()}, "has no alignment loss to dose"),
    ({"forms": ("l2", "bogus")}, "form"),
    ({"forms": ("l2",)}, "forms must hold 'plain'"),
    ({"form_methods": ("mmd",)}, "form_methods: 'mmd' is not in methods"),
    ({"choice_pair": "real:ood"}, "choice_pair real:ood must be scored at every checkpoint"),
    ({"cotrain_overrides": ("ckpt_eval.episodes=0", "best_metric=", "keep_best=0")}, "must be scored at every checkpoint"),
])
def test_bad_configs_are_refused_before_any_work(changes, message):
  with pytest.raises(sweep.GridError, match=message):
    dose_response.validate(_config(**changes))


# Made-up finished cells: (scoring real/in per seed, discernibility per seed, real features' variance;
# the sim features' is 1).
_CELLS = {
    "cotrain": ([0.80, 0.80], [0.95, 0.97], 1.0),
    "uot_joint-plain-lam0.01": ([0.82, 0.78], [0.90, 0.92], 0.9),
    # Above the floor with the lowest discernibility, but by collapse: spread 0.05 < 0.1 x co-training's.
    "uot_joint-plain-lam0.1": ([0.80, 0.80], [0.60, 0.62], 0.05),
    "uot_joint-plain-lam1": ([0.50, 0.40], [0.60, 0.62], 0.01),  # collapses and real/in falls
    "uot_joint-l2-lam0.01": ([0.84, 0.80], [0.93, 0.91], 1.0),
    "uot_joint-l2-lam0.1": ([0.82, 0.80], [0.80, 0.82], 1.0),
    "uot_joint-l2-lam1": ([0.80, 0.78], [0.70, 0.72], 0.8),  # within 0.02 of co-training (0.79 >= 0.78)
}


def _write_finished_cell(workdir, cell, cfg):
  scoring, disc, var_real = _CELLS[cell.name]
  run = os.path.join(workdir, "runs", cell.name)
  os.makedirs(run)
  seeds = [0, 1]
  results = [result_entry(method=cell.labels["method"], domain=d, region=r, successes=s + k, episodes=10, step=40,
                          seed=k) for k in seeds for d, r, s in (("real", "in", 8), ("real", "ood", 3), ("sim", "ood", 6))]
  alignment = [{"seed": k, "step": 40, "wasserstein": 2.0 * disc[k], "discernibility": disc[k], "n_sim": 64,
                "n_real": 64, "feature_variance_sim": 1.0, "feature_variance_real": var_real, "feature_norm_sim": 3.0,
                "feature_norm_real": 3.0 * var_real} for k in seeds]
  with open(os.path.join(run, "eval.json"), "w") as f:
    json.dump({"results": results, "alignment": alignment, "wall_time_s": 1.0,
               "demos": {"sim_frames": 100, "real_frames": 20}}, f)
  with open(os.path.join(run, "config.json"), "w") as f:
    json.dump(sweep.resolve(cell, cfg).to_dict(), f)
  plan = {"ot_mass": 0.25 + var_real / 2, "ot_converged": 1.0} if cell.labels["method"] == "uot_joint" else {}
  rows = [{"step": 20, "bc_loss": 1.0, "eval/real:in": 0.1}, {
      "step": 40, "bc_loss": 0.5 + var_real, **{f"bc_loss/seed{k}": 0.5 + var_real for k in seeds}, **plan,
      "eval/real:in": sum(scoring) / 2, **{f"eval/real:in/seed{k}": scoring[k] for k in seeds}}]
  with open(os.path.join(run, "metrics.jsonl"), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)


def test_finished_cells_give_the_measures_the_choice_and_the_outputs(tmp_path):
  cfg = _config(lams=(0.01, 0.1, 1.0))
  workdir = str(tmp_path / "dose")
  sweep.claim_workdir(workdir, dose_response.NAME, cfg)
  cells = dose_response.make_cells(cfg)
  assert sorted(c.name for c in cells) == sorted(_CELLS)
  for cell in cells:
    _write_finished_cell(workdir, cell, cfg)
  record = dose_response.run(cfg, workdir)  # every cell done: nothing trains

  plain1 = sweep.find(record["cells"], method="uot_joint", form="plain", lam=1.0)
  assert plain1["scoring"]["per_seed"] == [0.50, 0.40] and plain1["scoring"]["mean"] == pytest.approx(0.45)
  assert plain1["collapse"]["feature_variance_real"]["mean"] == pytest.approx(0.01)
  d = plain1["cotrain_config"]["model"]["latent_dim"]  # W2 2 disc per seed; variances 1 and 0.01
  assert plain1["w2_scaled"]["per_seed"] == pytest.approx([2 * disc / math.sqrt(d * 1.01 / 2) for disc in (0.60, 0.62)])
  assert plain1["bc_loss"]["per_seed"] == [0.51, 0.51] and plain1["scoring"]["step"] == 40
  assert plain1["plan"]["ot_mass"]["mean"] == pytest.approx(0.255) and plain1["plan"]["ot_converged"]["mean"] == 1.0
  assert sweep.find(record["cells"], method="cotrain")["plan"] == {}  # no OT plan: none recorded
  choice = record["choice"]
  assert choice["floor"] == pytest.approx(0.78) and choice["min_spread_ratio"] == pytest.approx(0.1)
  assert plain1["spread_ratio"] == pytest.approx(0.01)
  assert choice["collapsed"] == ["uot_joint-plain-lam0.1", "uot_joint-plain-lam1"]
  # plain's dose 0.1 stays above the floor but collapsed: its largest sound dose is 0.01.
  assert [(c["form"], c["lam"]) for c in choice["chosen"]] == [("plain", 0.01), ("l2", 1.0)]
  assert (choice["kept"]["form"], choice["kept"]["lam"]) == ("l2", 1.0)  # the lower discernibility
  assert choice["kept"]["discernibility"] == pytest.approx(0.71)

  assert (tmp_path / "dose" / "dose_response.png").read_bytes()[:8] == PNG
  table = (tmp_path / "dose" / "dose_response.md").read_text()
  assert "| uot_joint l2 | 1 |" in table and "| cotrain | 0 |" in table and "| 0.05‡ |" in table
  assert "| 1.5 [1.5, 1.5] | - |" in table and "| 0.51 [0.51, 0.51] | 0.255 |" in table  # BC loss, then the plan's mass
  assert "Kept: uot_joint l2 at dose 1" in table and "scoring episodes" in table
  saved = json.loads((tmp_path / "dose" / "dose_response.json").read_text())
  assert saved["choice"]["kept"]["lam"] == 1.0 and saved["cells"][0]["scoring"]["mean"] == pytest.approx(0.8)

  # The rule's fields are the summary's alone: another rule re-summarises the same finished cells
  # (without the collapse test, plain's collapsed dose 0.1 wins), and the marker records it.
  cfg.collapse_fraction = 0.0
  again = dose_response.run(cfg, workdir)
  assert (again["choice"]["kept"]["form"], again["choice"]["kept"]["lam"]) == ("plain", 0.1)
  assert again["cells_run"] == 0
  marker = json.loads((tmp_path / "dose" / sweep.MARKER).read_text())
  assert marker["config"]["collapse_fraction"] == 0.0
  cfg.warmup_steps += 1  # a field the cells read: still another experiment
  with pytest.raises(sweep.GridError, match="warmup_steps"):
    dose_response.run(cfg, workdir)


def _summary(method, form, lam, scoring, var_real=1.0):
  return {"cell": f"{method}-{form}-lam{lam:g}", "labels": {"method": method, "form": form, "lam": lam},
          "scoring": {"mean": scoring}, "alignment": {"discernibility": {"mean": 0.6}, "wasserstein": {"mean": 1.0}},
          "collapse": {"feature_variance_sim": {"mean": 1.0}, "feature_variance_real": {"mean": var_real}}}


def test_no_dose_above_the_floor_is_said():
  cfg = _config(forms=("plain",))
  cells = [_summary("cotrain", "plain", 0.0, 0.9)] + [_summary("uot_joint", "plain", lam, 0.5) for lam in cfg.lams]
  choice = dose_response.choose(cfg, cells)
  assert choice["chosen"][0]["lam"] is None and choice["kept"] is None


def test_spread_ratio_is_free_of_scale_and_symmetric_and_only_form_methods_are_kept():
  inflated = _summary("uot_joint", "l2", 1.0, 0.9)
  inflated["collapse"] = {"feature_variance_sim": {"mean": 900.0}, "feature_variance_real": {"mean": 600.0}}
  sim_collapsed = _summary("mmd", "plain", 1.0, 0.9)
  sim_collapsed["collapse"]["feature_variance_sim"]["mean"] = 1e-5
  assert dose_response.spread_ratio(inflated) == pytest.approx(2 / 3)
  assert dose_response.spread_ratio(sim_collapsed) == pytest.approx(1e-5)
  # Methods without forms are chosen a dose but never kept: the forms are uot_joint's remedies.
  cfg = _config(methods=("uot_joint", "mmd"), forms=("plain",), lams=(1.0,))
  choice = dose_response.choose(cfg, [_summary("cotrain", "plain", 0.0, 0.9), _summary("uot_joint", "plain", 1.0, 0.9),
                                      _summary("mmd", "plain", 1.0, 0.9)])
  assert [c["lam"] for c in choice["chosen"]] == [1.0, 1.0] and choice["kept"]["method"] == "uot_joint"
  cfg.form_methods = ()
  assert dose_response.choose(cfg, [_summary("cotrain", "plain", 0.0, 0.9), _summary("uot_joint", "plain", 1.0, 0.9),
                                    _summary("mmd", "plain", 1.0, 0.9)])["kept"] is None


def test_scaled_w2_is_free_of_the_features_scale_so_shrinking_them_does_not_lower_it():
  def cell(w2, var_sim, var_real):
    return {"cotrain_config": {"model": {"latent_dim": 8}},
            "alignment_per_seed": [{"wasserstein": w2 * k, "feature_variance_sim": var_sim * k**2,
                                    "feature_variance_real": var_real * k**2} for k in (1.0, 2.0)]}
  base = dose_response.scaled_w2(cell(2.0, 1.0, 0.5))
  # W2 / sqrt(d (var_sim + var_real) / 2) = 2 / sqrt(8 * 0.75); the seeds' features differ in scale alone.
  assert base["per_seed"] == pytest.approx([2 / math.sqrt(6)] * 2) and base["mean"] == pytest.approx(2 / math.sqrt(6))
  # Features shrunk 10x with W2 shrunk 10x (the plain loss's way of lowering W2): the same reading.
  assert dose_response.scaled_w2(cell(0.2, 0.01, 0.005))["mean"] == pytest.approx(base["mean"])
  # Shrunk 10x with W2 only halved: the domains are further apart for their size.
  assert dose_response.scaled_w2(cell(1.0, 0.01, 0.005))["mean"] == pytest.approx(5 * base["mean"])
