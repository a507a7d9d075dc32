"""LeRobot datasets (gdacot.data.sources.lerobot, lerobot_write): the Bridge copy LeRobot's own
writer made agrees with the RLDS Bridge sample, generated demos round-trip through
`tools.make_demos --format=lerobot`, the v2.1 layout reads, and every kind of bad LeRobot
dataset is refused naming the dataset, the episode and the field."""

import glob
import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from gdacot.data.sources import DatasetError, KeyMap, load, summary
from gdacot.data.sources.lerobot_write import write_lerobot
from gdacot.data.sources.video import write_mp4
from test_rlds import BRIDGE, BRIDGE_LEROBOT, needs_bridge, needs_bridge_lerobot, needs_tf
from tools import dataset_info


STATE, CAMERA = "observation.state", "observation.images.camera"
FRONT = "observation.images.front"  # the camera make_demos writes for push_cube
LEROBOT_KEYS = KeyMap(state_key=STATE, image_keys=(CAMERA,))
# Mean absolute error (0-255 scale) that H.264 (crf 18, yuv420p) stays under. Measured: 3.3 on the
# generated 16x16 camera frames (episodes 3.1 to 3.6), 4.3 on the synthetic frames below (a
# saturated square on a gradient). At these tiny sizes most of it is yuv420p's halved chroma
# resolution at colour edges.
H264_MAE = 4.5
SYNTHETIC_MAE = 6.0


# --- The Bridge copy (written by LeRobot 0.4.4, AV1 video) against the RLDS sample. ---------


@needs_tf
@needs_bridge
@needs_bridge_lerobot
def test_bridge_lerobot_copy_equals_the_rlds_episodes():
  camera = "observation.images.image_0"
  lerobot = load(BRIDGE_LEROBOT, KeyMap(state_key=STATE, image_keys=(camera,)), min_length=8)
  rlds = load(BRIDGE, KeyMap(image_keys=("observation/image_0",)), min_length=8)
  assert lerobot.format == "lerobot" and lerobot.file_format == "parquet+mp4" and lerobot.demos.num_episodes == 25
  # States and actions are the same float32 numbers, episode by episode.
  np.testing.assert_array_equal(np.asarray(lerobot.demos.lengths), np.asarray(rlds.demos.lengths))
  np.testing.assert_array_equal(np.asarray(lerobot.demos.obs), np.asarray(rlds.demos.obs))
  np.testing.assert_array_equal(np.asarray(lerobot.demos.actions), np.asarray(rlds.demos.actions))
  # Images: AV1 frames against JPEG frames. Measured: mean absolute error 4.14 (0-255 scale),
  # worst episode 4.51. Frames matched one row off give 5.8: the bound tells them apart.
  a = lerobot.images[camera].astype(np.float64)
  b = rlds.images["observation/image_0"].astype(np.float64)
  per_episode = np.abs(a - b).mean(axis=(1, 2, 3, 4))
  assert np.abs(a - b).mean() < 5.0 and per_episode.max() < 5.0, per_episode
  assert np.abs(a[:, 1:] - b[:, :-1]).mean() > 5.5  # one row off
  assert {m["task"] for m in lerobot.metadata} >= {"put cup from counter or drying rack into sink"}


@needs_bridge_lerobot
def test_dataset_info_describes_the_lerobot_copy(capsys):
  assert dataset_info.main([BRIDGE_LEROBOT]) == 0
  info = json.loads(capsys.readouterr().out)
  assert info["format"] == "lerobot" and info["version"] == "v3.0" and info["fps"] == 5.0
  assert info["splits"] == {"train": {"episodes": 25, "steps": 250, "episode_length": {"min": 10, "max": 10}}}
  steps = info["features"]["steps"]
  assert steps[STATE] == {"shape": [7], "dtype": "float32", "feature": "column"}
  assert steps["observation.images.image_0"] == {"shape": [64, 64, 3], "dtype": "uint8", "feature": "video"}


# --- Generated demos through make_demos --format=lerobot and back. --------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
  """Image demos generated in MJX and written by tools.make_demos --format=lerobot: 8 episodes
  at a batch of 8, the program of the image smoke run's demos."""
  from tools.make_demos import make_demos
  out = tmp_path_factory.mktemp("made")
  summary_, demos = make_demos("push_cube", "sim", "in", 8, str(out), batch=8, format="lerobot",
                               observation="image", height=16, width=16)
  return summary_["path"], demos


