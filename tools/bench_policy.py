r"""Latency of a trained policy's `act`, locally and through gdacot.serve on loopback.

  python -m tools.bench_policy --out=policy.json [--calls=300] [--clients=1,8] [--frame=240,320]

Cases: the state policy (push_cube's default config) and the image policy of lift (front and
wrist cameras) at 32x32 and 64x64, each fed camera frames of --frame pixels (a robot camera's
stream, resized by `act` as training resized its frames). The policies carry freshly initialised
parameters: latency does not depend on what they learned. `act` returns one action per call and
predicts a chunk every `execute` calls; both kinds of call are in the distribution. Reported per
case: p50 / p90 / p99 in ms over --calls calls after a warm-up (which compiles), locally, and
through a server on 127.0.0.1 in this process (its event loop in a thread) with each --clients
count, every client its own connection and episode.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import numpy as np
from absl import app, flags

from gdacot import cli_common

_OUT = flags.DEFINE_string("out", None, "JSON file to write (stdout too).")
_CALLS = flags.DEFINE_integer("calls", 300, "Timed act calls per client and case.")
_CLIENTS = flags.DEFINE_list("clients", ["1", "8"], "Concurrent clients through the server.")
_FRAME = flags.DEFINE_list("frame", ["240", "320"], "Height, width of the camera frames fed to act.")

CASES = {"state (push_cube)": ("", None), "image 32x32, 2 cameras (lift)": ("lift,image", 32),
         "image 64x64, 2 cameras (lift)": ("lift,image", 64)}


def make_policy(variant: str, size: int | None):
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from gdacot.data import Normalizer  # pylint: disable=g-import-not-at-top
  from gdacot.envs import env_from_config  # pylint: disable=g-import-not-at-top
  from gdacot.policy import Policy  # pylint: disable=g-import-not-at-top
  from gdacot.train import get_config  # pylint: disable=g-import-not-at-top
  from gdacot.train.build import build_policy_and_state  # pylint: disable=g-import-not-at-top
  from gdacot.train.restore import RestoredPolicy  # pylint: disable=g-import-not-at-top

  cfg = get_config(variant or None)
  if size:
    cfg.render.height = cfg.render.width = size
  env = env_from_config(cfg)
  image_shape = None if env.image_shape is None else list(env.image_shape)
  graphdef, _, state = build_policy_and_state(cfg, env.obs_size, env.action_size, image_shape)
  spec = {"obs_size": env.obs_size, "action_size": env.action_size, "image_shape": image_shape}
  normalizer = Normalizer(mean=jnp.zeros(env.obs_size), std=jnp.ones(env.obs_size))
  return Policy(RestoredPolicy(cfg=cfg, step=0, graphdef=graphdef, params=state.ema_params, normalizer=normalizer,
                               spec=spec), domain="real")


def observations(spec, frame: tuple[int, int], n: int, seed: int = 0) -> list[dict]:
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    obs = {}
    for name, (shape, dtype) in spec.items():
      obs[name] = (rng.integers(0, 256, (*frame, 3), dtype=np.uint8) if dtype == np.uint8
                   else rng.normal(size=shape).astype(np.float32))
    out.append(obs)
  return out


def percentiles(ms: list[float]) -> dict:
  return {f"p{q}": round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)} | {"calls": len(ms)}


def timed_calls(act, obs: list[dict]) -> list[float]:
  times = []
  for o in obs:
    t0 = time.perf_counter()
    act(o)
    times.append((time.perf_counter() - t0) * 1e3)
  return times


def run(calls: int, clients: list[int], frame: tuple[int, int]) -> dict:
  from gdacot import machine  # pylint: disable=g-import-not-at-top
  from gdacot.serve import PolicyClient, serve  # pylint: disable=g-import-not-at-top

  out = {}
  for name, (variant, size) in CASES.items():
    policy = make_policy(variant, size)
    obs = observations(policy.spec, frame, calls)
    policy.reset()
    timed_calls(policy.act, obs[:policy.execute * 2])  # warm-up: the compile
    policy.reset()
    case = {"local": percentiles(timed_calls(policy.act, obs)), "execute": policy.execute, "chunk": policy.chunk}
    # The server in this process: its event loop in a thread, stopped with the loop.
    ready, loop_box = threading.Event(), {}

    def serve_forever():
      loop = asyncio.new_event_loop()
      loop_box["loop"] = loop
      asyncio.set_event_loop(loop)
      loop_box["task"] = loop.create_task(serve(policy, "127.0.0.1", 0, lambda p: (loop_box.update(port=p),
                                                                                     ready.set()),
                                                handle_signals=False))
      try:
        loop.run_until_complete(loop_box["task"])
      except asyncio.CancelledError:
        pass

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    ready.wait(60)
    for n in clients:
      results = [None] * n

      def one(i):
        with PolicyClient("127.0.0.1", loop_box["port"]) as client:
          client.reset()
          timed_calls(client.act, obs[:policy.execute * 2])
          client.reset()
          results[i] = timed_calls(client.act, obs)

      threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
      for t in threads:
        t.start()
      for t in threads:
        t.join()
      case[f"server_{n}_clients"] = percentiles([ms for r in results for ms in r])
    loop_box["loop"].call_soon_threadsafe(loop_box["task"].cancel)
    thread.join(10)
    case["server_overhead_p50_ms_1_client"] = round(case["server_1_clients"]["p50"] - case["local"]["p50"], 3) \
        if "server_1_clients" in case else None
    out[name] = case
    print(f"{name}: {json.dumps(case)}", file=sys.stderr, flush=True)
  return {"what": "act latency in ms (one action per call, a chunk predicted every `execute` calls)",
          "frame": list(frame), "cases": out, "machine": machine.describe()}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  result = run(_CALLS.value, [int(c) for c in _CLIENTS.value], tuple(int(x) for x in _FRAME.value))
  text = json.dumps(result, indent=2)
  print(text)
  if _OUT.value:
    from gdacot import io  # pylint: disable=g-import-not-at-top
    io.write_text(_OUT.value, text + "\n")


if __name__ == "__main__":
  cli_common.run(main)
