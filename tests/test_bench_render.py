"""tools.bench_render: the CLI's smoke run writes both sections, an existing --out is refused,
bad flags exit 2 with an error."""

import json
import os

import pytest
from runs import module

from tools import bench_render


def test_smoke_cli_writes_both_sections(tmp_path):
  out = str(tmp_path / "bench_render.json")
  # The test checks the plumbing, not the speed: XLA's cheapest optimisation level halves the
  # compile time of the five MJX/train programs (~90 s -> ~55 s on a busy 2-core CPU).
  proc = module("tools.bench_render", "--smoke", "--repeats=2", f"--out={out}", timeout=300,
                JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  with open(out) as f:
    r = json.load(f)
  for key in ("render", "memory", "device", "versions", "argv", "flags", "timing", "host_load", "wall_s"):
    assert key in r, key
  assert r["flags"]["sizes"] == [16] and r["flags"]["batches"] == [8, 16]

  cells = r["render"]["cells"]
  assert [(c["size"], c["batch"]) for c in cells] == [(16, 8), (16, 16)]
  for c in cells:
    for kind in ("observation", "ray_only", "mjx_ray"):
      m = c[kind]
      assert "error" not in m, m
      assert m["median"] > 0 and m["min"] <= m["median"] <= m["max"] and len(m["all"]) == 2
      assert m["compile_s"] > 0 and m["unit"] == "frames/s"
    assert c["shading_cost"] == pytest.approx(c["ray_only"]["median"] / c["observation"]["median"])
    assert c["cast_over_mjx_ray"] == pytest.approx(c["ray_only"]["median"] / c["mjx_ray"]["median"])
  step = r["render"]["env_step"]
  assert step["batch"] == 16 and step["steps"] == 20
  assert step["state"]["median"] > 0 and step["image"]["16"]["median"] > 0
  assert step["image_vs_state_step_cost"]["16"] == pytest.approx(step["state"]["median"] /
                                                                 step["image"]["16"]["median"])

  mem = r["memory"]
  assert mem["sim_demos"] == 4 and mem["real_demos"] == 2 and mem["size"] == 16
  sim, real = mem["stored"]["sim"], mem["stored"]["real"]
  assert sim["episodes"] == 4 and real["episodes"] == 2
  assert sim["image_shape"] == [4, mem["horizon"], 16, 16, 3] and sim["image_dtype"] == "uint8"
  assert sim["image_bytes"] == 4 * mem["horizon"] * 16 * 16 * 3  # one byte per pixel and channel
  assert mem["dataset_bytes"] == sim["total_bytes"] + real["total_bytes"] > 0
  assert mem["generation"]["total_s"] > 0 and mem["train"]["step_s_median"] > 0 and mem["train"]["calls"] == 1
  assert mem["host_rss_bytes"]["peak_ru_maxrss"] > mem["dataset_bytes"]
  check = mem["gpu_80gb_check"]
  assert check["fits_in_80gb"] is True and check["total_bytes"] == check["dataset_bytes"] + check["peak_bytes"]
  assert "frames/s" in proc.stdout and "80 GB check" in proc.stdout  # the table


def test_existing_out_is_refused_and_left_untouched(tmp_path):
  out = tmp_path / "taken.json"
  out.write_text('{"keep": true}')
  before = os.path.getmtime(out)
  proc = module("tools.bench_render", "--smoke", f"--out={out}", timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.startswith("error: ") and "exists" in proc.stderr and "--overwrite" in proc.stderr
  assert out.read_text() == '{"keep": true}' and os.path.getmtime(out) == before


@pytest.mark.parametrize("bad, message", [
    ("--sizes=0", "--sizes must be positive integers"),
    ("--sizes=32,abc", "--sizes must be positive integers"),
    ("--batches=-4", "--batches must be positive integers"),
    ("--sections=render,nope", "unknown or no --sections ['nope']"),
    ("--sections=", "unknown or no --sections"),
    ("--repeats=0", "--repeats must be a positive integer"),
    ("--sim_demos=0", "--sim_demos must be a positive integer"),
    ("--size=abc", "--size"),
    ("--no_such_flag", "no_such_flag"),
])
def test_bad_flags_exit_2_with_an_error(tmp_path, capsys, bad, message):
  out = str(tmp_path / "x.json")
  assert bench_render.main(["tools.bench_render", "--smoke", f"--out={out}", bad]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and message in err, err
  assert not os.listdir(tmp_path)


def test_missing_or_unwritable_out_exits_2(tmp_path, capsys):
  assert bench_render.main(["tools.bench_render", "--smoke"]) == 2
  assert "--out is required" in capsys.readouterr().err
  assert bench_render.main(["tools.bench_render", f"--out={tmp_path / 'missing' / 'x.json'}"]) == 2
  assert "does not exist" in capsys.readouterr().err
