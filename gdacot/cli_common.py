"""The small parts every command-line client of gdacot (tools/, experiments/, gdacot.sweep)
would otherwise write again: refused input as `error: ...` and exit 2, absl's app.run around
that, an --out file checked before the work and written after it, an experiment's
--config/--workdir main, a timed device call, a config file's variants, and a list of choices
checked against the known ones.

  BadInput                          a refusal of the command's input: `error: ...`, exit 2
  run(main, *bad_input)             absl's app.run; bad flags, BadInput and `bad_input` errors: exit 2
  refusals_exit(*bad_input)(main)   decorator: those errors -> `error: ...`, return 2
  check_out(path, overwrite)        an --out file that can be written (BadInput), before the work
  write_json_out(path, obj, overwrite)   then written atomically
  parse_own_flags(fv, argv, doc)    a tool's own FlagValues (tests import several tools)
  config_main(run_fn)               main of an experiment: --print_config, else run_fn(config, workdir)
  timed(fn)                         (fn() blocked until ready, seconds)
  variants(arg, known)              get_config(arg)'s comma-separated variants, each a known one
  choice_problems(field, values, known, item)   empty, unknown or repeated choices, as messages
"""

from __future__ import annotations

import functools
import os
import sys
import time

from absl import app, flags

from gdacot import io
from gdacot.cli import config_json, parse_flags
from gdacot.exit_codes import BAD_INPUT


class BadInput(ValueError):
  """Input a command refuses before doing its work: `error: ...` on stderr, exit 2."""


def refusals_exit(*bad_input: type[Exception]):
  """Decorates a main(argv): BadInput, the errors `bad_input`, a flag absl cannot parse and
  absl's UsageError (unexpected arguments) print `error: ...` on stderr and return 2."""

  def decorate(main):
    @functools.wraps(main)
    def guarded(argv):
      try:
        return main(argv)
      except (BadInput, flags.Error, app.UsageError, *bad_input) as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT

    return guarded

  return decorate


def run(main, *bad_input: type[Exception]) -> None:
  """`app.run(main)` where bad input of any kind (a flag, an argument, a `bad_input` error) ends
  in `error: ...` and exit 2, as gdacot's commands do; absl alone exits 1, a failure's code."""
  app.run(refusals_exit(*bad_input)(main), flags_parser=parse_flags)


def parse_own_flags(fv: flags.FlagValues, argv: list[str], doc: str) -> list[str]:
  """Parses `argv` into a tool's own FlagValues rather than absl's global FLAGS (so tests can
  import several tools): prints `doc` and the flags and exits 0 for --help; raises flags.Error
  (refusals_exit: exit 2) for a flag it cannot parse; returns the positional arguments."""
  if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv[1:]):
    print(doc + "\nFlags:\n" + fv.get_help(), flush=True)
    sys.exit(0)
  return fv(argv)


def check_out(path: str, overwrite: bool) -> None:
  """Refuses (BadInput) an --out file that exists without --overwrite, or that cannot be written:
  checked before the work, so a long run does not end in a refused write."""
  if os.path.exists(path) and not overwrite:
    raise BadInput(f"--out {path} exists; pass --overwrite to replace it")
  if os.path.isdir(path):
    raise BadInput(f"--out {path} is a directory")
  parent = os.path.dirname(path) or "."
  if not os.path.isdir(parent):
    raise BadInput(f"the directory of --out does not exist: {parent}")
  if not os.access(parent, os.W_OK):
    raise BadInput(f"the directory of --out is not writable: {parent}")


def write_json_out(path: str, obj: dict, overwrite: bool) -> None:
  """Writes --out atomically (gdacot.io), refusing one that appeared meanwhile unless --overwrite."""
  check_out(path, overwrite)
  try:
    io.write_json(path, obj, overwrite=overwrite)
  except FileExistsError:
    raise BadInput(f"--out {path} appeared while running; pass --overwrite to replace it") from None


def config_main(run_fn):
  """The main(argv) of an experiment with --config and --workdir (cli.define_print_config):
  --print_config prints the resolved config and stops; otherwise run_fn(config, workdir)."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if flags.FLAGS.print_config:
      print(config_json(flags.FLAGS.config))
      return
    run_fn(flags.FLAGS.config, flags.FLAGS.workdir)

  return main


def timed(fn):
  """(fn(), wall seconds) with the result blocked until ready: JAX dispatches asynchronously,
  so without the block the time would be the dispatch's."""
  import jax  # pylint: disable=g-import-not-at-top  (jax only for the timing tools)
  t0 = time.perf_counter()
  out = jax.block_until_ready(fn())
  return out, time.perf_counter() - t0


def variants(arg: str | None, known: tuple[str, ...]) -> set[str]:
  """The variants of a config file's `get_config(arg)`: comma-separated names, each in `known`
  (ValueError naming the others)."""
  names = {v for v in (arg or "").split(",") if v}
  unknown = sorted(names - set(known))
  if unknown:
    raise ValueError(f"unknown config variant(s) {unknown}; use {', '.join(known)}"
                     + (" (comma-separated)" if len(known) > 1 else ""))
  return names


def choice_problems(field: str, values, known, item: str) -> list[str]:
  """Problems with a config's list of named choices (`field`, e.g. methods): none chosen, an
  `item` not in `known` (listed in its order), or one chosen twice."""
  values = tuple(values)
  problems = [] if values else [f"{field} is empty: nothing to run"]
  problems += [f"unknown {item} {v!r}; known: {list(known)}" for v in values if v not in known]
  if len(set(values)) != len(values):
    problems.append(f"{field} repeat: {values}")
  return problems
