"""gdacot.stats.seeds_to_detect and tools.power: the seed count of a paired comparison."""

import json

import pytest

from gdacot import stats
from tools import power


def test_seeds_to_detect_matches_the_t_test_by_hand():
  # sd 0.1, delta 0.1: n = 9 gives t(.975, 8) + t(.8, 8) = 3.195 > sqrt(9) = 3; n = 10 gives
  # 2.262 + 0.883 = 3.145 <= sqrt(10) = 3.162.
  assert stats.seeds_to_detect(0.1, 0.1) == 10
  assert stats.seeds_to_detect(0.2, 0.1) > stats.seeds_to_detect(0.1, 0.1) > stats.seeds_to_detect(0.1, 0.2)
  assert stats.seeds_to_detect(0.1, 0.1, power=0.9) > 10
  assert stats.seeds_to_detect(10.0, 0.01, most=50) is None
  with pytest.raises(ValueError, match="delta > 0"):
    stats.seeds_to_detect(0.1, 0.0)


def _cell(gap, method, per_seed):
  return {"labels": {"gap": gap, "method": method}, "status": "ran",
          "success": {"real:ood": {"seeds": list(range(len(per_seed))), "per_seed": per_seed}}}


def test_cli_pairs_by_seed_and_refuses_bad_input(tmp_path, capsys):
  table = tmp_path / "method_table.json"
  table.write_text(json.dumps({"cells": [_cell("visual", "uot_joint", [0.5, 0.7, 0.4, 0.6]),
                                         _cell("visual", "cotrain", [0.4, 0.5, 0.4, 0.4]),
                                         _cell("physics", "uot_joint", [1.0, 1.0]), _cell("physics", "cotrain", [1.0, 1.0])]}))
  out = tmp_path / "power.json"
  assert power.main([str(table), "--pairs=real:ood", f"--out={out}"]) == 0
  rows = {r["gap"]: r for r in json.loads(out.read_text())["tables"][0]["rows"]}
  diffs = [0.1, 0.2, 0.0, 0.2]
  sd = stats.t_interval(diffs)  # mean and interval of the same differences
  assert rows["visual"]["mean_diff"] == pytest.approx(sd[0]) and rows["visual"]["ci95"] == pytest.approx(sd[1:])
  assert rows["visual"]["sd_diff"] == pytest.approx(0.0957, abs=1e-4)
  assert rows["visual"]["seeds_needed"] == stats.seeds_to_detect(rows["visual"]["sd_diff"], 0.10)
  assert rows["physics"]["sd_diff"] == 0 and rows["physics"]["seeds_needed"] is None  # saturated: no count
  assert "no spread" in capsys.readouterr().out
  assert power.main([str(table), f"--out={out}"]) == 2  # exists
  assert power.main([str(table), "--delta=0"]) == 2
  assert power.main([str(tmp_path / "missing.json")]) == 2
  assert "error:" in capsys.readouterr().err


def test_pool_joins_tables_run_on_other_seeds_and_refuses_a_seed_twice(tmp_path, capsys):
  def table(name, first, a, b):
    cells = [_cell("visual", "uot_joint", a), _cell("visual", "cotrain", b)]
    for c in cells:
      c["success"]["real:ood"]["seeds"] = list(range(first, first + len(a)))
    path = tmp_path / name
    path.write_text(json.dumps({"cells": cells}))
    return str(path)
  early = table("seeds_0_1.json", 0, [0.5, 0.7], [0.4, 0.5])
  late = table("seeds_2_4.json", 2, [0.4, 0.6, 0.9], [0.4, 0.4, 0.6])
  out = tmp_path / "pooled.json"
  assert power.main([early, late, "--pool", "--pairs=real:ood", f"--out={out}"]) == 0
  (pooled,) = json.loads(out.read_text())["tables"]
  (row,) = pooled["rows"]
  assert row["seeds"] == [0, 1, 2, 3, 4] and pooled["path"] == f"{early} + {late}"
  assert row["mean_diff"] == pytest.approx(stats.t_interval([0.1, 0.2, 0.0, 0.2, 0.3])[0])
  capsys.readouterr()
  overlap = table("seeds_1_3.json", 1, [0.4, 0.6, 0.9], [0.4, 0.4, 0.6])
  assert power.main([early, overlap, "--pool"]) == 2
  assert "seed(s) [1] of uot_joint" in capsys.readouterr().err
  assert power.main([early, "--pool=yes"]) == 2  # a switch, not a value
