"""The console scripts of pyproject.toml: each is `python -m MODULE` under a short name.

  gdacot-train  = python -m experiments.cotrain       gdacot-eval  = python -m gdacot.evaluate
  gdacot-demos  = python -m tools.make_demos          gdacot-data  = python -m tools.dataset_info
  gdacot-serve  = python -m gdacot.serve          gdacot-table = python -m experiments.method_table

The module runs as `__main__` (runpy, as `python -m` does) rather than through an imported
`main`: absl lists a program's flags and purpose in --help from the main module, and flags
defined by an imported module would be missing from it.

Also the flags that every entry point taking --config shares: --print_config (the resolved
config as JSON, then exit) and --workdir, required unless --print_config is given.
"""

from __future__ import annotations

import json
import runpy
import sys

from absl import flags, logging

from gdacot.exit_codes import BAD_INPUT

COMMANDS = {
    "gdacot-train": "experiments.cotrain",
    "gdacot-eval": "gdacot.evaluate",
    "gdacot-demos": "tools.make_demos",
    "gdacot-data": "tools.dataset_info",
    "gdacot-serve": "gdacot.serve",
    "gdacot-table": "experiments.method_table",  # a sweep: --executor=local|slurm|print, --collect
}


def _run(module: str) -> None:
  runpy.run_module(module, run_name="__main__", alter_sys=True)
  sys.exit(0)  # a main that returns (rather than exiting) succeeded


def train() -> None:
  _run(COMMANDS["gdacot-train"])


def evaluate() -> None:
  _run(COMMANDS["gdacot-eval"])


def demos() -> None:
  _run(COMMANDS["gdacot-demos"])


def data() -> None:
  _run(COMMANDS["gdacot-data"])


def serve() -> None:
  _run(COMMANDS["gdacot-serve"])


def table() -> None:
  _run(COMMANDS["gdacot-table"])


def key_flags_of_main(*names: str) -> None:
  """Lists flags defined elsewhere (a shared helper's) in the main program's --help, which
  shows only the main module's own and key flags."""
  for name in names:
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])


def define_print_config(workdir_flag: str = "workdir") -> flags.FlagHolder:
  """--print_config, and `workdir_flag` required unless it is given (printing runs nothing, so
  it needs no directory). Call where the workdir flag is defined, instead of marking it required."""
  holder = flags.DEFINE_bool("print_config", False, "Print the resolved config (the file, its variant and "
                             "every --config.* override) as JSON and exit; nothing runs or is written.")
  flags.register_multi_flags_validator(
      [workdir_flag, "print_config"], lambda v: bool(v[workdir_flag]) or v["print_config"],
      message=f"flag --{workdir_flag} must have a value (or give --print_config)")
  key_flags_of_main("print_config")
  return holder


def config_json(cfg) -> str:
  """A ConfigDict as the JSON a run saves (config.json): tuples as lists, keys in order."""
  return json.dumps(cfg.to_dict(), indent=2, default=repr)


def print_resolved_config(cfg) -> int:
  """experiments.cotrain --print_config: the config as a run would save it (old key-map names
  moved, checked), or `error: ...` and 2 when the run would refuse it."""
  from gdacot.data.sources.config import apply_legacy_rlds  # pylint: disable=g-import-not-at-top
  from gdacot.train.config import ConfigError, validate_config  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)  # JAX logs its backend search at INFO when the check starts it
  apply_legacy_rlds(cfg)
  try:
    validate_config(cfg)
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(config_json(cfg))
  return 0


def config_fields_help(config_file: str) -> str:
  """Every field of a config file's default config with its default, for --help."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location("_config_for_help", config_file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  lines = ["", "Config fields (--config.FIELD=VALUE; defaults of the default config, see "
           "--print_config for a variant's):"]

  def walk(d: dict, prefix: str) -> None:
    for k, v in d.items():
      if isinstance(v, dict) and v:
        walk(v, f"{prefix}{k}.")
      else:
        lines.append(f"  {prefix}{k}={v!r}")

  walk(module.get_config().to_dict(), "")
  return "\n".join(lines) + "\n"


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing (`app.run(main, flags_parser=parse_flags)`), where a flag it cannot
  parse (unknown, a bad value, a config field that does not exist) ends in `error: ...` and exit
  2, bad input (gdacot.exit_codes), instead of absl's exit 1, which a run keeps for failures."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f"error: {e}\nPass --help for the flags.", file=sys.stderr)
  except (AttributeError, KeyError, TypeError) as e:  # ml_collections, overriding a --config.FIELD
    print(f"error: a --config.FIELD override does not fit the config ({type(e).__name__}: {e}); "
          "--print_config lists the fields and their values", file=sys.stderr)
  sys.exit(BAD_INPUT)
