r"""Prints an RLDS dataset's episodes, steps and features as JSON.

  python -m tools.rlds_info ../shared/datasets/bridge_dataset/1.0.0

Per split: episodes, steps and the shortest and longest episode; every step and episode
feature with its shape, dtype and TFDS feature type. TFRecord datasets need the `[rlds]`
extra (TensorFlow); array_record datasets do not. Exit code 2 with `error: ...` when the
directory is not a readable RLDS dataset.
"""

from __future__ import annotations

import contextlib
import json
import sys


def main(argv: list[str]) -> int:
  if len(argv) != 1 or argv[0].startswith("-"):
    print("usage: python -m tools.rlds_info PATH", file=sys.stderr)
    return 2
  # stdout is for the JSON only: import-time and reader chatter (MJX, TFDS) goes to stderr.
  with contextlib.redirect_stdout(sys.stderr):
    from gdacot.data import DatasetError, dataset_summary  # pylint: disable=g-import-not-at-top
  try:
    with contextlib.redirect_stdout(sys.stderr):
      summary = dataset_summary(argv[0])
    print(json.dumps(summary, indent=2))
  except DatasetError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
