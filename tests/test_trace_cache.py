"""gdacot.envs.batched's trace cache: a loaded program gives the exported one's results exactly
and the uncached ones to float rounding; whatever the program depends on misses; a damaged entry
is exported anew; the key is the same in another process."""

import subprocess
import sys
import types

import jax
import numpy as np
import pytest
from runs import ROOT, env_for_subprocess

from gdacot.data import make_expert_rollout
from gdacot.envs import PushCube, batched, make_domain


def _expert(env, batch_size=4):
  obs, actions, first = make_expert_rollout(env, batch_size, 0.1)(jax.random.PRNGKey(1), make_domain("real", "in"))
  return np.asarray(obs), np.asarray(actions), np.asarray(first)


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv(batched.ENV_VAR, str(tmp_path))
  monkeypatch.setattr(batched, "_LOADED", {})  # this process has loaded nothing yet
  return tmp_path


def test_a_loaded_program_is_the_exported_one_and_the_uncached_one_to_rounding(cache, monkeypatch):
  exported = _expert(PushCube())
  entries = sorted(p.name for p in cache.iterdir())
  assert len(entries) == 3  # the batched reset, expert and step

  # Another process: nothing loaded yet, and exporting would fail, so the entries are read.
  monkeypatch.setattr(batched, "_LOADED", {})
  with monkeypatch.context() as m:
    m.setattr(jax.export, "export", lambda *a, **k: pytest.fail("exported again"))
    loaded = _expert(PushCube())
  for a, b in zip(exported, loaded):
    np.testing.assert_array_equal(a, b)
  assert sorted(p.name for p in cache.iterdir()) == entries

  # Damaged entries (a run killed while writing cannot leave one, but a disk can) are exported anew.
  for entry in cache.iterdir():
    with open(entry, "r+b") as f:
      f.truncate(50)
  monkeypatch.setattr(batched, "_LOADED", {})
  again = _expert(PushCube())
  for a, b in zip(exported, again):
    np.testing.assert_array_equal(a, b)
  assert all(entry.stat().st_size > 1000 for entry in cache.iterdir())

  monkeypatch.delenv(batched.ENV_VAR)
  traced = _expert(PushCube())
  np.testing.assert_allclose(traced[0], exported[0], atol=1e-5)
  np.testing.assert_array_equal(traced[2], exported[2])  # the same episodes succeed at the same steps


def test_what_the_program_depends_on_is_in_the_key(cache):
  env = PushCube()
  spec = [jax.ShapeDtypeStruct((4, 2), np.uint32)]
  key = batched._entry_key(env, "reset", 4, ["[0]"], spec)
  assert batched._entry_key(PushCube(), "reset", 4, ["[0]"], spec) == key
  assert batched._entry_key(env, "reset", 2, ["[0]"], spec) != key  # another batch size
  assert batched._entry_key(env, "step", 4, ["[0]"], spec) != key
  assert batched._entry_key(env, "reset", 4, ["[0]"], [jax.ShapeDtypeStruct((4, 2), np.int32)]) != key
  same, fingerprint = PushCube(), batched.task_fingerprint(env)
  assert batched.task_fingerprint(same) == fingerprint
  assert batched.task_fingerprint(PushCube(max_delta=0.02)) != fingerprint  # a setting of the task
  assert batched.task_fingerprint(PushCube(horizon=60)) != fingerprint
  same.mj_model.body_mass[1] *= 2  # its MuJoCo model
  assert batched.task_fingerprint(same) != fingerprint
  # An attribute's value counts; an object that cannot be read back exactly is named by its
  # address, so it never matches another process's (nor another object).
  a, b = PushCube(), PushCube()
  a.helper, b.helper = (1, 2.5), (1, 2.5)
  assert batched.task_fingerprint(a) == batched.task_fingerprint(b)
  a.helper, b.helper = types.SimpleNamespace(x=1), types.SimpleNamespace(x=1)
  assert batched.task_fingerprint(a) != batched.task_fingerprint(b)
  # A mesh of several devices traces as usual: an exported program is pinned to one device.
  assert batched.Batched(env, 4, mesh=types.SimpleNamespace(size=2))._cache is None
  assert batched.Batched(env, 4, mesh=types.SimpleNamespace(size=1))._cache == str(cache)


def test_a_cache_that_cannot_be_written_warns_and_the_program_still_runs(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(batched, "_LOADED", {})
  not_a_directory = tmp_path / "file"
  not_a_directory.write_text("")
  specs = [jax.ShapeDtypeStruct((3,), np.float32)]
  exported, out_tree = batched._load_or_export(str(not_a_directory), "k", lambda x: (x + 1.0, {"y": x * 2.0}),
                                               jax.tree.structure((0,)), specs)
  (a, b) = jax.tree.unflatten(out_tree, exported.call(np.ones(3, np.float32)))
  np.testing.assert_array_equal(a, 2.0)
  np.testing.assert_array_equal(b["y"], 2.0)
  assert "cannot write" in capsys.readouterr().err and not_a_directory.read_text() == ""


def test_another_process_computes_the_same_task_fingerprint():
  code = "from gdacot.envs import PushCube, batched; print(batched.task_fingerprint(PushCube()))"
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env_for_subprocess(), capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split()[-1] == batched.task_fingerprint(PushCube())
