"""Every method of the registry: its parts (gradient reversal, CFG guidance) and a few
training steps of each, on every task."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from runs import module

from experiments.configs.cotrain import get_config
from gdacot.align import DOMAIN_LABELS, METHODS, gradient_reversal
from gdacot.models import make_policy

DESIGN_METHODS = ["real_only", "sim_only", "cotrain", "mmd", "ot_marginal", "ot_joint", "uot_joint", "adda",
                  "cfg", "cfg_adda"]


def test_registry_holds_every_method_of_the_design():
  assert sorted(METHODS) == sorted(DESIGN_METHODS)
  assert METHODS["cfg_adda"].domain_label and METHODS["cfg_adda"].discriminator
  assert METHODS["cfg"].domain_label and not METHODS["cfg"].discriminator
  assert METHODS["adda"].discriminator and not METHODS["adda"].domain_label


def test_gradient_reversal_flips_the_encoders_gradient():
  x = jnp.array([0.3, -1.2, 2.0])
  f = lambda x: jnp.sum(jnp.sin(x) * x)
  assert np.allclose(gradient_reversal(x), x)  # identity forward
  np.testing.assert_allclose(jax.grad(lambda x: f(gradient_reversal(x)))(x), -jax.grad(f)(x), rtol=1e-6)


def test_adversarial_loss_reverses_encoder_gradient_but_not_discriminators():
  cfg = get_config("smoke")
  policy = make_policy(cfg.model, obs_size=8, action_size=3, obs_horizon=2, chunk=4, seed=0, discriminator=True)
  graphdef, params = nnx.split(policy, nnx.Param)
  obs = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 2, 8))
  method = METHODS["adda"]

  def loss(params, reverse):
    p = nnx.merge(graphdef, params)
    z_sim, z_real = p.features(obs[0]), p.features(obs[1])
    if reverse:
      return method.align(z_sim, z_real, None, None, cfg.align, p)[0]
    # The same loss without the reversal layer, written out.
    ls, lr = p.discriminator(z_sim), p.discriminator(z_real)
    import optax
    return 0.5 * (optax.sigmoid_binary_cross_entropy(ls, 0.0).mean()
                  + optax.sigmoid_binary_cross_entropy(lr, 1.0).mean())

  g_rev, g_plain = jax.grad(loss)(params, True), jax.grad(loss)(params, False)
  for a, b in zip(jax.tree.leaves(g_rev.encoder), jax.tree.leaves(g_plain.encoder)):
    np.testing.assert_allclose(a, -b, rtol=1e-5, atol=1e-7)
  for a, b in zip(jax.tree.leaves(g_rev.discriminator), jax.tree.leaves(g_plain.discriminator)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert any(np.abs(a).max() > 0 for a in jax.tree.leaves(g_rev.encoder))


@pytest.mark.parametrize("head", ["mlp", "diffusion", "flow"])
def test_cfg_with_zero_guidance_is_the_conditional_model(head):
  cfg = get_config("smoke")
  cfg.model.head = head
  policy = make_policy(cfg.model, obs_size=8, action_size=3, obs_horizon=2, chunk=4, seed=0, num_domain_labels=2)
  obs = jax.random.normal(jax.random.PRNGKey(1), (5, 2, 8))
  key = jax.random.PRNGKey(2)
  real = DOMAIN_LABELS["real"]
  conditional = policy.head.sample(policy.condition(policy.features(obs), jnp.full(5, real)), key)
  np.testing.assert_array_equal(policy.act(obs, key, real, 0.0), conditional)
  # Guidance changes the actions, and the label matters.
  assert not np.allclose(policy.act(obs, key, real, -0.5), conditional)
  assert not np.allclose(policy.act(obs, key, DOMAIN_LABELS["sim"], 0.0), conditional)


# A few steps of every method, each on one task: a method changes only the train step and a task
# only the environment, so every method and every task (one to five methods each) train at a
# quarter of the cost of all forty pairs. Alignment methods also pair their OT batches by DTW (the
# default). They run in this process through `gdacot.train.train`, the function the command line
# wraps (test_cotrain_cli runs the command itself): a subprocess per case paid for importing and
# starting JAX ten times.
TASK_ORDER = ("push_cube", "lift", "stack", "pick_place")
# The generative heads train with the methods that need guidance (cfg_adda) and the main one
# (uot_joint); every other method, and uot_joint in most other tests, trains the MLP head.
_HEADS = {"cfg_adda": "diffusion", "uot_joint": "flow"}
# The arm tasks train the methods whose policy is the plain MLP, so a task's runs share one
# evaluation program; the policies with another shape (a generative head, a domain label, a
# discriminator among the parameters) train on push_cube, whose programs compile in about 4 s
# where an arm task's take 15-20 s (BUILD_NOTES, "The suite under 15 minutes").
_TASKS = {"real_only": "push_cube", "sim_only": "lift", "cotrain": "stack", "mmd": "pick_place", "ot_marginal": "stack",
          "ot_joint": "lift", "uot_joint": "push_cube", "adda": "push_cube", "cfg": "push_cube", "cfg_adda": "push_cube"}
CASES = [(m, _HEADS.get(m, "mlp"), _TASKS[m]) for m in DESIGN_METHODS]
# Demos and evaluation at one batch size: the evaluation rollout then reuses the demo rollout's
# batched traces of the task's reset and step (vmap batches a traced function anew for every
# batch size): lift's first run lost its evaluation trace, 7.3 s of CPU.
_FEW_STEPS = {"steps": 10, "log_every": 5, "ckpt_every": 10, "ckpt_eval.episodes": 0, "best_metric": "",
              "keep_best": 0, "eval.episodes": 4, "eval.batch_size": 4, "data.demo_batch": 4,
              "eval.pairs": ("real:in", "real:ood"), "analysis.frames": 32}
_EXPECTED_METRICS = {"mmd": "mmd2", "ot_marginal": "ot_mass", "ot_joint": "ot_mass", "uot_joint": "ot_mass",
                     "adda": "adv_disc_accuracy", "cfg_adda": "adv_disc_accuracy"}


def test_every_method_and_every_task_meet_in_the_cases():
  assert {m for m, _, _ in CASES} == set(DESIGN_METHODS) and {t for _, _, t in CASES} == set(TASK_ORDER)
  assert {h for _, h, _ in CASES} == {"mlp", "diffusion", "flow"}


def _config(task, method, head):
  from gdacot.train import get_config  # pylint: disable=g-import-not-at-top
  cfg = get_config(f"smoke,{task}")
  for field, value in {**_FEW_STEPS, "method": method, "model.head": head}.items():
    *groups, name = field.split(".")
    node = cfg
    for g in groups:
      node = node[g]
    node[name] = value
  return cfg


@pytest.fixture(scope="module", autouse=True)
def no_trace_cache():
  """These runs trace their tasks at a batch size of their own, so no other test would load
  what they exported: the trace cache (gdacot.envs.batched) would only add its exports (12-27 s
  an arm task). In this process later runs reuse the traces of the first anyway (one task
  object per task)."""
  mp = pytest.MonkeyPatch()
  mp.delenv("GDACOT_TRACE_CACHE", raising=False)
  yield
  mp.undo()


@pytest.mark.parametrize("method,head,task", CASES)
def test_every_method_trains_on_its_task_without_nan(tmp_path, method, head, task):
  from gdacot.train import train  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "run")
  train(_config(task, method, head), workdir)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [5, 10]
  for r in rows:
    assert all(np.isfinite(v) for k, v in r.items() if isinstance(v, float)), r
    if method in _EXPECTED_METRICS:
      assert _EXPECTED_METRICS[method] in r
  with open(os.path.join(workdir, "eval.json")) as f:
    out = json.load(f)
  assert {(r["method"], r["domain"], r["region"]) for r in out["results"]} == {
      (method, "real", "in"), (method, "real", "ood")}
  assert 0.0 <= out["alignment"]["discernibility"] <= 1.0 and out["alignment"]["wasserstein"] >= 0.0
  assert os.path.exists(os.path.join(workdir, "analysis", "features.npz"))
  aligned = METHODS[method].align is not None
  assert os.path.exists(os.path.join(workdir, "pairing.npz")) == aligned
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["task"] == task
  if method == "cfg":  # the evaluation CLI acts with the run's guidance, or --guidance
    out_path = str(tmp_path / "eval_g0.json")
    proc = module("gdacot.evaluate", f"--workdir={workdir}", "--domain=real", "--region=in", "--episodes=4",
                  f"--out={out_path}", "--guidance=0.0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out_path) as f:
      assert json.load(f)["results"][0]["guidance"] == 0.0
