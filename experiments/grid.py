"""The experiment modules' name for the grid engine, gdacot.sweep: `grid.X` is `gdacot.sweep.X`.

The engine (cells and their cotrain configs, the workdir claim, the executors local, slurm and
print, --collect, the summary, statistics and plots) lives in the library, gdacot/sweep/, so that
a sweep of a user's own package runs the same way; see its module doc.
"""

from gdacot.sweep import *  # noqa: F401,F403
from gdacot.sweep import __all__  # noqa: F401
