"""Loaded by every Python process of a `tools.suite_profile` run (this folder is first on its
PYTHONPATH): records JAX's duration events (tracing, lowering, XLA compiles, persistent-cache
hits) per test and function, and writes them with the process's CPU time, when the process
ends, to $GDACOT_SUITE_PROFILE/<pid>-<time>.json. Does nothing without that variable."""

import atexit
import builtins
import collections
import json
import os
import resource
import sys
import time

_OUT = os.environ.get("GDACOT_SUITE_PROFILE")
_EVENTS = ("jaxpr_trace_duration", "jaxpr_to_mlir_module_duration", "backend_compile_duration",
           "cache_retrieval_time_sec", "compile_time_saved_sec")

if _OUT:
  _state = {"start": time.time(), "pid": os.getpid(), "hooked": False, "written": False}
  _totals = collections.defaultdict(lambda: [0.0, 0])  # (test, event, function) -> [seconds, count]

  def _listener(event, duration, **kwargs):
    name = event.rsplit("/", 1)[-1]
    if name in _EVENTS:
      test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
      total = _totals[(test, name, str(kwargs.get("fun_name", ""))[:60])]
      total[0] += duration
      total[1] += 1

  _import = builtins.__import__

  def _import_and_hook(name, *args, **kwargs):
    # JAX's monitoring module is hooked as soon as it exists: importing JAX here would cost every
    # process that never uses it.
    module = _import(name, *args, **kwargs)
    if not _state["hooked"] and name.startswith("jax"):
      monitoring = sys.modules.get("jax._src.monitoring")
      if monitoring is not None and hasattr(monitoring, "register_event_duration_secs_listener"):
        _state["hooked"] = True
        monitoring.register_event_duration_secs_listener(_listener)
    return module

  builtins.__import__ = _import_and_hook

  def _write():
    if _state["written"]:
      return
    _state["written"] = True
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = {"pid": os.getpid(), "forked": os.getpid() != _state["pid"], "argv": sys.argv[:4],
              "wall_s": time.time() - _state["start"], "cpu_s": usage.ru_utime + usage.ru_stime,
              # pytest's own processes: xdist's workers, and the one that started them
              "pytest": ("worker" if "PYTEST_XDIST_WORKER" in os.environ else "main")
                        if "_pytest.main" in sys.modules and os.getpid() == _state["pid"] else "",
              "events": [[*key, seconds, count] for key, (seconds, count) in _totals.items()]}
    try:
      with open(os.path.join(_OUT, f"{os.getpid()}-{time.time():.6f}.json"), "w") as f:
        json.dump(record, f)
    except OSError:
      pass  # a profile must never fail the process it watches

  atexit.register(_write)
  _exit = os._exit

  def _write_and_exit(code):  # pytest-xdist's workers end through os._exit, past atexit
    _write()
    _exit(code)

  os._exit = _write_and_exit

  def _after_fork():  # a forked command starts its own record
    _state.update(start=time.time(), written=False)
    _totals.clear()

  os.register_at_fork(after_in_child=_after_fork)
