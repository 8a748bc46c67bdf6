"""Gradient quality of the task gradient at a fixed state of a real run (issue "The learning signal", item 4).

At the state after ``--iterations`` outer iterations of a config (an early state: its model has seen one
region), for each Hessian form:
  (a) the mean pairwise cosine of ``--replicates`` estimates with fresh samples, three ways: the same
      theta_hat, model and real batches with fresh virtual rollouts only ("same theta_hat"); the same
      theta_hat and virtual rollouts with fresh real batches only (the noise of p and the envelopes);
      and a fresh outer step (adaptation, collection and rollouts; "fresh all");
  (b) the estimates' agreement with central finite differences of the true gap under the deterministic
      evaluator (the trajectory optimiser planning on the iteration's model, executed on the true system,
      against the exact V*): cosine of the mean estimate, and the fraction of estimates with the right
      sign per task dimension;
  (c) (a) and (b) per term: envelope difference, implicit term.
Successor of ../shared/measure/{gradient_consistency,implicit_term_consistency,pathwise_hessian}.py.

python -m experiments.gradient_quality --config=experiments/configs/default.py --hessians=pathwise,exact,lvc
"""
import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from admrl_jax.cli.common import checked_choices, checked_folder, define_config, fail, run, start
from admrl_jax.config import ConfigError, build, validate
from admrl_jax.oracles.trajectory import model_planner, trajectory_optimisation_oracle
from admrl_jax.rollout import model_step_fn
from admrl_jax.task_gradient import HESSIANS

_CONFIG = define_config()
_ITER = flags.DEFINE_integer("iterations", 4, "outer iterations before the measured state", lower_bound=0)
_REPS = flags.DEFINE_integer("replicates", 8, "independent estimates per setting (at least 2: their mean pairwise "
                             "cosine)", lower_bound=2)
_HESS = flags.DEFINE_list("hessians", list(HESSIANS), f"Hessian forms to compare, from {list(HESSIANS)}")
_EPS = flags.DEFINE_float("fd_eps", 0.1, "finite-difference step in task units")
_OUT = flags.DEFINE_string("out", "", "write the numbers as JSON here")


def mean_cosine(x):
  x = np.asarray(x, np.float64)
  u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
  c = u @ u.T
  return float(c[~np.eye(len(x), dtype=bool)].mean())


def cosine(a, b):
  return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def check_flags() -> None:
  """Exit 2 naming the flag or field unless the config validates and the flags are usable."""
  try:
    validate(_CONFIG.value)
  except ConfigError as err:
    fail(str(err))
  checked_choices("hessians", _HESS.value, HESSIANS)
  if not _EPS.value > 0:
    fail(f"fd_eps: must be a positive number, got {_EPS.value}")
  if _OUT.value:
    if os.path.isdir(_OUT.value):
      fail(f"out: {_OUT.value!r} is a folder; give the JSON file's path")
    checked_folder("out", os.path.dirname(_OUT.value) or ".")


