"""The co-training config's single-field rules are one table (gdacot.train.config.RULES): every
field has a rule, or is checked as code with other fields, or is free; a broken rule is reported
with every other problem in one message."""

import pytest

from gdacot.train.config import CHECKED_IN_CODE, FREE, RULES, ConfigError, get_config, validate_config


def _leaves(d: dict, prefix: str = "") -> list[str]:
  out = []
  for k, v in d.items():
    out += _leaves(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [prefix + k]
  return out


def _covered(field: str, names) -> bool:
  return any(field == n or field.startswith(n + ".") for n in names)


@pytest.mark.parametrize("variant", [None, "image,diffusion", "lift,flow"])
def test_every_field_has_a_rule_or_is_marked_code_checked_or_free(variant):
  fields = _leaves(get_config(variant).to_dict())
  listed = (*RULES, *CHECKED_IN_CODE, *FREE)
  assert [f for f in fields if not _covered(f, listed)] == []
  assert len(set(listed)) == len(listed), "a field is listed twice"
  # No stale names: each listed name is a field (or block) of the config.
  assert [n for n in listed if not any(_covered(f, [n]) for f in fields)] == []


def test_the_defaults_keep_every_rule_and_a_wrong_type_breaks_it():
  cfg = get_config("image,diffusion")
  for field, rule in RULES.items():
    node = cfg
    for part in field.split("."):
      node = node[part]
    assert rule(field, node) is None, field
    assert rule(field, None) is not None, field  # refused, not a TypeError


def test_broken_rules_are_collected_with_the_cross_field_problems():
  cfg = get_config("smoke")
  cfg.w, cfg.align.epsilon, cfg.model.head = 1.5, -1.0, "transformer"
  cfg.execute = cfg.chunk + 1  # cross-field, checked as code
  with pytest.raises(ConfigError) as e:
    validate_config(cfg)
  lines = str(e.value).splitlines()
  assert lines[0] == "invalid config:"
  assert "  - w (share of real samples per BC batch) must be in [0, 1], got 1.5" in lines
  assert "  - align.epsilon must be positive, got -1.0" in lines
  assert any(line.startswith("  - unknown head 'transformer'; known: [") for line in lines)
  assert any(line.startswith("  - execute must be in [1, chunk=") for line in lines)
