"""On-device demonstration generation: the scripted expert in MJX, batched and compiled.

One compiled call rolls out a batch of episodes (a `lax.scan` over time of the task's batched
reset, expert and step, gdacot.envs.batched); the host loops over batches only to keep
successful episodes and report progress.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gdacot import parallel
from gdacot.data import observations
from gdacot.envs import DomainSpec, domain_from_config, perturb_action
from gdacot.envs.batched import Batched
from gdacot.progress import Progress


@struct.dataclass
class Demos:
  """Episodes padded to the task horizon. Frames at t >= lengths[e] are padding."""

  # (E, T, obs_size) float32 as the domain's sensors see it, or for image observations
  # {"state": (E, T, obs_size) float32, "image": (E, T, H, W, C) uint8} (gdacot/data/observations.py).
  obs: jax.Array | dict[str, jax.Array]
  actions: jax.Array  # (E, T, action_size) float32, in [-1, 1]: the clean expert labels
  lengths: jax.Array  # (E,) int32

  @property
  def num_episodes(self) -> int:
    return int(self.lengths.shape[0])

  @property
  def num_frames(self) -> int:
    return int(np.asarray(self.lengths).sum())

  def fingerprint(self) -> dict:
    """Identity of the data (counts and a hash of every array), saved with checkpoints so a
    resumed run can prove it samples from the same demos it started with."""
    digest = hashlib.blake2b(digest_size=16)
    for x in (*jax.tree.leaves(self.obs), self.actions, self.lengths):
      x = np.ascontiguousarray(np.asarray(x))
      digest.update(f"{x.dtype}{x.shape}".encode())
      digest.update(x.tobytes())
    return {"episodes": self.num_episodes, "frames": self.num_frames, "blake2b": digest.hexdigest()}


def make_expert_rollout(env, batch_size: int, noise: float, mesh=None, *, with_controls: bool = False):
  """Returns jitted `fn(key, domain) -> (obs, actions, first_success)` for one batch; with a
  `mesh`, the batch's episodes are split over its devices. `with_controls` adds a fourth output,
  {"qpos0": (E, nq), "ctrl": (E, T, nu)}: the initial joint positions and the actuator controls
  each step applied (to replay the episodes open loop in C MuJoCo, tools.bench)."""

  batched = Batched(env, batch_size, mesh)

  @jax.jit
  def rollout(key, domain):
    keys = parallel.shard_batch(jax.random.split(key, batch_size), mesh)
    split = jax.vmap(jax.random.split)(keys)  # each episode's (reset key, action key)
    state = batched.reset(split[:, 0], domain)

    def body(state, k):
      # DART (noisy_expert_action), batched: each episode's noise from its own key.
      label = batched.expert_action(state)
      executed = jax.vmap(perturb_action, in_axes=(0, 0, None))(label, k, noise)
      after = batched.step(state, executed)
      return after, (state.obs, label, state.success) + ((after.data.ctrl,) if with_controls else ())

    act_keys = jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, env.horizon))(split[:, 1]), 0, 1)
    _, out = jax.lax.scan(body, state, act_keys)
    obs, actions, success, *ctrl = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), out)  # episodes first
    first = jnp.where(success.any(1), jnp.argmax(success, axis=1), env.horizon)
    if with_controls:
      return obs, actions, first, {"qpos0": state.data.qpos, "ctrl": ctrl[0]}
    return obs, actions, first

  return rollout


def generate_demos(
    env,
    domain: DomainSpec,
    key: jax.Array,
    num_episodes: int,
    *,
    noise: float = 0.1,
    batch_size: int = 256,
    hold_steps: int = 4,
    max_batches: int | None = None,
    name: str = "demos",
    rollout=None,
) -> tuple[Demos, dict]:
  """Generates `num_episodes` successful expert demos in `domain`.

  Each kept episode ends `hold_steps` frames after the cube first reaches the goal.
  Returns the demos and stats (attempted, kept, expert success rate).
  """
  if num_episodes <= 0:
    raise ValueError(f"{name}: num_episodes must be positive, got {num_episodes}")
  rollout = rollout or make_expert_rollout(env, batch_size, noise)
  max_batches = max_batches or 4 * (-(-num_episodes // batch_size)) + 2
  kept_obs, kept_act, kept_len = [], [], []
  attempted = kept = 0
  progress = Progress(name, num_episodes, unit="episodes")
  for i in range(max_batches):
    obs, actions, first = parallel.to_host(rollout(jax.random.fold_in(key, i), domain))
    ok = first < env.horizon
    attempted += len(first)
    kept_obs.append(jax.tree.map(lambda x: x[ok], obs))
    kept_act.append(actions[ok])
    kept_len.append(np.minimum(first[ok] + 1 + hold_steps, env.horizon))
    kept += int(ok.sum())
    progress.update(min(kept, num_episodes), extra=f"expert success {kept / attempted:.1%}")
    if kept >= num_episodes:
      break
  if kept < num_episodes:
    raise RuntimeError(
        f"{name}: the expert succeeded in only {kept}/{attempted} episodes; "
        f"{num_episodes} were asked for. Check the domain spec."
    )
  demos = Demos(
      obs=observations.stored(jax.tree.map(lambda *x: np.concatenate(x)[:num_episodes], *kept_obs)),
      actions=jnp.asarray(np.concatenate(kept_act)[:num_episodes], jnp.float32),
      lengths=jnp.asarray(np.concatenate(kept_len)[:num_episodes], jnp.int32),
  )
  stats = {"attempted": attempted, "kept": num_episodes, "expert_success": kept / attempted}
  return demos, stats


_DOMAIN_TAGS = {"sim": 1, "real": 2}  # region i of a domain uses key fold_in(key, tag * 100 + i)


def demos_key(cfg) -> jax.Array:
  """The key of a run's demos (and of its analysis frames): `data.seed`, or the run's seed."""
  data_seed = cfg.data.get("seed", -1)
  return jax.random.PRNGKey(data_seed if data_seed >= 0 else cfg.seed)


def generate_configured_demos(env, cfg, name: str, key: jax.Array, rollout, log=None) -> Demos:
  """The demos a co-training config asks of domain `name` ("sim" or "real"): `data.num_<name>_demos`
  split evenly over `data.<name>_regions`, in the domain with the config's overrides. `log`, if
  given, receives one line per region."""
  regions, total = tuple(cfg.data[f"{name}_regions"]), cfg.data[f"num_{name}_demos"]
  parts = []
  for i, region in enumerate(regions):
    n = total // len(regions) + (1 if i < total % len(regions) else 0)
    domain = domain_from_config(cfg, name, region)
    demos, stats = generate_demos(env, domain, jax.random.fold_in(key, _DOMAIN_TAGS[name] * 100 + i), n,
                                  batch_size=cfg.data.demo_batch, rollout=rollout, name=f"demos {name}/{region}")
    if log:
      log(f"  {name}/{region}: {n} demos, {demos.num_frames} frames, expert success {stats['expert_success']:.1%}")
    parts.append(demos)
  return concat_demos(*parts)


def concat_demos(*parts: Demos) -> Demos:
  return jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