def test_generated_demos_round_trip_through_make_demos(generated):
  path, demos = generated
  back = load(path, KeyMap(state_key=STATE, image_keys=(FRONT,)), min_length=8)
  lengths = np.asarray(demos.lengths)
  np.testing.assert_array_equal(np.asarray(back.demos.lengths), lengths)
  for e, n in enumerate(lengths):  # valid frames: exactly the same float32 numbers
    np.testing.assert_array_equal(np.asarray(back.demos.obs[e, :n]), np.asarray(demos.obs["state"][e, :n]))
    np.testing.assert_array_equal(np.asarray(back.demos.actions[e, :n]), np.asarray(demos.actions[e, :n]))
    images = back.images[FRONT][e, :n].astype(np.float64)
    want = np.asarray(demos.obs["image"][e, :n, ..., :3]).astype(np.float64)
    mae = np.abs(images - want).mean()
    assert mae < H264_MAE, f"episode {e}: mean absolute error {mae:.2f}"
  assert back.task == "push_cube" and back.metadata[0]["region"] == "in" and back.metadata[0]["domain"] == "sim"
  with open(os.path.join(path, "meta", "info.json")) as f:
    info = json.load(f)
  assert info["codebase_version"] == "v3.0" and info["fps"] == 50 and info["total_episodes"] == 8
  assert info["features"][FRONT]["dtype"] == "video" and info["features"][FRONT]["shape"] == [16, 16, 3]
  with open(os.path.join(path, "meta", "stats.json")) as f:
    stats = json.load(f)
  valid = np.concatenate([np.asarray(demos.actions[e, :n]) for e, n in enumerate(lengths)])
  np.testing.assert_allclose(stats["action"]["mean"], valid.mean(0), rtol=1e-5, atol=1e-6)
  assert stats["action"]["count"] == [int(lengths.sum())] and len(stats[FRONT]["mean"]) == 3
  tasks = pq.read_table(os.path.join(path, "meta", "tasks.parquet")).to_pylist()
  assert tasks == [{"task_index": 0, "__index_level_0__": "push_cube"}]
  with pytest.raises(DatasetError, match="exists; writing never overwrites"):
    write_lerobot(path, states=[np.zeros((2, 3))], actions=[np.zeros((2, 3))], tasks=["t"], fps=10)


# --- Small written datasets: chunked files, v2.1, and every bad input. ----------------------


def _episodes(num=3, length=10, seed=0, size=16):
  rng = np.random.default_rng(seed)
  states = [rng.normal(size=(length, 4)).astype(np.float32) for _ in range(num)]
  actions = [rng.normal(size=(length, 2)).astype(np.float32) for _ in range(num)]
  # Smooth images (a gradient plus a moving square) compress well, as camera frames do.
  ramp = np.linspace(0, 200, size, dtype=np.float32)
  images = []
  for e in range(num):
    frames = np.broadcast_to(ramp[None, :, None, None], (length, size, size, 3)).copy()
    for t in range(length):
      frames[t, 2 + t % 8: 6 + t % 8, 4:8] = [250, 40 * e, 20]
    images.append(frames.astype(np.uint8))
  return states, actions, images


@pytest.fixture(scope="module")
def small(tmp_path_factory):
  """A 3-episode LeRobot v3.0 dataset, 10 steps each, one 16x16 camera, one episode per file
  and two files per chunk (so chunk-000 and chunk-001 directories)."""
  states, actions, images = _episodes()
  path = str(tmp_path_factory.mktemp("small") / "ds")
  write_lerobot(path, states=states, actions=actions, images={CAMERA: images}, tasks=["a", "b", "a"], fps=10,
                episodes_per_file=1, chunks_size=2)
  return path, (states, actions, images)


def _copy(small, tmp_path):
  path = str(tmp_path / "ds")
  shutil.copytree(small[0], path)
  return path


