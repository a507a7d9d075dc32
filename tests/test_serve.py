"""gdacot.serve on loopback: a real server process and real clients give the local Policy's
actions, one episode per connection, answer a malformed request with an error and go on, and
end on SIGTERM with exit 0."""

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from runs import ROOT, env_for_subprocess

from gdacot.policy import ObservationError, load
from gdacot.serve import PolicyClient, pack, unpack


@pytest.fixture(scope="module")
def server(smoke_run, tmp_path_factory):
  workdir, _ = smoke_run
  log = tmp_path_factory.mktemp("serve") / "stderr.log"
  with open(log, "w") as stderr:  # a file, not a pipe: nobody reads the log while the server runs
    proc = subprocess.Popen([sys.executable, "-m", "gdacot.serve", f"--workdir={workdir}", "--step=latest",
                             "--port=0"], cwd=ROOT, env=env_for_subprocess(), stdout=subprocess.PIPE, stderr=stderr,
                            text=True)
  line = ""  # until "serving checkpoint 60 of ... on ws://127.0.0.1:PORT: ..." (MJX prints before it)
  while "serving checkpoint" not in line and proc.poll() is None:
    line = proc.stdout.readline()
  assert "serving checkpoint 60" in line, line + log.read_text()[-3000:]
  port = int(line.split("ws://127.0.0.1:")[1].split(":")[0])
  yield workdir, port, proc
  if proc.poll() is None:
    proc.kill()


def _episode(seed, steps=12):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=8).astype(np.float32) for _ in range(steps)]


def _actions(policy, states):
  policy.reset()
  return np.stack([policy.act({"state": s}) for s in states])


def test_clients_get_the_local_policys_actions_each_in_its_own_episode(server):
  workdir, port, _ = server
  local = load(workdir, step="latest")
  with PolicyClient("127.0.0.1", port) as client:
    assert client.spec == local.spec and client.step == 60
    np.testing.assert_array_equal(_actions(client, _episode(0)), _actions(local, _episode(0)))
  want = {seed: _actions(local, _episode(seed)) for seed in range(4)}
  got, errors = {}, []

  def run(seed):
    try:
      with PolicyClient("127.0.0.1", port) as client:
        client.reset()
        out = []
        for s in _episode(seed):  # interleaved with the other clients' steps
          out.append(client.act({"state": s}))
          time.sleep(0.001)
        got[seed] = np.stack(out)
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(60)
  assert not errors, errors
  for seed in range(4):
    np.testing.assert_array_equal(got[seed], want[seed])


def test_a_malformed_request_gets_an_error_and_the_server_goes_on(server):
  _, port, _ = server
  from websockets.sync.client import connect
  with connect(f"ws://127.0.0.1:{port}") as raw:
    unpack(raw.recv())  # the spec
    for bad in (b"\xc1\x00not msgpack", pack({"type": "fly"}), "text, not bytes"):
      raw.send(bad)
      assert "error" in unpack(raw.recv())
    raw.send(pack({"type": "act", "obs": {"state": np.zeros(8, np.float32)}}))
    assert unpack(raw.recv())["action"].shape == (3,)
  with PolicyClient("127.0.0.1", port) as client:
    with pytest.raises(ObservationError, match="observation 'state' is missing"):
      client.act({"position": np.zeros(8, np.float32)})
    assert client.act({"state": np.zeros(8, np.float32)}).shape == (3,)


def test_sigterm_stops_the_server_with_exit_0(server):
  _, _, proc = server
  t0 = time.perf_counter()
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=10) == 0 and time.perf_counter() - t0 < 5
  assert "server stopped" in proc.stdout.read()
