r"""Where the test suite's CPU goes: every process's CPU time, and JAX's tracing, lowering and compiling per test file and program.

  python -m tools.suite_profile --out=suite_profile.json
  python -m tools.suite_profile --out=p.json -- tests/test_rollout.py -q -n 0
  python -m tools.suite_profile --summarise=suite_profile.json

Runs pytest (by default as CI does: `-q -n 2 --dist loadfile`; the arguments after `--` replace
them) with a hook that every Python process of the run loads (tools/suite_profile_hook, first on
PYTHONPATH; it replaces any other sitecustomize for the run): pytest's workers, the commands they
fork or start, and those commands' own children. Each process records, when it ends, its CPU time
and JAX's duration events by test and program: jaxpr tracing, lowering to MLIR, XLA compiles and
persistent-cache hits. A process killed by a signal records nothing. Prints where the CPU went
(processes by kind, compile and trace time by test file and by program) and writes every record
as JSON to --out (an existing file is refused). Exit code: pytest's, or 2 on a bad flag.

Arguments:
  --out=FILE.json        where to write the records and the summary (required to run)
  --summarise=FILE.json  print the summary of a profile written before, run nothing
  -h, --help             this text
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import time

from gdacot import io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOK = os.path.join(ROOT, "tools", "suite_profile_hook")
USAGE = "usage: python -m tools.suite_profile (--out=FILE.json [-- PYTEST_ARGS...] | --summarise=FILE.json)"
CI_ARGS = ("-q", "-n", "2", "--dist", "loadfile")


def run(out: str, pytest_args=CI_ARGS) -> int:
  """Runs pytest under the hook; writes {"command", "wall_s", "returncode", "processes"} to `out`."""
  with tempfile.TemporaryDirectory(prefix="gdacot-suite-profile-") as records:
    env = dict(os.environ, GDACOT_SUITE_PROFILE=records,
               PYTHONPATH=os.pathsep.join(p for p in (HOOK, os.environ.get("PYTHONPATH")) if p))
    command = [sys.executable, "-m", "pytest", *pytest_args]
    start = time.time()
    returncode = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    wall = time.time() - start
    processes = []
    for name in sorted(os.listdir(records)):
      with open(os.path.join(records, name)) as f:
        processes.append(json.load(f))
  profile = {"command": ["python", "-m", "pytest", *pytest_args], "wall_s": round(wall, 1), "returncode": returncode,
             "processes": processes}
  io.write_text(out, json.dumps(profile), overwrite=False)
  return returncode


def summarise(profile: dict, top: int = 15) -> str:
  """Markdown: the CPU of the processes by kind, and JAX's time by test file and by program."""
  kinds = collections.defaultdict(lambda: [0.0, 0])
  by_file = collections.defaultdict(collections.Counter)
  by_program = collections.defaultdict(lambda: [0.0, 0])
  events = collections.Counter()
  for p in profile["processes"]:
    kind = _kind(p)
    kinds[kind][0] += p["cpu_s"]
    kinds[kind][1] += 1
    for test, event, function, seconds, count in p["events"]:
      events[event] += seconds
      by_file[test.split("::")[0] or "(outside a test)"][event] += seconds
      if event == "backend_compile_duration":
        by_program[function][0] += seconds
        by_program[function][1] += count
  total_cpu = sum(c for c, _ in kinds.values())
  lines = [f"Wall {profile['wall_s']:.0f} s; CPU of the {len(profile['processes'])} processes that recorded: "
           f"{total_cpu:.0f} s (`{' '.join(profile['command'])}`, exit {profile['returncode']}).", "",
           "| processes | count | CPU s |", "|---|---:|---:|"]
  lines += [f"| {k} | {n} | {c:.0f} |" for k, (c, n) in sorted(kinds.items(), key=lambda kv: -kv[1][0])]
  lines += ["", "JAX's time in all processes (s): " + ", ".join(f"{e} {s:.0f}" for e, s in events.most_common()), "",
            "| test file | compile s | trace s | lower s | cache reads s |", "|---|---:|---:|---:|---:|"]
  files = sorted(by_file.items(), key=lambda kv: -kv[1]["backend_compile_duration"] - kv[1]["jaxpr_trace_duration"])
  for name, e in files[:top]:
    lines.append(f"| {name} | {e['backend_compile_duration']:.0f} | {e['jaxpr_trace_duration']:.0f} | "
                 f"{e['jaxpr_to_mlir_module_duration']:.0f} | {e['cache_retrieval_time_sec']:.0f} |")
  lines += ["", "| program compiled | compiles | compile s |", "|---|---:|---:|"]
  lines += [f"| {f} | {n} | {s:.0f} |" for f, (s, n) in sorted(by_program.items(), key=lambda kv: -kv[1][0])[:top]]
  return "\n".join(lines)


def _kind(process: dict) -> str:
  """'pytest worker', or how the command started ('forked' or 'fresh') and which module it ran."""
  argv = process["argv"]
  if process["pytest"]:
    return f"pytest {process['pytest']}"
  program = next((a for a in argv if not a.startswith("-")), argv[0] if argv else "?")
  program = os.path.relpath(program, ROOT) if os.path.isabs(program) else program
  return f"{'forked' if process['forked'] else 'fresh'}: {program}"


def main(argv: list[str]) -> int:
  if "-h" in argv or "--help" in argv:
    print(__doc__)
    return 0
  own, pytest_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, None)
  flags = dict(a[2:].split("=", 1) for a in own if a.startswith("--") and "=" in a)
  unknown = [a for a in own if not (a.startswith("--") and "=" in a) or a[2:].split("=", 1)[0] not in ("out", "summarise")]
  if unknown or len(flags) != 1:
    print(f"{USAGE}\nerror: {'unknown arguments ' + ' '.join(unknown) if unknown else 'give --out or --summarise'}",
          file=sys.stderr)
    return 2
  if "summarise" in flags:
    try:
      with open(flags["summarise"]) as f:
        print(summarise(json.load(f)))
    except (OSError, ValueError, KeyError, TypeError) as e:
      print(f"{USAGE}\nerror: --summarise={flags['summarise']} is not a profile this tool wrote ({e!r})", file=sys.stderr)
      return 2
    return 0
  if os.path.exists(flags["out"]):
    print(f"{USAGE}\nerror: --out={flags['out']} exists", file=sys.stderr)
    return 2
  returncode = run(flags["out"], pytest_args or CI_ARGS)
  with open(flags["out"]) as f:
    print(summarise(json.load(f)))
  return returncode


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
