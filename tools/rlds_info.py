r"""The old name of tools.dataset_info, kept for the commands already written down.

  python -m tools.rlds_info data/push_cube_real_in/1.0.0
"""

from __future__ import annotations

import sys

from tools.dataset_info import main

if __name__ == "__main__":
  sys.exit(main(sys.argv[1:], usage="usage: python -m tools.rlds_info PATH [--format=NAME]", doc=__doc__))
