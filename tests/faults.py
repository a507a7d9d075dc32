"""Fault injection for the tests, kept out of gdacot: runs a command-line module in this process
with a fault armed.

  python tests/faults.py --kill_before_commit=STEP -m experiments.cotrain --workdir=... [its flags]

`--kill_before_commit=STEP`: SIGKILL the process once orbax has written every item of the
checkpoint STEP into its temporary directory, just before the rename that commits it: the
latest moment a save can be cut off, with all of its data on the disk.
"""

import asyncio
import os
import runpy
import signal
import sys


def kill_before_commit(step: int) -> None:
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top

  finalize = atomicity.AtomicRenameTemporaryPath.finalize

  async def finalize_or_die(self):
    if self.get_final().name == str(step):
      written = sorted(p.name for p in self.get().iterdir())
      print(f"fault: SIGKILL before committing checkpoint {step}; written to {self.get().name}: {written}",
            flush=True)
      os.kill(os.getpid(), signal.SIGKILL)
      await asyncio.sleep(60)  # never reached
    return await finalize(self)

  atomicity.AtomicRenameTemporaryPath.finalize = finalize_or_die


def main(argv: list[str]) -> None:
  split = argv.index("-m")
  faults, (module, *args) = argv[:split], argv[split + 1:]
  for fault in faults:
    name, _, value = fault.lstrip("-").partition("=")
    if name != "kill_before_commit":
      raise SystemExit(f"unknown fault {fault!r}")
    kill_before_commit(int(value))
  sys.argv = [module, *args]
  sys.path.insert(0, os.getcwd())
  runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  main(sys.argv[1:])
