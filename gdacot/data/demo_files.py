"""Demos as .npz files: the demo cache's entries and the copy a run keeps in its workdir.

One array per leaf: `obs/` for a state-vector observation, or `obs/state` and `obs/image` (and
any other observation entry), plus `actions` and `lengths`. Plain numpy arrays, no pickle.
"""

from __future__ import annotations

import os
import zipfile

import jax.numpy as jnp
import numpy as np

from gdacot import io
from gdacot.data import observations
from gdacot.data.demos import Demos

# What reading a damaged or foreign file raises.
READ_ERRORS = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)


def write(path: str, demos: Demos) -> None:
  """Writes `demos` to `path`, compressed, whole or not at all and flushed to the disk before it
  takes the name (gdacot.io): runs in parallel, a run killed while writing, or a power cut never
  leave a partial file under `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  obs = demos.obs if isinstance(demos.obs, dict) else {"": demos.obs}
  arrays = {f"obs/{k}": np.asarray(v) for k, v in obs.items()}
  arrays.update(actions=np.asarray(demos.actions), lengths=np.asarray(demos.lengths))
  with io.open_atomic(path, "wb") as f:
    np.savez_compressed(f, **arrays)


def read(path: str) -> Demos:
  """The demos in `path`; raises one of READ_ERRORS when it is missing, damaged or not demos."""
  with np.load(path, allow_pickle=False) as f:
    obs_keys = [k for k in f.files if k.startswith("obs/")]
    if not obs_keys:
      raise KeyError(f"{path} holds no observations (arrays: {f.files})")
    obs = f["obs/"] if obs_keys == ["obs/"] else {k[4:]: f[k] for k in obs_keys}
    return Demos(obs=observations.stored(obs), actions=jnp.asarray(f["actions"]), lengths=jnp.asarray(f["lengths"]))
