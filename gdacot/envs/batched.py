"""A task's reset, step and expert over a batch of episodes in one domain: what rollouts call.

The rollouts (gdacot.rollout, gdacot.data.demos) scan over time with these batched functions
inside. Batching (`jax.vmap`) re-runs a traced function's every operation through its batching
rules, anew in every process and for every batch size; with the Python tracing of MJX itself,
that cost a push_cube rollout 6-7 s of CPU and a lift rollout 12-15 s before anything ran.

Trace cache, opt-in: with the environment variable GDACOT_TRACE_CACHE set to a directory, each
batched function is exported once (`jax.export`: its traced, batched program as StableHLO) and
later processes load it instead of tracing it: a warm push_cube smoke run took 15 s instead of
22 s. An entry is found only under a key that holds everything the program depends on: the
task's class, its MjModel (MJB bytes), its MJX model's arrays and every other setting it holds,
the batch size, the arguments' shapes and dtypes, the source of gdacot and of the task's own
module, and the JAX and MuJoCo versions and settings. Any code change misses. With the cache,
every process runs the same exported program, found or made, so their results agree exactly;
against a process without it they agree to float rounding (XLA compiles the exported program
as a unit: push_cube's joint positions differed by 6e-8). A process whose mesh spans several
devices traces as usual: an exported program is pinned to its number of devices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import pickle
import sys

import jax
import mujoco
import numpy as np
from mujoco import mjx

from gdacot import code_identity, io
from gdacot.envs.base import State, Task

ENV_VAR = "GDACOT_TRACE_CACHE"
# What vmap maps of a State: every field but the domain, which all episodes of a batch share.
STATE_AXES = State(data=0, obs=0, success=0, t=0, domain=None, key=0)


def cache_dir() -> str | None:
  return os.environ.get(ENV_VAR) or None


class Batched:
  """`env`'s reset(keys, domain), step(states, actions) and expert_action(states) over
  `batch_size` episodes: keys (B, 2), a State whose fields but the domain lead with B, and
  actions (B, action_size). Call them inside a jitted rollout."""

  def __init__(self, env: Task, batch_size: int, mesh=None):
    self.env, self.batch_size = env, int(batch_size)
    self._fns = {
        "reset": jax.vmap(env.reset, in_axes=(0, None), out_axes=STATE_AXES),
        "step": jax.vmap(env.step, in_axes=(STATE_AXES, 0), out_axes=STATE_AXES),
        "expert_action": jax.vmap(env.expert_action, in_axes=(STATE_AXES,)),
    }
    self._cache = cache_dir() if mesh is None or mesh.size == 1 else None

  def reset(self, keys: jax.Array, domain) -> State:
    return self._call("reset", keys, domain)

  def step(self, states: State, actions: jax.Array) -> State:
    return self._call("step", states, actions)

  def expert_action(self, states: State) -> jax.Array:
    return self._call("expert_action", states)

  def _call(self, name: str, *args):
    if self._cache is None:
      return self._fns[name](*args)
    paths_and_leaves, in_tree = jax.tree_util.tree_flatten_with_path(args)
    paths = [jax.tree_util.keystr(p) for p, _ in paths_and_leaves]  # a treedef's text holds object ids
    leaves = [x for _, x in paths_and_leaves]
    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in map(jax.typeof, leaves)]
    key = _entry_key(self.env, name, self.batch_size, paths, specs)
    exported, out_tree = _load_or_export(self._cache, key, self._fns[name], in_tree, specs)
    return jax.tree.unflatten(out_tree, exported.call(*leaves))


# In this process: entries already loaded or exported, by key.
_LOADED: dict[str, tuple] = {}


def _load_or_export(directory: str, key: str, fn, in_tree, specs):
  """(exported, out_tree) under `key`: from this process, the directory, or exported now and
  written there. Always the exported program, found or made, so every process compiles the same
  program (and XLA's persistent cache finds it)."""
  if key in _LOADED:
    return _LOADED[key]
  path = os.path.join(directory, f"trace-{key}.pkl")
  try:
    with open(path, "rb") as f:
      blob, out_tree = pickle.load(f)
    entry = (jax.export.deserialize(blob), out_tree)
  except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError):
    entry = None  # missing or unreadable: exported again
  if entry is None:
    entry = _export(fn, in_tree, specs)
    try:
      os.makedirs(directory, exist_ok=True)
      io.write_bytes(path, pickle.dumps((entry[0].serialize(), entry[1])))  # atomic: parallel runs
    except OSError as e:  # a cache that cannot be written costs time, not the run
      print(f"warning: {ENV_VAR}={directory}: cannot write {os.path.basename(path)} ({e}); "
            "this process uses the program unsaved", file=sys.stderr, flush=True)
  _LOADED[key] = entry
  return entry


def _export(fn, in_tree, specs):
  """(exported, out_tree): `fn` on flat leaves, exported for the `specs`, and its output's tree."""
  captured = {}

  def flat(*leaves):
    out_leaves, captured["out_tree"] = jax.tree.flatten(fn(*jax.tree.unflatten(in_tree, leaves)))
    return out_leaves

  exported = jax.export.export(jax.jit(flat))(*specs)
  return exported, captured["out_tree"]


def _entry_key(env: Task, name: str, batch_size: int, paths, specs) -> str:
  task_file = inspect.getsourcefile(type(env))
  identity = {
      "function": name,
      "batch_size": batch_size,
      "args": [(p, s.shape, str(s.dtype), s.weak_type) for p, s in zip(paths, specs)],
      "task_class": f"{type(env).__module__}.{type(env).__qualname__}",
      "task": task_fingerprint(env),
      "code": code_identity.source_digest(*([task_file] if task_file else [])),
      **code_identity.platform(),
  }
  return hashlib.blake2b(json.dumps(identity, sort_keys=True, default=str).encode(), digest_size=20).hexdigest()


def task_fingerprint(env: Task) -> str:
  """A digest of everything a task object holds that its traced functions may read: its MjModel
  (as MJB bytes), its MJX model's arrays and structure, and every other attribute's value. An
  attribute this cannot read back exactly (an object without a value-based repr) names its
  memory address, so the key differs in every process: such a task is never found, not
  found wrongly."""
  digest = hashlib.blake2b(digest_size=20)
  for name, value in sorted(vars(env).items()):
    if name in ("reset", "step", "expert_action"):  # the jitted methods themselves
      continue
    digest.update(name.encode())
    if isinstance(value, mujoco.MjModel):
      buffer = np.empty(mujoco.mj_sizeModel(value), np.uint8)
      mujoco.mj_saveModel(value, None, buffer)
      digest.update(buffer.tobytes())
      continue
    leaves, tree = jax.tree.flatten(value)
    if not isinstance(value, mjx.Model):  # its static fields, derived from the MjModel, print object ids
      digest.update(str(tree).encode())
    for leaf in leaves:
      if isinstance(leaf, (np.ndarray, jax.Array, np.generic)):
        array = np.asarray(leaf)
        digest.update(f"{array.dtype}{array.shape}".encode() + np.ascontiguousarray(array).tobytes())
      elif dataclasses.is_dataclass(leaf) or isinstance(leaf, (int, float, str, bool, type(None))):
        digest.update(repr(leaf).encode())
      else:
        digest.update(f"{type(leaf).__qualname__}@{id(leaf)}".encode())
  return digest.hexdigest()
