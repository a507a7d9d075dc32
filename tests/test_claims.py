"""experiments.claims recomputes issue 32's restated numbers from the checked-in JSON:
the ones the READMEs quote come out as quoted (a changed table or stats function shows here)."""



def test_every_section_runs_and_the_quoted_numbers_hold(capsys):
  from experiments import claims  # pylint: disable=g-import-not-at-top
  for section in claims.SECTIONS.values():
    section()
  out = capsys.readouterr().out
  assert out.count("\n") > 40
  # "lowest W2": ot_marginal, not uot_joint, on lift and pick_place.
  assert "lift: ot_marginal 1.86" in out and "pick_place: ot_marginal 2.05" in out
  # lift's 16-seed real/in difference does not survive Holm; the physics table's 14 tests neither.
  assert "Holm over real:in, real:ood: adjusted p = 0.0965, 0.147, reject at 0.05: [False, False]" in out
  assert "REJECTS" not in out
  assert "lift, the physics six, r(W2, real:ood): -0.85" in out
  assert "gains above +0.167 excluded" in out  # uot_joint - ot_marginal on lift
