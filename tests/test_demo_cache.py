"""gdacot.data.demo_cache: a hit gives the generated demos bitwise, anything they depend on
misses, a damaged entry is generated anew, and a cache that cannot be written costs no run."""

import os

import jax
import numpy as np

from gdacot import machine
from gdacot.data import demo_cache, demos_key
from gdacot.envs import env_from_config
from gdacot.train.build import generate_demos_for
from gdacot.train.config import get_config


def _smoke():
  cfg = get_config("smoke")
  cfg.data.num_sim_demos, cfg.data.num_real_demos = 4, 2
  return cfg


class _Sized:
  """A stand-in mesh: the key reads only its size."""

  def __init__(self, size):
    self.size = size


def _demos(cfg, env):
  lines = []
  out = generate_demos_for(cfg, env, None, log=lines.append)
  return out, lines


def test_a_hit_is_bitwise_the_generated_demos_and_a_change_misses(tmp_path, monkeypatch):
  monkeypatch.setenv(demo_cache.ENV_VAR, str(tmp_path))
  cfg = _smoke()
  env = env_from_config(cfg)
  generated, lines = _demos(cfg, env)
  assert not any("demo cache" in line for line in lines)
  assert len(os.listdir(tmp_path)) == 2  # sim and real

  cached, lines = _demos(cfg, env)
  assert sum("from the demo cache" in line for line in lines) == 2
  for name in ("sim", "real"):
    assert cached[name].fingerprint() == generated[name].fingerprint()

  # What the demos depend on is in the key: the noise, the seed, a domain's field.
  for change in (lambda c: setattr(c.data, "expert_noise", 0.2), lambda c: setattr(c, "seed", 7),
                 lambda c: setattr(c.domains.real, "cube_mass", 2.0)):
    changed = _smoke()
    change(changed)
    assert (demo_cache.cache_key(changed, env, "real", demos_key(changed))
            != demo_cache.cache_key(cfg, env, "real", demos_key(cfg)))
  # So are XLA's flags: its codegen changes float rounding (test_compat's old run caught it).
  before = demo_cache.cache_key(cfg, env, "sim", demos_key(cfg))
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
  assert demo_cache.cache_key(cfg, env, "sim", demos_key(cfg)) != before
  # But not the CPU's device count: the mesh size is keyed itself (test_parallel's one- and
  # two-process runs share their demos this way).
  fusion = demo_cache.cache_key(cfg, env, "sim", demos_key(cfg))
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2 --xla_cpu_use_fusion_emitters=true")
  assert demo_cache.cache_key(cfg, env, "sim", demos_key(cfg)) == fusion
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
  assert demo_cache.cache_key(cfg, env, "sim", demos_key(cfg), mesh) == fusion
  assert demo_cache.cache_key(cfg, env, "sim", demos_key(cfg), _Sized(2)) != fusion
  # And the machine XLA generates code for: a node with other vector extensions rounds otherwise.
  before = demo_cache.cache_key(cfg, env, "sim", demos_key(cfg))
  with monkeypatch.context() as m:
    m.setattr(machine, "cpu_identity", lambda: {"cpu_model": "x", "cpu_vector_isa": ["avx", "avx2", "fma"]})
    assert demo_cache.cache_key(cfg, env, "sim", demos_key(cfg)) != before
  assert demo_cache.cache_key(cfg, env, "sim", demos_key(cfg)) == before
  # And JAX's own cheap-compile switch (JAX_DISABLE_MOST_OPTIMIZATIONS; tools.bench_render's test sets it).
  before, switch = demo_cache.cache_key(cfg, env, "sim", demos_key(cfg)), jax.config.read("jax_disable_most_optimizations")
  try:
    jax.config.update("jax_disable_most_optimizations", not switch)
    assert demo_cache.cache_key(cfg, env, "sim", demos_key(cfg)) != before
  finally:
    jax.config.update("jax_disable_most_optimizations", switch)


def test_a_damaged_entry_is_generated_anew(tmp_path, monkeypatch):
  monkeypatch.setenv(demo_cache.ENV_VAR, str(tmp_path))
  cfg = _smoke()
  env = env_from_config(cfg)
  generated, _ = _demos(cfg, env)
  for f in os.listdir(tmp_path):
    with open(tmp_path / f, "r+b") as fh:
      fh.truncate(100)
  again, lines = _demos(cfg, env)
  assert not any("demo cache" in line for line in lines)
  assert again["sim"].fingerprint() == generated["sim"].fingerprint()
  assert np.array_equal(np.asarray(again["real"].actions), np.asarray(generated["real"].actions))


def test_a_cache_that_cannot_be_written_warns_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
  blocker = tmp_path / "not_a_directory"
  blocker.write_text("a file where the cache directory should be")
  monkeypatch.setenv(demo_cache.ENV_VAR, str(blocker / "cache"))
  cfg = _smoke()
  env = env_from_config(cfg)
  out, _ = _demos(cfg, env)
  assert out["sim"].num_episodes == cfg.data.num_sim_demos and out["real"].num_episodes == cfg.data.num_real_demos
  err = capsys.readouterr().err
  assert err.count(f"warning: {demo_cache.ENV_VAR}=") == 2 and "the demos are used unsaved" in err
