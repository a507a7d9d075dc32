r"""Prints a dataset's episodes, steps and features as JSON, in any format gdacot reads.

  python -m tools.make_demos --task=push_cube --domain=real --region=in --episodes=5 --out_dir=data
  python -m tools.dataset_info data/push_cube_real_in/1.0.0                # RLDS (as make_demos wrote it)
  python -m tools.dataset_info path/to/bridge_lerobot --format=lerobot     # LeRobot v3.0 / v2.1
  python -m tools.dataset_info path/to/lift_ph.hdf5                        # robomimic HDF5

The format is detected from the path unless --format names one (rlds, lerobot, robomimic).
Per split: episodes, steps and the shortest and longest episode; every step and episode
feature with its shape, dtype and the format's kind of feature; plus the format's own facts
(an RLDS dataset's name and version; a LeRobot dataset's version, fps, robot type and video
keys; a robomimic file's total and env_args). TFRecord RLDS datasets need the `[rlds]` extra
(TensorFlow); LeRobot and robomimic need `[formats]`. Exit code 2 with `error: ...` when the
directory is not a readable dataset.

Arguments:
  PATH            the dataset: an RLDS version directory, a LeRobot root, a robomimic .hdf5 file
  --format=NAME   rlds | lerobot | robomimic (default: detected from PATH)
  -h, --help      this text
"""

from __future__ import annotations

import contextlib
import json
import sys

USAGE = "usage: python -m tools.dataset_info PATH [--format=NAME]"


def main(argv: list[str], usage: str = USAGE, doc: str = "") -> int:
  """`doc`: an alias's own docstring, shown above this one in --help."""
  if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv):
    print(doc + __doc__)
    return 0
  fmt = None
  args = []
  for arg in argv:
    if arg.startswith("--format="):
      fmt = arg.partition("=")[2]
    else:
      args.append(arg)
  if len(args) != 1 or args[0].startswith("-"):
    print(usage, file=sys.stderr)
    return 2
  # stdout is for the JSON only: import-time and reader chatter (MJX, TFDS) goes to stderr.
  with contextlib.redirect_stdout(sys.stderr):
    from gdacot.data.sources import DatasetError, summary  # pylint: disable=g-import-not-at-top
  try:
    with contextlib.redirect_stdout(sys.stderr):
      info = summary(args[0], fmt)
    print(json.dumps(info, indent=2))
  except DatasetError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
