"""gdacot.io (atomic writes) and gdacot.machine (what a result ran on)."""

import json
import os

import pytest

from gdacot import io, machine


def test_writes_replace_whole_files_and_leave_no_temporary(tmp_path):
  path = str(tmp_path / "r.json")
  io.write_json(path, {"a": 1})
  io.write_json(path, {"a": 2})
  assert json.load(open(path)) == {"a": 2}
  io.write_text(str(tmp_path / "t.md"), "x")
  io.write_bytes(str(tmp_path / "b.bin"), b"\x00\x01")
  assert (tmp_path / "t.md").read_text() == "x" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
  assert sorted(os.listdir(tmp_path)) == ["b.bin", "r.json", "t.md"]
  # A new file gets the usual permissions (umask), not a private temporary's 0600.
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_keeps_the_old_file(tmp_path):
  path = str(tmp_path / "r.json")
  io.write_text(path, "old")
  with pytest.raises(RuntimeError), io.open_atomic(path) as f:
    f.write("half")
    raise RuntimeError("killed mid-write")
  assert (tmp_path / "r.json").read_text() == "old" and os.listdir(tmp_path) == ["r.json"]


def test_replacing_keeps_the_extension_and_refuses_existing_targets(tmp_path):
  path = str(tmp_path / "fig.png")
  with io.replacing(path) as tmp:
    assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path) and not os.path.exists(tmp)
    open(tmp, "wb").write(b"png")
  with pytest.raises(FileExistsError):
    io.write_bytes(path, b"new", overwrite=False)
  # A target that appears while the data are written is not clobbered either.
  other = str(tmp_path / "late.txt")
  with pytest.raises(FileExistsError), io.open_atomic(other, overwrite=False) as f:
    f.write("mine")
    open(other, "w").write("theirs")
  assert open(path, "rb").read() == b"png" and open(other).read() == "theirs"
  assert sorted(os.listdir(tmp_path)) == ["fig.png", "late.txt"]


def test_machine_describes_host_packages_and_devices():
  d = machine.describe()
  assert d["jax_backend"] == "cpu" and d["device_count"] >= 1 and d["cpu_count"] >= 1
  assert {"hostname", "platform", "machine", "python", "devices"} <= set(d)
  assert d["versions"]["jax"] and d["versions"]["python"] == d["python"]
  assert machine.versions(("surely-not-installed-pkg",))["surely-not-installed-pkg"] is None
  fresh = machine.describe_in_subprocess()
  assert fresh["jax_backend"] == "cpu" and fresh["versions"] == d["versions"]
  # The CPU's vector extensions (its rounding depends on them), read as /proc/cpuinfo gives them.
  assert fresh["cpu_vector_isa"] == d["cpu_vector_isa"] and fresh["cpu_model"] == d["cpu_model"]
  x86 = machine.cpu_identity("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx avx2 fma "
                              "avx512f avx512bw smep ht\n\nprocessor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
  assert x86 == {"cpu_model": "AMD EPYC 7B13", "cpu_vector_isa": ["avx", "avx2", "avx512bw", "avx512f", "fma", "sse4_2"]}
  arm = machine.cpu_identity("processor\t: 0\nFeatures\t: fp asimd asimddp sve sve2 sme crc32\nCPU part\t: 0xd4f\n")
  assert arm == {"cpu_model": "0xd4f", "cpu_vector_isa": ["asimd", "asimddp", "sme", "sve", "sve2"]}


def test_a_replace_is_durable_the_data_synced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
  # Without the first fsync an OS crash can leave an empty config.json under the new name;
  # without the second, the old name.
  events = []
  real_fsync, real_replace = os.fsync, os.replace
  monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                               real_fsync(fd)))
  monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b)))
  target = tmp_path / "config.json"
  io.write_json(str(target), {"a": 1})
  kinds = [kind for kind, _ in events]
  assert kinds == ["fsync", "replace", "fsync"], events
  assert os.path.basename(events[0][1]).startswith(".config.json.")  # the data, under its temporary name
  assert events[2][1] == str(tmp_path)  # the directory holding the new name
  assert json.loads(target.read_text()) == {"a": 1}


def test_temporary_names_are_told_from_other_hidden_files(tmp_path):
  seen = []
  with io.replacing(str(tmp_path / "plot.png")) as tmp:
    seen.append(os.path.basename(tmp))
    open(tmp, "wb").close()
  assert io.is_temporary(seen[0])
  assert not any(io.is_temporary(n) for n in (".lock", "config.json", ".hidden", "plot.png", ".a.tmp"))


def test_gdacot_holds_no_test_hooks():
  # Fault injection lives in tests/faults.py: no module of the package reads a test switch.
  import pathlib  # pylint: disable=g-import-not-at-top
  package = pathlib.Path(io.__file__).parent
  hooks = [str(p.relative_to(package)) for p in package.rglob("*.py") if "GDACOT_TEST" in p.read_text()]
  assert not hooks, hooks
