"""Delta end-effector control for the arm: damped-least-squares inverse kinematics on MJX's Jacobian.

Each control step turns a Cartesian command (move the tool centre point by dx, keep the hand
pointing down at a fixed yaw) into joint position targets, as MuJoCo Playground's
PandaPickCubeCartesian and robosuite's OSC controller present an arm to a policy:

  dq = J^T (J J^T + lambda^2 I)^-1 e  +  (I - J^+ J) k (q_rest - q)

with J the 6x7 Jacobian of the tool centre point (position and rotation rows), e the 6-d
error (position, and rotation as the axis-angle-like vector 0.5 sum_i r_i x r*_i), and a
null-space pull towards a rest posture so the redundant 7th degree of freedom does not drift
over an episode. One linear solve of a 6x6 system per step: cheap next to the physics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from mujoco import mjx

# The hand pointing straight down, fingers closing along world y: columns are the tool frame's
# x, y, z axes in the world (z is the approach direction).
HAND_DOWN = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))


def orientation_error(rot: jax.Array, target: jax.Array) -> jax.Array:
  """(3,) rotation taking `rot` towards `target` (both 3x3, columns are axes), small-angle form."""
  return 0.5 * jnp.sum(jnp.cross(rot.T, target.T), axis=0)


def dls_step(jac: jax.Array, error: jax.Array, q: jax.Array, q_rest: jax.Array, damping: float = 0.05,
             null_gain: float = 0.1) -> jax.Array:
  """Joint change (n,) that moves a task-space error (6,) towards zero; jac is (6, n)."""
  jjt = jac @ jac.T + damping**2 * jnp.eye(jac.shape[0])
  dq = jac.T @ jnp.linalg.solve(jjt, error)
  # Null-space projector from the same damped pseudo-inverse.
  pinv = jac.T @ jnp.linalg.solve(jjt, jnp.eye(jac.shape[0]))
  null = jnp.eye(jac.shape[1]) - pinv @ jac
  return dq + null @ (null_gain * (q_rest - q))


def tool_jacobian(model: mjx.Model, data: mjx.Data, point: jax.Array, body: int, dofs: slice) -> jax.Array:
  """(6, n) Jacobian (position rows, then rotation rows) of a point on `body`, over joints `dofs`."""
  jacp, jacr = mjx.jac(model, data, point, body)
  return jnp.concatenate([jacp[dofs].T, jacr[dofs].T])
