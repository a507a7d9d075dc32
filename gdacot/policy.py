"""A checkpoint as a robot's policy: `load(workdir)` -> `Policy` with `spec`, `reset()`, `act(obs)`.

    from gdacot.policy import load
    policy = load("runs/robot", step="best", domain="real")
    print(policy.spec)        # {"observation.state": ((11,), float32), "observation.images.front": ((16, 16, 3), uint8), ...}
    policy.reset()            # a new episode
    while True:
      action = policy.act({"observation.state": state, "observation.images.front": frame, ...})

`act` applies what training applied, in the same order: each camera frame (uint8, any size) is
resized with the training resize (gdacot/data/sources/images.py) and the cameras laid side by
side; the state is normalised with the checkpoint's normaliser; the last `obs_horizon`
observations form the history (the first repeated at an episode's start); the EMA parameters
predict a chunk of `chunk` actions, of which the first `execute` are returned one per call
before the next prediction (receding horizon, as `gdacot.rollout` runs it); label-conditioned
policies (cfg, cfg_adda) act with `domain`'s label and the run's guidance. Actions come out in
the units the policy was trained on. One compile per Policy; every later call reuses it.

Observation names are the domain's own: a domain read from a dataset takes its `state_key` and
`image_keys` (e.g. `observation.state`, `observation.images.front`); a domain generated in MJX
takes `state` and the task's camera views (`front`, `wrist`).
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gdacot.align import DOMAIN_LABELS
from gdacot.data.sources.images import resize_frames
from gdacot.train.restore import RestoredPolicy, RunError, restore_policy


class ObservationError(ValueError):
  """An observation the policy cannot take, naming the key."""


def observation_names(cfg, domain: str, num_cameras: int) -> tuple[str, tuple[str, ...]]:
  """(state name, camera names) of `domain`'s observations, as the run saw them."""
  sources = cfg.get("sources", {}).get(domain, {})
  mixture = tuple(sources.get("mixture") or ())
  from_dataset = bool(str(cfg.get(f"{domain}_data") or "")) or bool(mixture)
  if from_dataset:
    first = {**dict(sources), **dict(mixture[0])} if mixture else dict(sources)
    return str(first["state_key"]), tuple(str(k) for k in first["image_keys"])[:num_cameras]
  views = cfg.render.get("views", None) if num_cameras else ()
  if not views and num_cameras:
    from gdacot.envs import get_task  # pylint: disable=g-import-not-at-top
    views = get_task(cfg.task).default_views
  return "state", tuple(views or ())


class Policy:
  """One policy, one episode at a time (see the module doc)."""

  def __init__(self, restored: RestoredPolicy, domain: str = "real", seed: int = 0):
    if domain not in DOMAIN_LABELS:
      raise RunError(f"domain must be one of {sorted(DOMAIN_LABELS)}, got {domain!r}")
    cfg, spec = restored.cfg, restored.spec
    self.step, self.domain, self.config = restored.step, domain, cfg
    self.obs_horizon, self.chunk, self.execute = int(cfg.obs_horizon), int(cfg.chunk), int(cfg.execute)
    self.action_size = int(spec["action_size"])
    image = spec.get("image_shape")  # (height, width x cameras, channels) as trained
    self._image_size, cameras = None, 0
    if image is not None:
      self._image_size = (int(image[0]), int(cfg.render.width))
      cameras = int(image[1]) // self._image_size[1]
    self._state_name, self._cameras = observation_names(cfg, domain, cameras)
    if len(self._cameras) != cameras:
      raise RunError(f"the checkpoint's policy sees {cameras} camera(s), but the run names {self._cameras} "
                     f"for domain {domain!r}")
    self.spec = {self._state_name: ((int(spec["obs_size"]),), np.dtype(np.float32))}
    self.spec.update({name: ((*self._image_size, 3), np.dtype(np.uint8)) for name in self._cameras})
    # Label and guidance act only on label-conditioned policies (models/policy.py ignores them otherwise).
    self._label = jnp.int32(DOMAIN_LABELS[domain])
    self._guidance = jnp.float32(cfg.domain_label.guidance)
    self._params, self._normalizer = restored.params, restored.normalizer
    graphdef = restored.graphdef

    @jax.jit
    def predict(params, normalizer, history, key, label, guidance):
      policy = nnx.merge(graphdef, params)
      return policy.act(jax.tree.map(lambda h: h[None], normalizer(history)), key, label, guidance)[0]

    self._predict = predict
    self.reset(seed)

  def fork(self) -> "Policy":
    """A Policy with its own episode that shares this one's parameters and compiled step (a
    server gives each connection one)."""
    other = copy.copy(self)
    other.reset()
    return other

  def reset(self, seed: int | None = None) -> None:
    """Starts an episode: the history and the queue of actions are emptied. `seed` keys the
    noise of generative heads (diffusion, flow); the MLP head has none."""
    if seed is not None:
      self._key = jax.random.PRNGKey(seed)
    self._history = None
    self._queue: list[np.ndarray] = []
    self._plans = 0

  def act(self, obs: dict) -> np.ndarray:
    """The next action (action_size,) float32 for the current observation."""
    x = self._observation(obs)
    if self._history is None:  # an episode's first frame fills the history, as in training
      self._history = jax.tree.map(lambda v: np.repeat(v[None], self.obs_horizon, axis=0), x)
    else:
      self._history = jax.tree.map(lambda h, v: np.concatenate([h[1:], v[None]]), self._history, x)
    if not self._queue:
      key = jax.random.fold_in(self._key, self._plans)
      chunk = np.asarray(self._predict(self._params, self._normalizer, self._history, key, self._label,
                                       self._guidance))
      self._queue = list(chunk[:self.execute])
      self._plans += 1
    return self._queue.pop(0)

  def _observation(self, obs) -> np.ndarray | dict:
    if not isinstance(obs, dict):
      raise ObservationError(f"obs must be a dict of {sorted(self.spec)}, got {type(obs).__name__}")
    missing = [k for k in self.spec if k not in obs]
    if missing:
      raise ObservationError(f"observation {missing[0]!r} is missing; the policy takes {sorted(self.spec)}")
    state = np.asarray(obs[self._state_name])
    (size,), _ = self.spec[self._state_name]
    if state.dtype.kind not in "fiu" or state.shape != (size,):
      raise ObservationError(f"observation {self._state_name!r}: shape {state.shape} dtype {state.dtype}, the "
                             f"policy takes ({size},) floats")
    if not np.all(np.isfinite(state)):
      raise ObservationError(f"observation {self._state_name!r} holds NaN or Inf: {state}")
    state = state.astype(np.float32)
    if not self._cameras:
      return state
    frames = []
    for name in self._cameras:
      frame = np.asarray(obs[name])
      if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] not in (1, 3, 4):
        raise ObservationError(f"observation {name!r}: shape {frame.shape} dtype {frame.dtype}, the policy takes a "
                               "uint8 camera frame (height, width, 1/3/4 channels) of any size")
      frames.append(resize_frames(frame[None], *self._image_size)[0])
    return {"state": state, "image": np.concatenate(frames, axis=1)}


def load(workdir: str, step: str | int = "best", *, domain: str = "real", seed_index: int = 0,
         params: str = "ema", seed: int = 0) -> Policy:
  """The policy of `workdir`'s checkpoint `step` ("best": the best kept by the run's
  best_metric; "latest"; or a number), acting in `domain`, of seed `seed_index` of a run of
  several seeds. Raises RunError or CheckpointError (ValueErrors naming the problem)."""
  return Policy(restore_policy(workdir, step, seed_index=seed_index, params=params), domain, seed=seed)
