"""tools.bench: the CLI's smoke run, the host-POT alignment against the on-device one, and
the HLO collective counter."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from runs import module

from experiments.configs.cotrain import get_config
from gdacot.align import METHODS
from tools import bench
from tools import hlo
from tools.bench import BATCHES_ONLY, HOST_POT, IMAGE_NOTE, host_pot_align, host_pot_method


def test_smoke_cli_writes_every_section_and_refuses_an_existing_out(tmp_path):
  out = str(tmp_path / "bench.json")
  proc = module("tools.bench", "--smoke", "--repeats=1", f"--out={out}", timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  with open(out) as f:
    r = json.load(f)
  for key in ("train", "demos", "eval", "hlo", "device", "versions", "argv", "flags"):
    assert key in r, key
  assert r["image"] == IMAGE_NOTE
  assert r["argv"] == ["--smoke", "--repeats=1", f"--out={out}"]
  assert r["device"]["jax_backend"] == "cpu" and r["device"]["device_count"] >= 1
  assert r["versions"]["jax"] == jax.__version__ and r["versions"]["mujoco"]
  methods = r["train"]["methods"]
  assert set(methods) == {"uot_joint", "cotrain", BATCHES_ONLY, HOST_POT}
  # The OT-free variant trains on the OT batches' features, and reports no OT metrics.
  assert "ot_cost" in methods["uot_joint"]["last_chunk_metrics"]
  assert "ot_cost" not in methods[BATCHES_ONLY]["last_chunk_metrics"]
  assert methods[BATCHES_ONLY]["last_chunk_metrics"]["align_loss"] != 0
  for m in methods.values():
    assert m["steps_per_s"]["median"] > 0 and len(m["steps_per_s"]["all"]) == 1
    assert m["samples_per_s"] == pytest.approx(m["steps_per_s"]["median"] * r["train"]["batch_size"])
  assert r["train"]["ot_batch"] == 32 and r["train"]["pairing"] == "random"
  speedup = r["uot_vs_host_pot_speedup"]
  assert math.isfinite(speedup) and speedup > 0
  assert math.isfinite(r["ot_share"]) and r["ot_share"] < 1
  assert math.isfinite(r["ot_batches_share"]) and r["ot_batches_share"] < 1
  assert r["train"]["host_pot_check"]["relative_difference"] < 1e-2
  assert r["demos"]["mjx_expert"]["median"] > 0 and r["demos"]["c_mujoco"]["median"] > 0
  assert r["demos"]["mjx_over_c_mujoco"] > 0
  assert r["eval"]["episodes_per_s"]["median"] > 0
  assert r["hlo"]["collectives"]["total"]["count"] == 0  # one device
  assert "uot_joint_host_pot" in proc.stdout and "episodes/s" in proc.stdout  # the table
  assert "the OT batches' encoding" in proc.stdout

  before = os.path.getmtime(out)
  again = module("tools.bench", "--smoke", "--repeats=1", f"--out={out}", timeout=120)
  assert again.returncode == 2
  assert "error:" in again.stderr and "exists" in again.stderr
  assert os.path.getmtime(out) == before


def test_bad_flags_exit_2_with_an_error(tmp_path, capsys):
  out = str(tmp_path / "x.json")
  for bad in ("--repeats=0", "--methods=nope", "--methods=", "--sections=train,nope", "--ot_batch=abc",
              "--no_such_flag", f"--out={tmp_path / 'missing' / 'x.json'}",
              "--methods=uot_joint,uot_joint_dataset_images"):  # dataset images need --observation=image
    assert bench.main(["tools.bench", "--smoke", f"--out={out}", bad]) == 2, bad
    assert capsys.readouterr().err.startswith("error: "), bad
  assert bench.main(["tools.bench", "--smoke"]) == 2  # no --out
  assert "--out is required" in capsys.readouterr().err
  assert not os.listdir(tmp_path)


def _features(n=32, dim=16, seed=0):
  rng = np.random.default_rng(seed)
  z_sim = jnp.asarray(rng.normal(size=(n, dim)), jnp.float32)
  z_real = jnp.asarray(rng.normal(size=(n, dim)) + 0.5, jnp.float32)
  y_sim = jnp.asarray(rng.uniform(-1, 1, size=(n, 3)), jnp.float32)
  y_real = jnp.asarray(rng.uniform(-1, 1, size=(n, 3)), jnp.float32)
  return z_sim, z_real, y_sim, y_real


def test_host_pot_align_matches_on_device_uot_joint():
  cfg = get_config().align  # the benchmark's solver settings (epsilon, rho, iterations, threshold)
  args = _features()

  def loss_and_grad(align):
    fn = lambda z_sim, z_real: align(z_sim, z_real, args[2], args[3], cfg, None)
    (loss, metrics), grads = jax.jit(jax.value_and_grad(fn, argnums=(0, 1), has_aux=True))(args[0], args[1])
    return float(loss), jax.device_get(metrics), grads

  dev_loss, dev_m, dev_g = loss_and_grad(METHODS["uot_joint"].align)
  host_loss, host_m, host_g = loss_and_grad(host_pot_align)
  assert host_loss == pytest.approx(dev_loss, rel=1e-3)
  assert float(host_m["ot_mass"]) == pytest.approx(float(dev_m["ot_mass"]), rel=1e-3)
  assert set(host_m) == set(dev_m)
  for h, d in zip(host_g, dev_g):  # the plan is a constant: gradients reach the features through C
    np.testing.assert_allclose(np.asarray(h), np.asarray(d), rtol=1e-2, atol=1e-2 * float(jnp.abs(d).max()))

  method = host_pot_method()
  assert method.name == HOST_POT and method.align is host_pot_align
  assert method.weight == METHODS["uot_joint"].weight and not method.discriminator


_HLO = """HloModule jit_chunk, entry_computation_layout={(f32[8,64]{1,0})->f32[64,64]{1,0}}

