"""Batched closed-loop evaluation of a policy in MJX, compiled; result entries with Wilson intervals.

The policy predicts a chunk of `chunk` actions from the last `obs_horizon` observations and
executes the first `execute` of them before predicting again (receding horizon). A batch of
episodes is a `lax.scan` over replanning steps with an inner scan over executed actions,
stepping the task's batched reset and step (gdacot.envs.batched) and the policy vmapped over
episodes, each episode with keys of its own. The domain is a traced argument, so one compile
serves every (domain, region). Rollouts also return every episode's joint positions over time
(a few KB), so videos replay exactly the episodes that were scored.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gdacot import parallel
from gdacot.envs.batched import Batched
from gdacot.progress import Progress
from gdacot.stats import wilson_interval


def evaluation_key(run_seed: int) -> jax.Array:
  """The key of a run's evaluation episodes: training's final evaluation and `gdacot.evaluate`
  (by default) use it, so the CLI reproduces eval.json's numbers exactly."""
  return jax.random.fold_in(jax.random.PRNGKey(run_seed), 4)


def scoring_key(run_seed: int) -> jax.Array:
  """The key of the episodes that score a run's checkpoints (for keeping the best ones)."""
  return jax.random.fold_in(jax.random.PRNGKey(run_seed), 5)


def make_policy_rollout(env, graphdef, *, obs_horizon: int, chunk: int, execute: int, batch_size: int,
                        mesh=None):
  """Returns jitted `fn(params, normalizer, key, domain, first_episode=0, label=0, guidance=0.)
  -> (success, qpos)` for episodes first_episode ... first_episode + batch_size - 1: success
  is (batch_size,) bool, qpos (batch_size, horizon + 1, nq) from the reset state on. label
  (the domain's DOMAIN_LABELS index) and guidance only matter to label-conditioned (CFG)
  policies. With a `mesh`, the episodes are split over its devices."""
  if not 1 <= execute <= chunk:
    raise ValueError(f"execute must be in [1, chunk={chunk}], got {execute}")
  num_plans = -(-env.horizon // execute)
  batched = Batched(env, batch_size, mesh)

  @jax.jit
  def rollout(params, normalizer, key, domain, first_episode=0, label=0, guidance=0.0):
    policy = nnx.merge(graphdef, params)
    normalize = jax.vmap(normalizer)
    # Episode i's keys come from fold_in(key, i) alone, whatever the batching: results do not
    # depend on batch_size. Each episode's policy samples with its own key.
    episodes = parallel.shard_batch(first_episode + jnp.arange(batch_size), mesh)
    k_reset, k_plan = episode_keys(key, episodes)
    act = jax.vmap(lambda history, k: policy.act(jax.tree.map(lambda h: h[None], history), k, label, guidance)[0])
    state = batched.reset(k_reset, domain)
    history = jax.tree.map(lambda x: jnp.repeat(x[:, None], obs_horizon, axis=1), normalize(state.obs))

    def plan(carry, k):
      state, history, success = carry
      actions = act(history, k)  # (B, chunk, action_size)

      def step(carry, action):
        state, history, success = carry
        state = batched.step(state, action)
        history = jax.tree.map(lambda h, x: jnp.concatenate([h[:, 1:], x[:, None]], axis=1), history,
                               normalize(state.obs))
        # Steps past the horizon (when execute does not divide it) do not count.
        success = success | (state.success & (state.t <= env.horizon))
        return (state, history, success), state.data.qpos

      return jax.lax.scan(step, (state, history, success), jnp.swapaxes(actions[:, :execute], 0, 1))

    plan_keys = jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, num_plans))(k_plan), 0, 1)
    (_, _, success), qpos = jax.lax.scan(plan, (state, history, state.success), plan_keys)
    qpos = jnp.swapaxes(qpos.reshape(num_plans * execute, batch_size, -1), 0, 1)[:, : env.horizon]
    return success, jnp.concatenate([state.data.qpos[:, None], qpos], axis=1)

  return rollout


def episode_keys(key: jax.Array, episodes: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(reset keys, the rest) of each episode: split(fold_in(key, i)) for episode i."""
  keys = jax.vmap(jax.random.split)(jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, episodes))
  return keys[:, 0], keys[:, 1]


def evaluate(rollout, params, normalizer, key, domain, episodes: int, batch_size: int, name: str = "eval",
             record: int = 0, label: int = 0, guidance: float = 0.0):
  """Runs `episodes` episodes in batches. Returns (successes, episodes, recording): recording
  holds the joint positions and outcomes of the first `record` episodes (None if 0)."""
  num_batches = -(-episodes // batch_size)
  progress = Progress(name, episodes, unit="episodes")
  outcomes, recording = [], None
  for i in range(num_batches):
    success, qpos = parallel.to_host(rollout(params, normalizer, key, domain, i * batch_size, label, guidance))
    outcomes.append(success)
    if i == 0 and record:
      n = min(record, episodes)
      recording = {"qpos": qpos[:n], "success": outcomes[0][:n]}
    done = min((i + 1) * batch_size, episodes)
    progress.update(done, extra=f"success so far {np.concatenate(outcomes)[:done].mean():.1%}")
  success = np.concatenate(outcomes)[:episodes]
  return int(success.sum()), episodes, recording


def result_entry(*, method, domain, region, successes, episodes, step, seed) -> dict:
  lo, hi = wilson_interval(successes, episodes)
  return {
      "method": method,
      "domain": domain,
      "region": region,
      "episodes": episodes,
      "successes": successes,
      "success_rate": successes / episodes,
      "ci95": [lo, hi],
      "step": step,
      "seed": seed,
  }


def format_table(results: list[dict]) -> str:
  header = f"{'method':<10} {'domain':<6} {'region':<6} {'success':>9} {'ci95':>15} {'episodes':>8} {'step':>6} {'seed':>4}"
  lines = [header, "-" * len(header)]
  for r in results:
    ci = f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"
    lines.append(
        f"{r['method']:<10} {r['domain']:<6} {r['region']:<6} {r['success_rate']:>9.3f} {ci:>15} "
        f"{r['episodes']:>8} {r['step']:>6} {r['seed']:>4}"
    )
  return "\n".join(lines)
