"""A sweep's cells: each one cotrain config (a config variant plus field overrides), checked
before any work, and the command that trains it.

The experiment config carries the fields every sweep reads: num_seeds, seed (the first seed),
eval_pairs, cotrain_variant and cotrain_overrides ("FIELD=VALUE" strings set on every cell).
A cell's seeds all train in ONE program (`--config.num_seeds=S`, vmapped over seeds).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import sys

import ml_collections

from gdacot.cli_common import choice_problems

# The repository root: cells run `python -m experiments.cotrain` from here.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COTRAIN_CONFIG = os.path.join(ROOT, "experiments", "configs", "cotrain.py")
# cotrain fields the sweep sets on every cell from the experiment config.
_GRID_FIELDS = ("num_seeds", "seed", "eval.pairs")


def sweep_config(**fields) -> ml_collections.ConfigDict:
  """An experiment config with the fields every sweep reads, at their usual values, then
  `fields` (the experiment's own, and any of these it sets otherwise)."""
  c = ml_collections.ConfigDict()
  c.num_seeds = 5  # seeds seed .. seed + num_seeds - 1, trained in one program per cell
  c.seed = 0
  # sim:ood is the ceiling of transfer: what the policy does in the region only sim demos cover,
  # in the domain they come from. Without it a failure on real:ood cannot be told from a failure
  # to reach that region at all.
  c.eval_pairs = ("real:in", "real:ood", "sim:ood")
  c.cotrain_variant = ""  # cotrain config variants for every cell ("": the state benchmark), e.g. "diffusion"
  c.cotrain_overrides = ()  # "FIELD=VALUE" set on every cell, e.g. ("steps=3000", "eval.episodes=400")
  for name, value in fields.items():
    c[name] = value
  return c


class GridError(ValueError):
  """A bad experiment config, option or workdir: reported before any training, exit code 2."""


@dataclasses.dataclass(frozen=True)
class Cell:
  name: str  # the run's directory under WORKDIR/runs
  labels: dict  # its coordinates in the experiment, e.g. {"method": "cotrain", "w": 0.1}
  overrides: dict  # dotted cotrain field -> value, e.g. {"method": "cotrain", "w": 0.1}
  variant: str = ""  # cotrain config variant, e.g. "image,smoke"
  seed: int | None = None  # the cell's first seed, where cells differ in it (a demo draw each); else cfg.seed


def check_common(cfg) -> list[str]:
  """Problems with the fields every sweep reads (the modules add their own)."""
  problems = []
  if isinstance(cfg.num_seeds, bool) or not isinstance(cfg.num_seeds, int) or cfg.num_seeds < 1:
    problems.append(f"num_seeds must be a positive integer, got {cfg.num_seeds!r}")
  if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
    problems.append(f"seed (the first seed) must be an integer >= 0, got {cfg.seed!r}")
  if not tuple(cfg.eval_pairs):
    problems.append("eval_pairs is empty")
  for item in cfg.cotrain_overrides:
    key = item.split("=", 1)[0].strip()
    if "=" not in item or not key:
      problems.append(f"cotrain_overrides: {item!r} is not FIELD=VALUE")
    elif key in _GRID_FIELDS:
      problems.append(f"cotrain_overrides: {key} is set by the experiment config "
                      f"({'eval_pairs' if key == 'eval.pairs' else key}); set it there")
  return problems


def check_methods(methods) -> list[str]:
  """Problems with a sweep's `methods`: none, unknown or repeated ones."""
  from gdacot.align import METHODS  # pylint: disable=g-import-not-at-top
  return choice_problems("methods", methods, METHODS, "method")


def parse_overrides(items, variant: str = "") -> dict:
  """FIELD=VALUE strings -> {field: typed value}. A value is read as a Python literal unless the
  field holds a string (so --config.cotrain_overrides="('gap=physics','steps=300')" works)."""
  base = _cotrain_config(variant)
  out = {}
  for item in items:
    key, raw = (s.strip() for s in item.split("=", 1))
    try:
      current = _lookup(base, key)
    except KeyError as e:
      raise GridError(f"cotrain_overrides: {e.args[0]}") from None
    try:
      value = raw if isinstance(current, str) else ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      value = raw
    out[key] = value
  return out


def _cotrain_config(variant: str):
  from gdacot.train.config import get_config  # pylint: disable=g-import-not-at-top
  try:
    return get_config(variant)
  except ValueError as e:
    raise GridError(f"cotrain config variant {variant!r}: {e}") from None


def _lookup(cfg, key: str):
  """The value of dotted field `key`; KeyError naming it if the config has no such field."""
  node = cfg
  for part in key.split("."):
    if not hasattr(node, "keys") or part not in node:
      raise KeyError(f"the cotrain config has no field {key!r}")
    node = node[part]
  return node


def cell_overrides(cell: Cell, cfg) -> dict:
  """Everything a cell sets on its cotrain config: the experiment's overrides, the cell's own,
  and the seeds and evaluation pairs. The cell's own fields may not also be set by the user."""
  common = parse_overrides(cfg.cotrain_overrides, cell.variant)
  clash = sorted(set(common) & set(cell.overrides))
  if clash:
    raise GridError(f"cotrain_overrides set {', '.join(clash)}, which this experiment sets per cell; "
                    "use the experiment's own config field instead")
  return {**common, **cell.overrides, "num_seeds": cfg.num_seeds, "seed": cfg.seed if cell.seed is None else cell.seed,
          "eval.pairs": tuple(cfg.eval_pairs)}


def resolve(cell: Cell, cfg):
  """The cell's full cotrain config, checked as cotrain checks it (GridError naming the cell)."""
  from gdacot.train.config import ConfigError, validate_config  # pylint: disable=g-import-not-at-top
  c = _cotrain_config(cell.variant)
  for key, value in cell_overrides(cell, cfg).items():
    *path, leaf = key.split(".")
    try:
      _lookup(c, key)  # the field exists
      node = _lookup(c, ".".join(path)) if path else c
      node[leaf] = value
    except (KeyError, TypeError) as e:
      raise GridError(f"cell {cell.name}: {key}={value!r}: {e.args[0]}") from None
  try:
    validate_config(c)
  except ConfigError as e:
    raise GridError(f"cell {cell.name}: {e}") from None
  return c


def check_cells(name: str, cfg, cells: list[Cell]) -> None:
  """Every cell named once and its cotrain config valid, or GridError: before any work."""
  if not cells:
    raise GridError(f"{name}: the grid has no cells")
  names = [c.name for c in cells]
  if len(set(names)) != len(names):
    raise GridError(f"{name}: cell names repeat: {sorted({n for n in names if names.count(n) > 1})}")
  for cell in cells:
    resolve(cell, cfg)


def _flag(value) -> str:
  """A typed value as cotrain's config flags parse it back."""
  if isinstance(value, (tuple, list)):
    return repr(tuple(value))
  return value if isinstance(value, str) else repr(value)


def command(cell: Cell, cfg, run_dir: str) -> list[str]:
  """The cell's cotrain command line, to run from ROOT."""
  config = COTRAIN_CONFIG + (f":{cell.variant}" if cell.variant else "")
  return [sys.executable, "-m", "experiments.cotrain", f"--workdir={run_dir}", f"--config={config}",
          *(f"--config.{k}={_flag(v)}" for k, v in cell_overrides(cell, cfg).items())]
