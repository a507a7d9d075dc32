"""Scripted push expert with privileged state (true cube pose) and injected noise.

Stateless: the action is a function of the true state only, so it runs inside the same
`lax.scan` as the simulator. Strategy: hover to a point behind the cube on the line from
the goal through the cube (lifting over the cube when it is in the way), descend, then
push towards the goal while steering the contact point back onto that line.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdacot.envs.base import State
from gdacot.envs.push_cube.domain import GOAL, SUCCESS_RADIUS

PUSHER_RADIUS = 0.015


def push_expert_action(env, state: State) -> jax.Array:
  """The clean expert action for the true state."""
  data = state.data
  half = state.domain.cube_half_size
  ee = env.ee_pos(data)
  cube = env.cube_pos(data)[:2]
  to_goal = jnp.asarray(GOAL) - cube
  dist = jnp.linalg.norm(to_goal)
  u = to_goal / jnp.maximum(dist, 1e-6)
  perp = jnp.array([-u[1], u[0]])
  rel = ee[:2] - cube
  along, lateral = rel @ u, rel @ perp
  contact = half * jnp.sqrt(2.0) + PUSHER_RADIUS  # clears the cube's corners
  behind = cube - u * (contact + 0.01)
  push_z = 0.6 * half
  high_z = 2.0 * half + PUSHER_RADIUS + 0.02

  aligned = (along < -(half + PUSHER_RADIUS) * 0.9) & (jnp.abs(lateral) < 0.9 * half)
  low = ee[2] < push_z + 0.01
  pushing = aligned & low

  # Push: along u, slowing near the goal, with a lateral correction towards the line.
  speed = jnp.clip(dist / 0.04, 0.3, 1.0)
  push_xy = ee[:2] + env.max_delta * (speed * u - 0.8 * lateral / half * perp)

  # Reposition: go behind the cube; lift first when the cube is near and in the way.
  far_from_behind = jnp.linalg.norm(ee[:2] - behind) > 0.015
  near_cube = jnp.linalg.norm(rel) < contact + 0.05
  lift = far_from_behind & near_cube & ~aligned
  still_low = ee[2] < high_z - 0.015
  hold_xy = lift & still_low  # lift in place before moving over the cube
  move_xy = jnp.where(hold_xy, ee[:2], behind)
  move_z = jnp.where(lift, high_z, jnp.where(far_from_behind, jnp.maximum(ee[2], push_z), push_z))

  target = jnp.where(
      pushing, jnp.concatenate([push_xy, push_z[None]]), jnp.concatenate([move_xy, move_z[None]])
  )
  target = jnp.where(dist < SUCCESS_RADIUS * 0.6, ee, target)  # done: hold still
  return jnp.clip((target - ee) / env.max_delta, -1.0, 1.0)