def main(argv):
  start(argv)
  check_flags()
  t0 = time.time()
  base = _CONFIG.value
  base.unlock()
  base.logging.wandb = "disabled"
  loop, _ = build(base)
  state = loop.init(jax.random.key(base.seed))
  state, _ = jax.jit(loop.run_chunk, static_argnums=1)(state, _ITER.value)
  family, learner = loop.family, loop.learner
  psi = state.psi[0]

  # The state's adapted model (the warm-up of the next step, as the estimator sees it) and the gap's FD.
  k_init, k_warm = jax.random.split(jax.random.fold_in(state.key, 1))
  agents = jax.vmap(learner.agent.init)(jax.random.split(k_init, loop.num_tasks))
  model_hat, hat, _ = jax.jit(learner.slbo_rounds, static_argnums=5)(state.model, agents, state.psi, state.buffer,
                                                                     k_warm, loop.warmup_rounds)
  e, eval_key = base.eval, jax.random.key(base.eval.seed)
  eps = _EPS.value
  psis = jnp.stack([psi + s * eps * d for d in jnp.eye(family.task_dim) for s in (1.0, -1.0)] + [psi])
  v_star, _ = trajectory_optimisation_oracle(family, psis, eval_key, e.episodes, e.oracle_iters)
  real, _, _ = jax.jit(lambda ms, p: model_planner(family, model_step_fn(learner.model, ms, family.env), p, eval_key,
                                                   e.episodes, e.oracle_iters))(model_hat, psis)
  gap = np.asarray(v_star) - np.asarray(real)
  fd = np.array([(gap[2 * i] - gap[2 * i + 1]) / (2 * eps) for i in range(family.task_dim)])
  print(f"state after {_ITER.value} iterations, psi {np.round(np.asarray(psi), 3).tolist()}: planner gap {gap[-1]:.2f}, "
        f"finite-difference gradient {np.round(fd, 2).tolist()} ({time.time() - t0:.0f} s)", flush=True)

  rows = {}
  for hessian in _HESS.value:
    estimator = dataclasses.replace(loop.estimator, hessian=hessian)
    hloop = dataclasses.replace(loop, estimator=estimator)
    # fresh all: the whole outer step with fresh keys (adaptation, collection, rollouts)
    step = jax.jit(lambda s, k: hloop.step(s.replace(key=k))[1])
    fresh = [jax.device_get(step(state, jax.random.fold_in(jax.random.key(99), r))) for r in range(_REPS.value)]
    # same theta_hat: one outer step's theta_hat, model and real batches, fresh virtual rollouts only
    one = jax.tree.map(lambda x: x[0], hat)
    k_col, k_star = jax.random.split(jax.random.key(5))
    real_hat = learner.real_batch(one, k_col, loop.real_episodes)
    real_star = learner.real_batch(one, k_star, loop.real_episodes)  # envelope terms are not varied here
    same = jax.jit(jax.vmap(lambda k: estimator(one, psi, model_hat, k, real_hat, real_star)))(
        jax.random.split(jax.random.key(11), _REPS.value))
    # same theta_hat and virtual rollouts, fresh real batches only: the noise of p (and the envelopes)
    def fresh_real(k):
      k1, k2 = jax.random.split(k)
      return estimator(one, psi, model_hat, jax.random.key(11), learner.real_batch(one, k1, loop.real_episodes),
                       learner.real_batch(one, k2, loop.real_episodes))
    real_only = jax.jit(jax.vmap(fresh_real))(jax.random.split(jax.random.key(12), _REPS.value))
    terms = {
        "gradient": (np.stack([f["task_gradient"][0] for f in fresh]), np.asarray(same[0]), np.asarray(real_only[0])),
        "envelope difference": (np.stack([f["envelope_star"][0] - f["envelope_hat"][0] for f in fresh]),
                                np.asarray(same[1].envelope_star - same[1].envelope_hat),
                                np.asarray(real_only[1].envelope_star - real_only[1].envelope_hat)),
        "implicit term": (np.stack([f["implicit_term"][0] for f in fresh]), np.asarray(same[1].implicit_term),
                          np.asarray(real_only[1].implicit_term)),
    }
    rel = np.array([f["inner_stationarity_rel"][0] for f in fresh])
    for name, (f_all, f_same, f_real) in terms.items():
      row = {"cos_fresh_all": mean_cosine(f_all), "cos_same_theta_hat": mean_cosine(f_same),
             "cos_fresh_real_only": mean_cosine(f_real),
             "cos_mean_vs_fd": cosine(f_all.mean(0), fd) if name == "gradient" else None,
             "sign_agreement": (np.sign(f_all) == np.sign(fd)).mean(0).tolist() if name == "gradient" else None,
             "mean_norm": float(np.linalg.norm(f_all, axis=1).mean())}
      rows[f"{hessian}/{name}"] = row
      print(f"{hessian:8s} {name:20s} cos fresh-all {row['cos_fresh_all']:+.2f}, same-theta_hat "
            f"{row['cos_same_theta_hat']:+.2f}, fresh real batches only {row['cos_fresh_real_only']:+.2f}, "
            f"mean norm {row['mean_norm']:.3g}"
            + (f", cos(mean, FD) {row['cos_mean_vs_fd']:+.2f}, sign agreement per dim {row['sign_agreement']}"
               if name == "gradient" else ""), flush=True)
    rows[f"{hessian}/stationarity_rel"] = {"median": float(np.median(rel)), "max": float(rel.max())}
    print(f"{hessian:8s} inner stationarity relative to the fresh policy: median {np.median(rel):.3f}, "
          f"max {rel.max():.3f} ({time.time() - t0:.0f} s)", flush=True)
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as fh:
      json.dump({"psi": np.asarray(psi).tolist(), "fd": fd.tolist(), "gap": float(gap[-1]), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
  run(main)