@needs_bridge_lerobot
def test_the_written_layout_is_lerobots_own(small):
  """Every column of meta/episodes (per-camera video spans, per-episode stats of every feature),
  of the data files and every info.json feature field, with the types LeRobot 0.4.4 wrote for
  the Bridge copy, so LeRobot's own LeRobotDataset finds what it reads."""
  def schema(path, part, camera):
    table = pq.read_table(sorted(glob.glob(os.path.join(path, part, "*", "*.parquet")))[0])
    return {f.name.replace(camera, "CAMERA"): str(f.type) for f in table.schema if not f.name.startswith("gdacot/")}

  theirs, ours = BRIDGE_LEROBOT, small[0]
  for part in ("meta/episodes", "data"):
    want = schema(theirs, part, "observation.images.image_0")
    got = schema(ours, part, CAMERA)
    if part == "data":  # the state and action sizes differ from Bridge's 7
      want = {k: v.split("[")[0] for k, v in want.items()}
      got = {k: v.split("[")[0] for k, v in got.items()}
    assert got == want, part
  with open(os.path.join(theirs, "meta", "info.json")) as f:
    info_theirs = json.load(f)
  with open(os.path.join(ours, "meta", "info.json")) as f:
    info_ours = json.load(f)
  assert set(info_ours) == set(info_theirs)
  camera_theirs, camera_ours = info_theirs["features"]["observation.images.image_0"], info_ours["features"][CAMERA]
  assert set(camera_ours) == set(camera_theirs) and set(camera_ours["info"]) == set(camera_theirs["info"])
  assert camera_ours["info"]["video.codec"] == "h264"  # the codec's name, as LeRobot records it (not the encoder's)
  with open(os.path.join(ours, "meta", "stats.json")) as f:
    stats = json.load(f)
  assert set(stats) == set(info_ours["features"]) and stats["frame_index"]["min"] == [0]


def test_chunked_files_with_one_episode_each_read_in_order(small):
  path, (states, actions, images) = small
  assert os.path.isdir(os.path.join(path, "data", "chunk-001"))
  data = load(path, LEROBOT_KEYS, min_length=8)
  np.testing.assert_array_equal(np.asarray(data.demos.obs), np.stack(states))
  np.testing.assert_array_equal(np.asarray(data.demos.actions), np.stack(actions))
  assert np.abs(data.images[CAMERA].astype(float) - np.stack(images)).mean() < SYNTHETIC_MAE
  assert [m["task"] for m in data.metadata] == ["a", "b", "a"]
  assert load(path, KeyMap(state_key=STATE, max_episodes=2), min_length=8).demos.num_episodes == 2


def test_several_episodes_per_video_file_match_frames_by_timestamp(tmp_path):
  states, actions, images = _episodes(num=5, seed=1)
  path = write_lerobot(str(tmp_path / "ds"), states=states, actions=actions, images={CAMERA: images},
                       tasks=["a"] * 5, fps=10, episodes_per_file=3)
  data = load(path, LEROBOT_KEYS, min_length=8)
  got, want = data.images[CAMERA].astype(float), np.stack(images).astype(float)
  assert np.abs(got - want).mean() < SYNTHETIC_MAE
  # Episode 3 starts the second file: each episode's frames are its own, not its neighbour's.
  for e in range(5):
    own = np.abs(got[e] - want[e]).mean()
    assert all(own < np.abs(got[e] - want[o]).mean() for o in range(5) if o != e)


def _to_v21(v3_path, out):
  """The same episodes in LeRobot's v2.1 layout: one parquet and one mp4 per episode, jsonl metadata."""
  os.makedirs(os.path.join(out, "meta"))
  with open(os.path.join(v3_path, "meta", "info.json")) as f:
    info = json.load(f)
  info.update(codebase_version="v2.1",
              data_path="data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
              video_path="videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4")
  with open(os.path.join(out, "meta", "info.json"), "w") as f:
    json.dump(info, f)
  data = load(v3_path, LEROBOT_KEYS, min_length=1)
  chunk = lambda e: e // info["chunks_size"]
  table = pa.concat_tables([pq.read_table(p) for p in sorted(
      os.path.join(d, f) for d, _, fs in os.walk(os.path.join(v3_path, "data")) for f in fs)])
  with open(os.path.join(out, "meta", "episodes.jsonl"), "w") as f:
    for e in range(data.demos.num_episodes):
      f.write(json.dumps({"episode_index": e, "tasks": [data.metadata[e]["task"]], "length": 10}) + "\n")
      rows = table.filter(pa.compute.equal(table.column("episode_index"), e))
      rows = rows.set_column(rows.schema.get_field_index("timestamp"), "timestamp",
                             pa.array(np.arange(10, dtype=np.float32) / 10))
      os.makedirs(os.path.join(out, "data", f"chunk-{chunk(e):03d}"), exist_ok=True)
      pq.write_table(rows, os.path.join(out, "data", f"chunk-{chunk(e):03d}", f"episode_{e:06d}.parquet"))
      video = os.path.join(out, "videos", f"chunk-{chunk(e):03d}", CAMERA, f"episode_{e:06d}.mp4")
      os.makedirs(os.path.dirname(video), exist_ok=True)
      write_mp4(video, data.images[CAMERA][e], 10)
  return out


