r"""Read throughput of every dataset format gdacot reads, with and without decoding images.

  python -m tools.bench_datasets --out=datasets.json [--repeats=3] [--workdir=/tmp/bench_datasets] [--size=32]

Times `gdacot.data.sources.load` (read, check and pad a whole split: what a run does before
training) and reports steps/s, best of --repeats, for the cases below; every case with images
is timed again as an image run loads it, decoded and resized to --size x --size (Pillow's
antialiased bilinear, gdacot/data/sources/images.py), its frames/s being decode + resize:
  - rlds: the Bridge sample (TFRecord, JPEG images; needs the [rlds] extra), state and action
    only, then also observation/image_0 (JPEG decoding);
  - lerobot: the LeRobot Bridge copy (parquet + AV1 mp4), without and with decoding the video;
  - lerobot (generated): the same 64x64 episodes written by gdacot's LeRobot writer (H.264);
  - robomimic: an HDF5 file written here (200 demos of 50 steps, 84x84 agentview images),
    low-dimensional keys only, then also the image key.
Datasets that are missing here are left out of the table with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time

from absl import app, flags

from gdacot import cli_common

_OUT = flags.DEFINE_string("out", None, "JSON file to write the table to (stdout too).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed loads per case; the best counts.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where to write the generated datasets (default: a temp dir).")
_SIZE = flags.DEFINE_integer("size", 32, "Side of the frames an image run resizes to (render.height/width).")

SHARED = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
BRIDGE = os.path.join(SHARED, "bridge_dataset", "1.0.0")
BRIDGE_LEROBOT = os.path.join(SHARED, "bridge_lerobot")


def _time(path, key_map, repeats: int, image_size=None) -> dict:
  from gdacot.data.sources import load  # pylint: disable=g-import-not-at-top
  best, data = float("inf"), None
  for _ in range(repeats):
    t0 = time.perf_counter()
    data = load(path, key_map, min_length=1, image_size=image_size)
    best = min(best, time.perf_counter() - t0)
  steps = data.demos.num_frames
  out = {"episodes": data.demos.num_episodes, "steps": steps, "seconds": round(best, 4),
         "steps_per_s": round(steps / best, 1)}
  if key_map.image_keys:  # every camera's frames decoded (and resized, with image_size)
    out["frames_per_s"] = round(steps * len(key_map.image_keys) / best, 1)
  return out


def _write_robomimic(path: str, demos: int = 200, length: int = 50, size: int = 84) -> None:
  import h5py  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  with h5py.File(path, "w") as f:
    data = f.create_group("data")
    data.attrs["total"] = demos * length
    data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {}})
    for i in range(demos):
      demo = data.create_group(f"demo_{i}")
      demo.attrs["num_samples"] = length
      demo["obs/robot0_eef_pos"] = rng.normal(size=(length, 3))
      demo["obs/robot0_joint_pos"] = rng.normal(size=(length, 7))
      demo["obs/agentview_image"] = rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)
      demo["actions"] = rng.uniform(-1, 1, (length, 7))


def run(workdir: str, repeats: int, size: int = 32) -> dict:
  import importlib.util  # pylint: disable=g-import-not-at-top

  import numpy as np  # pylint: disable=g-import-not-at-top

  from gdacot import machine  # pylint: disable=g-import-not-at-top
  from gdacot.data.sources import KeyMap, load  # pylint: disable=g-import-not-at-top
  from gdacot.data.sources.lerobot_write import write_lerobot  # pylint: disable=g-import-not-at-top

  cases, skipped = {}, {}
  if os.path.isdir(BRIDGE) and importlib.util.find_spec("tensorflow"):
    cases["rlds bridge (tfrecord), state+action"] = _time(BRIDGE, KeyMap(), repeats)
    cases["rlds bridge (tfrecord), + image_0 (JPEG decode)"] = _time(
        BRIDGE, KeyMap(image_keys=("observation/image_0",)), repeats)
    cases[f"rlds bridge (tfrecord), + image_0 (JPEG decode, resize to {size}x{size})"] = _time(
        BRIDGE, KeyMap(image_keys=("observation/image_0",)), repeats, (size, size))
  else:
    skipped["rlds bridge"] = f"needs {BRIDGE} and TensorFlow (the [rlds] extra)"
  camera = "observation.images.image_0"
  if os.path.isdir(BRIDGE_LEROBOT):
    cases["lerobot bridge copy (v3.0), state+action"] = _time(BRIDGE_LEROBOT, KeyMap(state_key="observation.state"),
                                                              repeats)
    cases["lerobot bridge copy (v3.0), + image_0 (AV1 decode)"] = _time(
        BRIDGE_LEROBOT, KeyMap(state_key="observation.state", image_keys=(camera,)), repeats)
    cases[f"lerobot bridge copy (v3.0), + image_0 (AV1 decode, resize to {size}x{size})"] = _time(
        BRIDGE_LEROBOT, KeyMap(state_key="observation.state", image_keys=(camera,)), repeats, (size, size))
    # The same episodes through gdacot's writer (H.264), many times over for a longer read.
    data = load(BRIDGE_LEROBOT, KeyMap(state_key="observation.state", image_keys=(camera,)))
    lengths = np.asarray(data.demos.lengths)
    cut = lambda x: [np.asarray(x[e % len(lengths), :lengths[e % len(lengths)]]) for e in range(200)]
    ours = os.path.join(workdir, "bridge_x8_h264")
    if not os.path.exists(ours):
      write_lerobot(ours, states=cut(data.demos.obs), actions=cut(data.demos.actions),
                    images={camera: cut(data.images[camera])}, tasks=["bridge"] * 200, fps=5)
    cases["lerobot written by gdacot (200 episodes), state+action"] = _time(
        ours, KeyMap(state_key="observation.state"), repeats)
    cases["lerobot written by gdacot (200 episodes), + image_0 (H.264 decode)"] = _time(
        ours, KeyMap(state_key="observation.state", image_keys=(camera,)), repeats)
    cases[f"lerobot written by gdacot (200 episodes), + image_0 (H.264 decode, resize to {size}x{size})"] = _time(
        ours, KeyMap(state_key="observation.state", image_keys=(camera,)), repeats, (size, size))
  else:
    skipped["lerobot bridge copy"] = f"needs {BRIDGE_LEROBOT}"
  h5 = os.path.join(workdir, "robomimic_200x50.hdf5")
  if not os.path.exists(h5):
    _write_robomimic(h5)
  low_dim = KeyMap(state_key="obs/robot0_joint_pos", action_key="actions", split="all")
  cases["robomimic hdf5 (200 demos), state+action"] = _time(h5, low_dim, repeats)
  cases["robomimic hdf5 (200 demos), + agentview_image 84x84 (uncompressed)"] = _time(
      h5, dataclasses.replace(low_dim, image_keys=("obs/agentview_image",)), repeats)
  cases[f"robomimic hdf5 (200 demos), + agentview_image 84x84 (resize to {size}x{size})"] = _time(
      h5, dataclasses.replace(low_dim, image_keys=("obs/agentview_image",)), repeats, (size, size))
  return {"what": "gdacot.data.sources.load of a whole split (read, check, pad), best of repeats",
          "repeats": repeats, "resize_to": [size, size], "cases": cases, "skipped": skipped, "machine": machine.describe()}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with contextlib.redirect_stdout(sys.stderr):  # import-time chatter (MJX, TensorFlow)
    if _WORKDIR.value:
      os.makedirs(_WORKDIR.value, exist_ok=True)
      out = run(_WORKDIR.value, _REPEATS.value, _SIZE.value)
    else:
      with tempfile.TemporaryDirectory() as tmp:
        out = run(tmp, _REPEATS.value, _SIZE.value)
  text = json.dumps(out, indent=2)
  print(text)
  if _OUT.value:
    with open(_OUT.value, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  cli_common.run(main)