%add (x: f32[], y: f32[]) -> f32[] {
  %x = f32[] parameter(0)
  %y = f32[] parameter(1)
  ROOT %add = f32[] add(f32[] %x, f32[] %y)
}

ENTRY %main (p0: f32[8,64]) -> f32[64,64] {
  %p0 = f32[8,64]{1,0} parameter(0)
  %all-gather.1 = f32[64,64]{1,0} all-gather(f32[8,64]{1,0} %p0), channel_id=1, replica_groups={{0,1,2,3,4,5,6,7}}, dimensions={0}
  %all-reduce.2 = f32[256]{0} all-reduce(f32[256]{0} %g), channel_id=2, replica_groups={{0,1}}, to_apply=%add
  %all-reduce-start.3 = f32[10]{0} all-reduce-start(f32[10]{0} %h), channel_id=3, to_apply=%add
  %all-reduce-done.3 = f32[10]{0} all-reduce-done(f32[10]{0} %all-reduce-start.3)
  %all-reduce.4 = (f32[4]{0}, bf16[8]{0}) all-reduce(f32[4]{0} %a, bf16[8]{0} %b), to_apply=%add
  %fusion.5 = f32[256]{0} fusion(f32[256]{0} %all-reduce.2), kind=kLoop, calls=%fused
  collective-permute.6 = s32[2]{0} collective-permute(s32[2]{0} %c), source_target_pairs={{0,1},{1,0}}
  %all-to-all.7 = f32[8,8]{1,0} all-to-all(f32[8,8]{1,0} %d), dimensions={0}
  ROOT %reduce-scatter.8 = f32[8]{0} reduce-scatter(f32[64]{0} %e), dimensions={0}, to_apply=%add
}
"""


def test_hlo_collectives_counts_ops_and_bytes():
  c = hlo.totals(_HLO)
  assert c["all-gather"] == {"count": 1, "bytes": 64 * 64 * 4}
  assert c["all-reduce"] == {"count": 3, "bytes": 256 * 4 + 10 * 4 + (4 * 4 + 8 * 2)}  # the async pair once
  assert c["collective-permute"] == {"count": 1, "bytes": 8}
  assert c["all-to-all"] == {"count": 1, "bytes": 256}
  assert c["reduce-scatter"] == {"count": 1, "bytes": 32}
  assert c["total"]["count"] == 7
  assert hlo.totals("HloModule empty")["total"] == {"count": 0, "bytes": 0}