def test_v21_layout_reads_the_same_episodes(small, tmp_path):
  v21 = _to_v21(small[0], str(tmp_path / "v21"))
  a, b = load(small[0], LEROBOT_KEYS, min_length=8), load(v21, LEROBOT_KEYS, min_length=8)
  assert summary(v21)["version"] == "v2.1"
  np.testing.assert_array_equal(np.asarray(a.demos.obs), np.asarray(b.demos.obs))
  np.testing.assert_array_equal(np.asarray(a.demos.actions), np.asarray(b.demos.actions))
  assert np.abs(a.images[CAMERA].astype(float) - b.images[CAMERA]).mean() < SYNTHETIC_MAE  # re-encoded once more
  assert [m["task"] for m in b.metadata] == ["a", "b", "a"]


def _rewrite(path, file, change):
  """Rewrites one parquet file of the dataset with `change(table) -> table`."""
  full = os.path.join(path, file)
  pq.write_table(change(pq.read_table(full)), full)


def _set(table, name, values):
  field = table.schema.field(name)
  return table.set_column(table.schema.get_field_index(name), field, pa.array(values, field.type))


def _refused(path, match, key_map=LEROBOT_KEYS, min_length=8):
  with pytest.raises(DatasetError, match=match) as e:
    load(path, key_map, min_length=min_length)
  assert path in str(e.value)  # every message names the dataset
  return str(e.value)


EPISODE_1 = "data/chunk-000/file-001.parquet"  # one episode per file in `small`


def test_missing_key_is_refused_listing_the_fields_present(small):
  msg = _refused(small[0], r"missing field 'observation/state'", KeyMap())
  assert "'observation.state'" in msg and "'action'" in msg and CAMERA in msg


def test_nan_in_actions_is_refused_naming_episode_field_and_step(small, tmp_path):
  path = _copy(small, tmp_path)
  actions = np.stack(small[1][1][1])
  actions[4, 1] = np.nan
  _rewrite(path, EPISODE_1, lambda t: _set(t, "action", list(actions)))
  _refused(path, r"episode 1, field 'action': NaN at step 4")


def test_inf_in_states_is_refused(small, tmp_path):
  path = _copy(small, tmp_path)
  states = np.stack(small[1][0][1])
  states[7, 0] = np.inf
  _rewrite(path, EPISODE_1, lambda t: _set(t, STATE, list(states)))
  _refused(path, r"episode 1, field 'observation.state': Inf at step 7")


def test_column_of_another_size_than_info_json_declares_is_refused(small, tmp_path):
  path = _copy(small, tmp_path)
  narrow = [s[:3] for s in small[1][0][1]]
  _rewrite(path, EPISODE_1, lambda t: t.set_column(t.schema.get_field_index(STATE), STATE,
                                                   pa.array([list(map(float, s)) for s in narrow],
                                                            pa.list_(pa.float32(), 3))))
  _refused(path, r"episode 1, field 'observation.state': rows of shape \[3\], but meta/info.json declares \[4\]")


def test_integer_actions_do_not_fit_the_policy(small, tmp_path):
  path = _copy(small, tmp_path)
  with open(os.path.join(path, "meta", "info.json")) as f:
    info = json.load(f)
  info["features"]["action"]["dtype"] = "int64"
  with open(os.path.join(path, "meta", "info.json"), "w") as f:
    json.dump(info, f)
  _refused(path, r"episode 0, field 'action': dtype int64 does not fit the policy")


