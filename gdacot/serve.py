r"""A trained policy over the network: a websocket server and its client.

  python -m gdacot.serve --workdir=runs/robot --port=8000 [--host=127.0.0.1] [--step=best] [--domain=real]

    from gdacot.serve import PolicyClient
    client = PolicyClient("127.0.0.1", 8000)
    client.spec; client.reset(); action = client.act({"observation.state": state, ...})

The convention of openpi's policy server, which robot users know: a websocket carrying
msgpack-encoded messages, numpy arrays inside them as {"__ndarray__": True, "data": bytes,
"dtype": str, "shape": list}. On connecting the server sends {"spec", "step", "domain"}; then
each request is {"type": "reset"} (answered {"ok": True}) or {"type": "act", "obs": {...}}
(answered {"action": array}); anything else gets {"error": "..."} and the connection stays
open. Each connection has its own episode (history, queue of actions), all of them sharing one
restored policy and one compile. SIGTERM or SIGINT closes the server and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import msgpack
import numpy as np

from gdacot.policy import ObservationError


def _encode(x):
  if isinstance(x, np.ndarray | np.generic):
    x = np.asarray(x)
    return {"__ndarray__": True, "data": x.tobytes(), "dtype": x.dtype.str, "shape": list(x.shape)}
  return x


def _decode(d):
  if d.get("__ndarray__") is True:
    return np.frombuffer(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])
  return d


def pack(message) -> bytes:
  return msgpack.packb(message, default=_encode, use_bin_type=True)


def unpack(data: bytes):
  return msgpack.unpackb(data, object_hook=_decode, raw=False)


def spec_message(policy) -> dict:
  return {"spec": {k: {"shape": list(shape), "dtype": dtype.str} for k, (shape, dtype) in policy.spec.items()},
          "step": policy.step, "domain": policy.domain}


def answer(episode, data) -> dict:
  """One request's reply; a malformed request or a refused observation is an error reply."""
  try:
    request = unpack(data) if isinstance(data, bytes) else None
  except Exception as e:  # pylint: disable=broad-except  (whatever the bytes, the server goes on)
    return {"error": f"the request is not msgpack: {type(e).__name__}: {e}"}
  if not isinstance(request, dict) or request.get("type") not in ("act", "reset"):
    return {"error": "a request is a msgpack map {'type': 'act', 'obs': {...}} or {'type': 'reset'}"}
  if request["type"] == "reset":
    episode.reset()
    return {"ok": True}
  try:
    return {"action": episode.act(request.get("obs"))}
  except ObservationError as e:
    return {"error": str(e)}


async def serve(policy, host: str, port: int, ready=None, *, handle_signals: bool = True) -> None:
  """Serves `policy` until SIGTERM or SIGINT (or, without `handle_signals`, e.g. in a thread of
  another program, until cancelled); `ready(port)` is called once it listens."""
  from websockets.asyncio.server import serve as ws_serve  # pylint: disable=g-import-not-at-top

  async def handler(connection):
    episode = policy.fork()
    await connection.send(pack(spec_message(policy)))
    async for data in connection:
      await connection.send(pack(answer(episode, data)))

  stop = asyncio.get_running_loop().create_future()
  for sig in (signal.SIGTERM, signal.SIGINT) if handle_signals else ():
    asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
  # No per-message deflate: camera frames barely compress, and deflating two 240x320 frames
  # added 18 ms to each call on loopback (tools.bench_policy).
  async with ws_serve(handler, host, port, max_size=2**26, compression=None) as server:
    if ready:
      ready(server.sockets[0].getsockname()[1])
    await stop


class PolicyClient:
  """A served policy with the local Policy's interface: `spec`, `reset()`, `act(obs)`."""

  def __init__(self, host: str = "127.0.0.1", port: int = 8000, timeout: float = 30.0):
    from websockets.sync.client import connect  # pylint: disable=g-import-not-at-top
    self._connection = connect(f"ws://{host}:{port}", max_size=2**26, open_timeout=timeout, compression=None)
    hello = unpack(self._connection.recv(timeout=timeout))
    self.spec = {k: (tuple(v["shape"]), np.dtype(v["dtype"])) for k, v in hello["spec"].items()}
    self.step, self.domain = hello["step"], hello["domain"]

  def _call(self, request: dict) -> dict:
    self._connection.send(pack(request))
    reply = unpack(self._connection.recv())
    if "error" in reply:
      raise ObservationError(reply["error"])
    return reply

  def reset(self) -> None:
    self._call({"type": "reset"})

  def act(self, obs: dict) -> np.ndarray:
    return np.array(self._call({"type": "act", "obs": {k: np.asarray(v) for k, v in obs.items()}})["action"])

  def close(self) -> None:
    self._connection.close()

  def __enter__(self) -> "PolicyClient":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def main(argv=None) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FlagValues()
  flags.DEFINE_string("workdir", None, "The run's directory.", flag_values=fv)
  flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).", flag_values=fv)
  flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free one, printed).", flag_values=fv)
  flags.DEFINE_string("step", "best", "Checkpoint: best, latest or a step number.", flag_values=fv)
  flags.DEFINE_string("domain", "real", "The domain the policy acts in (its label, its observation names).",
                      flag_values=fv)
  argv = sys.argv if argv is None else argv
  if any(a in ("-h", "--help") for a in argv[1:]):
    print(__doc__ + "\nFlags:\n" + fv.get_help())
    return 0
  try:
    fv(argv)
    if not fv.workdir:
      raise ValueError("--workdir is required")
    from gdacot.policy import load  # pylint: disable=g-import-not-at-top
    policy = load(fv.workdir, step=fv.step, domain=fv.domain)
  except (flags.Error, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  names = ", ".join(f"{k} {list(shape)} {dtype}" for k, (shape, dtype) in policy.spec.items())
  ready = lambda port: print(f"serving checkpoint {policy.step} of {fv.workdir} ({fv.domain}) on "
                             f"ws://{fv.host}:{port}: {names}", flush=True)
  asyncio.run(serve(policy, fv.host, fv.port, ready))
  print("server stopped", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
