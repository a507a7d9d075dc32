"""The arm tasks' scripted expert: a pick-and-place phase machine on privileged state.

Stateless, as push_cube's: the phase is read off the true state at every step (is the cube
between closed fingers? is it resting where it should be?), so the expert runs inside the
same `lax.scan` as the simulator, recovers from DART noise and from a dropped cube, and
needs no memory. The phases:

  approach  above the cube, gripper open (rising first if low and off to the side);
  descend   to grasp height once above it and open;
  close     at grasp height;
  lift      once the cube is held: straight up to the carry height;
  carry     over the place target at the carry height;
  lower     until the cube is just above its resting height, then release;
  retreat   up, gripper open, once the cube rests at the target.

`lift` has no place target: it holds the cube up.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdacot.envs.base import State

APPROACH_HEIGHT = 0.07  # above the cube's centre, m
CARRY_HEIGHT = 0.13  # of the tool centre point while carrying (a carried cube clears a stacked one)
ALIGNED = 0.008  # xy error below which the hand is over the cube, m
RELEASE_CLEARANCE = 0.004  # the cube is let go this far above its resting height, m


def held(task, data, i: int, half) -> jax.Array:
  """The cube is between the pads and they are closed on it."""
  tcp, cube = task.tcp_pos(data), task.object_pos(data, i)
  between = (jnp.linalg.norm(tcp[:2] - cube[:2]) < 0.8 * half) & (jnp.abs(tcp[2] - cube[2]) < half)
  return between & (task.gripper_opening(data) < 2 * half + 0.006)


def pick_and_place_action(task, state: State, i: int = 0, place=None, placed=None) -> jax.Array:
  """The clean expert action for cube `i`; `place` is where its centre should end up (3,), and
  `placed` says it rests there (both None: lift and hold)."""
  data, half = state.data, state.domain.cube_half_size
  tcp, cube = task.tcp_pos(data), task.object_pos(data, i)
  opening = task.gripper_opening(data)
  open_, close = -1.0, 1.0

  # Not holding it: approach, descend, close.
  off_xy = jnp.linalg.norm(tcp[:2] - cube[:2])
  above = off_xy < ALIGNED
  low = tcp[2] < cube[2] + APPROACH_HEIGHT - 0.02
  at_grasp = above & (tcp[2] < cube[2] + 0.006)
  is_open = opening > 2 * half + 0.025
  approach_xy = jnp.where(low & (off_xy > 0.02), tcp[:2], cube[:2])  # rise before moving sideways
  approach = jnp.concatenate([approach_xy, (cube[2] + APPROACH_HEIGHT)[None]])
  descend = jnp.where(is_open, cube, jnp.concatenate([cube[:2], tcp[2:]]))  # wait to open fully
  target = jnp.where(above, descend, approach)
  grip = jnp.where(at_grasp, close, open_)

  holding = held(task, data, i, half)
  if place is None:  # lift: up, and hold
    carry = jnp.concatenate([tcp[:2], jnp.full(1, CARRY_HEIGHT)])
    target, grip = jnp.where(holding, carry, target), jnp.where(holding, close, grip)
  else:
    # Holding it: up to the carry height, over the target, down, and release.
    over_xy = jnp.linalg.norm(cube[:2] - place[:2]) < 0.006
    offset = tcp - cube  # the hand moves the cube by as much as it moves
    rise = jnp.concatenate([tcp[:2], jnp.full(1, CARRY_HEIGHT)])
    carry = jnp.concatenate([place[:2] + offset[:2], jnp.full(1, CARRY_HEIGHT)])
    lower = place + offset + jnp.array([0.0, 0.0, RELEASE_CLEARANCE])
    high_enough = tcp[2] > CARRY_HEIGHT - 0.015
    carrying = jnp.where(over_xy, lower, jnp.where(high_enough, carry, rise))
    let_go = over_xy & (cube[2] < place[2] + RELEASE_CLEARANCE + 0.004)
    target = jnp.where(holding, carrying, target)
    grip = jnp.where(holding, jnp.where(let_go, open_, close), grip)
    # Resting at the target: open, and go up.
    retreat = jnp.concatenate([tcp[:2], jnp.full(1, CARRY_HEIGHT)])
    target = jnp.where(placed & ~holding, retreat, target)
    grip = jnp.where(placed & ~holding, open_, grip)
  move = jnp.clip((target - tcp) / task.max_delta, -1.0, 1.0)
  return jnp.concatenate([move, jnp.asarray(grip, move.dtype)[None]])