def test_empty_and_too_short_episodes_are_refused(tmp_path):
  states, actions, _ = _episodes(num=2)
  path = write_lerobot(str(tmp_path / "short"), states=[states[0], states[1][:5]],
                       actions=[actions[0], actions[1][:5]], tasks=["a", "a"], fps=10)
  _refused(path, r"episode 1 has 5 steps, fewer than the action chunk \(8\)", KeyMap(state_key=STATE))
  path = write_lerobot(str(tmp_path / "empty"), states=[states[0], states[1][:0]],
                       actions=[actions[0], actions[1][:0]], tasks=["a", "a"], fps=10)
  _refused(path, r"episode 1 is empty \(0 steps\)", KeyMap(state_key=STATE))


def test_video_shorter_than_its_parquet_rows_is_refused(small, tmp_path):
  path = _copy(small, tmp_path)
  video = os.path.join(path, "videos", CAMERA, "chunk-000", "file-001.mp4")
  os.remove(video)
  write_mp4(video, small[1][2][1][:7], 10)  # 7 of the episode's 10 frames
  msg = _refused(path, r"episode 1, field 'observation.images.camera': the video .* holds 7 frames for the "
                       r"episode but its parquet has 10 rows: the video is shorter than its parquet rows")
  assert "step 7" in msg
  # Without the camera in the key map the states and actions still read.
  assert load(path, KeyMap(state_key=STATE), min_length=8).demos.num_episodes == 3


def test_timestamps_out_of_order_are_refused(small, tmp_path):
  path = _copy(small, tmp_path)
  ts = np.arange(10, dtype=np.float32) / 10
  ts[[3, 4]] = ts[[4, 3]]
  _rewrite(path, EPISODE_1, lambda t: _set(t, "timestamp", ts))
  _refused(path, r"episode 1, field 'timestamp': timestamps out of order at step 4 \(0.4 s, then 0.3 s\)",
           KeyMap(state_key=STATE))


def test_a_row_without_a_video_frame_near_its_timestamp_is_refused(small, tmp_path):
  import av
  path = _copy(small, tmp_path)
  video = os.path.join(path, "videos", CAMERA, "chunk-000", "file-001.mp4")
  os.remove(video)
  with av.open(video, "w") as out:  # the episode's frames, but frame 5 (0.5 s) dropped
    stream = out.add_stream("libx264", rate=10)
    stream.width = stream.height = 16
    stream.pix_fmt = "yuv420p"
    stream.time_base = __import__("fractions").Fraction(1, 10)
    for t, image in enumerate(small[1][2][1]):
      if t != 5:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = t
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
  _refused(path, r"episode 1, field 'observation.images.camera': step 5 \(timestamp 0.5000 s\) has no video frame "
                 r"within 0.0500 s \(the nearest is 0.1000 s away\)")


def test_missing_video_file_is_refused_when_opened(small, tmp_path):
  path = _copy(small, tmp_path)
  os.remove(os.path.join(path, "videos", CAMERA, "chunk-001", "file-000.mp4"))
  # Refused at open, before any episode is read, even for a key map without the camera.
  _refused(path, r"episode 2, field 'observation.images.camera': its video file "
                 r"videos/observation.images.camera/chunk-001/file-000.mp4 is missing", KeyMap(state_key=STATE))


def test_unknown_format_version_is_refused(small, tmp_path):
  path = _copy(small, tmp_path)
  with open(os.path.join(path, "meta", "info.json")) as f:
    info = json.load(f)
  info["codebase_version"] = "v1.6"
  with open(os.path.join(path, "meta", "info.json"), "w") as f:
    json.dump(info, f)
  _refused(path, r"LeRobot format version 'v1.6' .* is not one gdacot reads: \['v2.1', 'v3.0'\]")


def test_rows_missing_from_the_data_file_are_refused(small, tmp_path):
  path = _copy(small, tmp_path)
  _rewrite(path, EPISODE_1, lambda t: t.slice(0, 8))
  _refused(path, r"episode 1: the metadata says 10 steps but data/chunk-000/file-001.parquet holds 8 rows",
           KeyMap(state_key=STATE))


def test_unknown_split_lists_the_splits(small):
  _refused(small[0], r"no split 'val'; the dataset has \['train'\]", KeyMap(state_key=STATE, split="val"))
