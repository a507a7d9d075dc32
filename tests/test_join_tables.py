"""experiments.join_tables: a method table run in parts joins into the table one command would give."""

import copy
import json
import os

import pytest

from experiments import join_tables

TABLE = os.path.join(os.path.dirname(__file__), "..", "experiments", "results", "method_table_lift_visual16",
                     "method_table.json")


def _split(record: dict, methods: list[str]) -> dict:
  """The part of `record` that a run of only `methods` would have written."""
  part = copy.deepcopy(record)
  part["config"]["methods"] = [m for m in record["config"]["methods"] if m in methods]
  part["cells"] = [c for c in part["cells"] if c["labels"]["method"] in methods]
  return part


@pytest.fixture
def parts(tmp_path):
  with open(TABLE) as f:
    whole = json.load(f)
  a = _split(whole, ["cotrain", "uot_joint", "mmd", "real_only"])
  b = _split(whole, ["sim_only", "adda", "cfg_adda"])
  paths = []
  for name, part in (("a", a), ("b", b)):
    paths.append(str(tmp_path / f"{name}.json"))
    with open(paths[-1], "w") as f:
      json.dump(part, f)
  return whole, paths


def test_joined_parts_give_the_whole_tables_claims(parts, tmp_path):
  whole, paths = parts
  out = tmp_path / "joined"
  assert join_tables.main(["join_tables", str(out), *paths]) == 0
  with open(out / "method_table.json") as f:
    joined = json.load(f)
  assert joined["config"] == whole["config"]
  assert [c["cell"] for c in joined["cells"]] == [c["cell"] for c in whole["cells"]]
  # Recomputed over all seven methods: cfg_adda's best other and r(W2, success) need every cell.
  # The whole table's claims as this code computes them; the checked-in ones predate Holm, the
  # ceilings and the manipulation check, and every field they have is unchanged.
  recomputed = json.loads(json.dumps(join_tables.join([whole], [TABLE])[1]["claims"]))
  assert joined["claims"] == recomputed
  for key, entries in whole["claims"].items():
    assert [{k: e[k] for k in old} if isinstance(old, dict) else e
            for e, old in zip(recomputed[key], entries)] == entries, key
  assert (out / "method_table.md").read_text().count("| cfg_adda |") == 2
  assert (out / "method_table.png").stat().st_size > 0
  assert joined["wall_time_s"] == pytest.approx(sum(c["wall_time_s"] for c in whole["cells"]))


def test_claims_of_one_part_differ_from_the_whole(parts):
  """The test above would pass vacuously if the claims ignored the second table."""
  whole, paths = parts
  with open(paths[0]) as f:
    a = json.load(f)
  cfg, record = join_tables.join([a], paths[:1])
  assert record["claims"]["w2_vs_real_success"] != whole["claims"]["w2_vs_real_success"]


def test_refusals_write_nothing(parts, tmp_path, capsys):
  _, paths = parts
  with open(paths[1]) as f:
    b = json.load(f)
  other_seeds = dict(b, config=dict(b["config"], seed=5))
  same_cells = paths[0]
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps(other_seeds))
  not_a_table = tmp_path / "x.json"
  not_a_table.write_text("{}")
  for args, message in (([paths[0], str(bad)], "config differs in seed"),
                        ([paths[0], same_cells], "is in"),
                        ([paths[0], str(not_a_table)], "not a method_table.json"),
                        ([paths[0], str(tmp_path / "missing.json")], "cannot read"),
                        ([paths[0]], "at least two tables")):
    out = tmp_path / "out"
    assert join_tables.main(["join_tables", str(out), *args]) == 2, args
    assert message in capsys.readouterr().err, message
    assert not out.exists()
  taken = tmp_path / "taken"
  taken.mkdir()
  (taken / "keep").write_text("x")
  assert join_tables.main(["join_tables", str(taken), *paths]) == 2
  assert "refusing" in capsys.readouterr().err
  assert os.listdir(taken) == ["keep"]
