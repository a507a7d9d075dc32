"""A policy scored on recorded episodes, teacher-forced: what a person with only real data
evaluates with (`python -m gdacot.evaluate --workdir=W --data=PATH`).

Every frame of every episode is fed to the policy as training fed it (the recorded history of
`obs_horizon` observations, the cameras resized as at load, the checkpoint's normaliser), and
the predicted chunk of `chunk` actions is compared with the recorded actions from that frame on
(the last recorded action repeated past an episode's end, as the training chunks are). The
output holds, per episode and over all frames: the MSE of the first predicted action (the one a
robot executes first) per action dimension and on average, and the MSE at each position of the
chunk (how the error grows along a chunk). No MJX scene is needed.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gdacot.align import DOMAIN_LABELS
from gdacot.data import Dataset, KeyMap
from gdacot.data.sources import load
from gdacot.train.restore import RestoredPolicy

BATCH = 256  # frames per compiled call


def key_map_for(cfg, domain: str, **overrides) -> KeyMap:
  """The key map the run read `domain` with (its `sources` block), with `overrides` (None: kept)."""
  fields = dict(cfg.sources[domain]) if "sources" in cfg else {}
  keys = KeyMap.from_config({**dataclasses.asdict(KeyMap()), **{k: v for k, v in fields.items()
                                                                 if k in dataclasses.asdict(KeyMap())}})
  return dataclasses.replace(keys, **{k: v for k, v in overrides.items() if v is not None})


def score(restored: RestoredPolicy, path: str, key_map: KeyMap, *, domain: str = "real", fmt: str | None = None,
          plot_episodes: int = 0) -> tuple[dict, dict]:
  """Scores the restored policy on the dataset at `path`; returns (the JSON report, predicted and
  recorded first actions of the first `plot_episodes` episodes, for a figure)."""
  cfg, spec = restored.cfg, restored.spec
  image = spec.get("image_shape")
  image_size = None if image is None else (int(image[0]), int(cfg.render.width))
  data = load(path, key_map, fmt, min_length=1, image_size=image_size)
  if data.obs_size != spec["obs_size"] or data.action_size != spec["action_size"]:
    raise ValueError(f"{path} [{key_map.split}] gives states of {data.obs_size} and actions of {data.action_size} "
                     f"dimensions (after the key map), the policy takes {spec['obs_size']} and acts in "
                     f"{spec['action_size']}: set the state/action keys and slices the run trained with")
  if image is not None and not key_map.image_keys:
    raise ValueError("the policy takes camera images: give the dataset's cameras (image_keys) in the order of "
                     "the run's views")
  dataset = Dataset.create(data.demos, restored.normalizer, int(cfg.obs_horizon), int(cfg.chunk))
  graphdef = restored.graphdef
  guidance = float(cfg.domain_label.guidance)  # read by label-conditioned policies only

  @jax.jit
  def predict(params, dataset, episode, t, key):
    batch = dataset.gather(episode, t)
    policy = nnx.merge(graphdef, params)
    return policy.act(batch.obs, key, DOMAIN_LABELS[domain], guidance), batch.actions

  frames = np.asarray(dataset.frames)
  predicted, recorded = [], []
  for i in range(0, len(frames), BATCH):
    part = frames[i:i + BATCH]
    pad = BATCH - len(part)  # one compile: the last batch is padded with its first frame
    part = np.concatenate([part, np.repeat(part[:1], pad, axis=0)])
    p, r = predict(restored.params, dataset, jnp.asarray(part[:, 0]), jnp.asarray(part[:, 1]), jax.random.PRNGKey(i))
    predicted.append(np.asarray(p)[:BATCH - pad])
    recorded.append(np.asarray(r)[:BATCH - pad])
  predicted, recorded = np.concatenate(predicted), np.concatenate(recorded)  # (N, chunk, A)
  squared = np.square(predicted - recorded)
  episodes = []
  for e in range(data.demos.num_episodes):
    mask = frames[:, 0] == e
    first = squared[mask, 0]
    episodes.append({"episode": e, "frames": int(mask.sum()), "first_action_mse": float(first.mean()),
                     "first_action_mse_per_dim": first.mean(0).tolist()})
  report = {"dataset": {"path": data.path, "split": data.split, "format": data.format, "episodes": len(episodes),
                        "frames": int(len(frames))},
            "first_action_mse": float(squared[:, 0].mean()),
            "first_action_mse_per_dim": squared[:, 0].mean(0).tolist(),
            "chunk_mse_by_position": squared.mean(axis=(0, 2)).tolist(),
            "chunk_mse": float(squared.mean()),
            "episodes": episodes}
  traces = {}
  for e in range(min(plot_episodes, len(episodes))):
    mask = frames[:, 0] == e
    traces[e] = (predicted[mask, 0], recorded[mask, 0])
  return report, traces


def plot(traces: dict, path: str) -> None:
  """Predicted against recorded first actions over time, one row per episode, one column per
  action dimension."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  from gdacot import io  # pylint: disable=g-import-not-at-top
  rows, dims = len(traces), next(iter(traces.values()))[0].shape[1]
  fig, axes = plt.subplots(rows, dims, figsize=(2.4 * dims, 1.8 * rows), squeeze=False, sharex="row")
  for r, (e, (pred, rec)) in enumerate(traces.items()):
    for d in range(dims):
      ax = axes[r, d]
      ax.plot(rec[:, d], color="0.3", lw=1.2, label="recorded")
      ax.plot(pred[:, d], color="tab:red", lw=1.0, label="predicted")
      ax.set_title(f"episode {e}, action {d}", fontsize=8)
      ax.tick_params(labelsize=7)
  axes[0, 0].legend(fontsize=7)
  fig.tight_layout()
  with io.replacing(os.path.abspath(path)) as tmp:
    fig.savefig(tmp, dpi=100)
  plt.close(fig)
