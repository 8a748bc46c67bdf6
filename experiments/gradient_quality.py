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
  (c) (a) and (b) per term: envelope difference, implicit term; and p itself (the real-return policy
      gradient at theta_hat) under fresh real batches: its mean pairwise cosine and its relative spread
      (root-mean-square distance of the estimates from their mean, over the mean's norm).
The real batches are the outer step's: theta_hat's (``task_gradient.p_episodes`` episodes) and theta*'s,
theta* refined from theta_hat by the step's own SLBO stages (``OuterLoop.refine``), with the step's common
random numbers where ``task_gradient.common_random_numbers`` (``OuterLoop.real_pair``). (Before the p-variance
options, theta*'s batch in columns "same theta_hat" and "fresh real batches" was a second batch of theta_hat.)

p's variance options (task_gradient.p_baseline, p_control_variate, p_episodes, common_random_numbers) and the
other task_gradient fields (the damping, ...) are measured at one state with ``--measure_with``: the state is
the config's own run after ``--iterations``, the listed fields are set for the measured estimates only, so a
table with them and one without are of the same state, psi and finite difference. ``--state_cache`` keeps
that state and the finite differences for the next command.
Successor of ../shared/measure/{gradient_consistency,implicit_term_consistency,pathwise_hessian}.py.

python -m experiments.gradient_quality --config=experiments/configs/default.py --hessians=pathwise,exact,lvc
python -m experiments.gradient_quality --config=experiments/configs/default.py --hessians=pathwise \
    --measure_with=p_control_variate=model
"""
import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import flags

from admrl_jax.cli.common import checked_choices, checked_folder, checked_json_out, define_config, fail, run, start
from admrl_jax.config import ConfigError, build, validate
from admrl_jax.oracles.trajectory import model_planner, trajectory_optimisation_oracle
from admrl_jax.rollout import model_step_fn
from admrl_jax.schema import TaskGradient
from admrl_jax.task_gradient import HESSIANS

_CONFIG = define_config()
P_OPTIONS = ("p_baseline", "p_control_variate", "p_episodes", "common_random_numbers")   # p's variance options
_ITER = flags.DEFINE_integer("iterations", 4, "outer iterations before the measured state", lower_bound=0)
_REPS = flags.DEFINE_integer("replicates", 8, "independent estimates per setting (at least 2: their mean pairwise "
                             "cosine)", lower_bound=2)
_HESS = flags.DEFINE_list("hessians", list(HESSIANS), f"Hessian forms to compare, from {list(HESSIANS)}")
_EPS = flags.DEFINE_float("fd_eps", 0.1, "finite-difference step in task units")
_OUT = flags.DEFINE_string("out", "", "write the numbers as JSON here")
_WITH = flags.DEFINE_list("measure_with", [], "task_gradient fields set for the measured estimates only, as "
                          "field=value (e.g. p_control_variate=model,p_episodes=16): the state is the config's own "
                          "run, so a table with them and one without are of the same state, psi and finite difference")
_STATE_CACHE = flags.DEFINE_string("state_cache", "", "an .npz file: the measured state and the finite differences "
                                   "are read from it when it holds those of the same config, --iterations and "
                                   "--fd_eps, else computed and written there "
                                   "(saves the first run's 4 iterations and the oracle: about half of each command)")


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
    build(_CONFIG.value)   # the checks of the built objects too (task_gradient.p_episodes against the loop)
  except ConfigError as err:
    fail(str(err))
  checked_choices("hessians", _HESS.value, HESSIANS)
  if not _EPS.value > 0:
    fail(f"fd_eps: must be a positive number, got {_EPS.value}")
  checked_json_out("out", _OUT.value)
  try:
    measured_config(_CONFIG.value)
  except ValueError as err:   # ConfigError too
    fail(str(err))
  if _STATE_CACHE.value:
    if os.path.isdir(_STATE_CACHE.value):
      fail(f"state_cache: {_STATE_CACHE.value!r} is a folder; give the .npz file's path")
    checked_folder("state_cache", os.path.dirname(_STATE_CACHE.value) or ".")


def measured_config(config):
  """The config with --measure_with's task_gradient fields set (each value parsed as its default's type) and
  checked, and {field: value} of them; raises ConfigError (a ValueError) naming the first bad one."""
  measured = ml_collections.ConfigDict(config.to_dict())
  given = {}
  for item in _WITH.value:
    name, sep, text = item.partition("=")
    if not sep or not hasattr(TaskGradient(), name):
      raise ConfigError(f"measure_with: {item!r}: give field=value with a task_gradient field; allowed fields: "
                        f"{sorted(f.name for f in dataclasses.fields(TaskGradient))}")
    default = getattr(TaskGradient(), name)
    if isinstance(default, bool):
      if text.lower() not in ("true", "false"):
        raise ConfigError(f"measure_with: {name}: must be True or False, got {text!r}")
      value = text.lower() == "true"
    else:
      try:
        value = type(default)(text)
      except ValueError:
        kind = {"int": "an integer", "float": "a number"}.get(type(default).__name__, type(default).__name__)
        raise ConfigError(f"measure_with: {name}: must be {kind}, got {text!r}") from None
    measured.task_gradient[name] = given[name] = value
  validate(measured)
  build(measured)   # the checks of the built objects (task_gradient.p_episodes against the loop)
  return measured, given


def _is_key(x):
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def cached_state(state_loop, config):
  """(the state after --iterations outer iterations, the planner gaps at the finite-difference tasks, or None
  where still to compute) from --state_cache when it holds those of this config; else the state, computed."""
  template = state_loop.init(jax.random.key(config.seed))
  leaves, treedef = jax.tree.flatten(template)
  path = _STATE_CACHE.value
  if path and os.path.exists(path):
    with np.load(path) as f:
      if str(f["tag"]) == _cache_tag(config):
        loaded = [jax.random.wrap_key_data(f[f"leaf{i}"], impl=jax.random.key_impl(x)) if _is_key(x)
                  else jnp.asarray(f[f"leaf{i}"]) for i, x in enumerate(leaves)]
        print(f"state and finite differences read from {path}", flush=True)
        return jax.tree.unflatten(treedef, loaded), np.asarray(f["gap"])
      print(f"{path} holds another config's state: computing it again", flush=True)
  state, _ = jax.jit(state_loop.run_chunk, static_argnums=1)(template, _ITER.value)
  return state, None


def _cache_tag(config):
  return json.dumps({"config": config.to_dict(), "iterations": _ITER.value, "fd_eps": _EPS.value}, sort_keys=True,
                    default=str)


def save_state(config, state, gap):
  """Write the state and the planner gaps to --state_cache (``cached_state`` reads them)."""
  data = {f"leaf{i}": np.asarray(jax.random.key_data(x) if _is_key(x) else x)
          for i, x in enumerate(jax.tree.leaves(state))}
  path = _STATE_CACHE.value
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "wb") as fh:
    np.savez(fh, tag=np.asarray(_cache_tag(config)), gap=gap, **data)


def warm_up(loop, state):
  """The state's adapted model and theta_hat (the warm-up of the next step, as the estimator sees it)."""
  learner = loop.learner
  k_init, k_warm = jax.random.split(jax.random.fold_in(state.key, 1))
  agents = jax.vmap(learner.agent.init)(jax.random.split(k_init, loop.num_tasks))
  model_hat, hat, _ = jax.jit(learner.slbo_rounds, static_argnums=5)(state.model, agents, state.psi, state.buffer,
                                                                     k_warm, loop.warmup_rounds)
  return model_hat, hat


def planner_gaps(loop, config, model_hat, psis):
  """The deterministic evaluator's gap at psis: the exact V* minus the return of the trajectory optimiser
  planning on the state's adapted model, executed on the true system."""
  family, learner = loop.family, loop.learner
  e, eval_key = config.eval, jax.random.key(config.eval.seed)
  v_star, _ = trajectory_optimisation_oracle(family, psis, eval_key, e.episodes, e.oracle_iters)
  real, _, _ = jax.jit(lambda ms, p: model_planner(family, model_step_fn(learner.model, ms, family.env), p, eval_key,
                                                   e.episodes, e.oracle_iters))(model_hat, psis)
  return np.asarray(v_star) - np.asarray(real)


def main(argv):
  start(argv)
  check_flags()
  t0 = time.time()
  base = _CONFIG.value
  base.unlock()
  base.logging.wandb = "disabled"
  loop, _ = build(base)
  measured, given = measured_config(base)
  mloop, _ = build(measured)       # the measured estimator's loop (its outer step, its real batches)
  print(f"measured with task_gradient {given or 'as configured'} (the state: the config's own run); real episodes "
        f"per task: theta_hat {mloop.episode_counts[0]}, each later collection {mloop.episode_counts[1]}", flush=True)
  family = loop.family
  state, gap = cached_state(loop, base)
  psi = state.psi[0]
  model_hat, hat = warm_up(loop, state)   # the state's adapted model: the one the estimator and the FD see
  eps = _EPS.value
  if gap is None:
    psis = jnp.stack([psi + s * eps * d for d in jnp.eye(family.task_dim) for s in (1.0, -1.0)] + [psi])
    gap = planner_gaps(loop, base, model_hat, psis)
    if _STATE_CACHE.value:
      save_state(base, state, gap)
  fd = np.array([(gap[2 * i] - gap[2 * i + 1]) / (2 * eps) for i in range(family.task_dim)])
  print(f"state after {_ITER.value} iterations, psi {np.round(np.asarray(psi), 3).tolist()}: planner gap {gap[-1]:.2f}, "
        f"finite-difference gradient {np.round(fd, 2).tolist()} ({time.time() - t0:.0f} s)", flush=True)

  # theta*: the step's SLBO stages from theta_hat (on the state's buffer, from the warm-up model)
  k_stages, k_star = jax.random.split(jax.random.fold_in(state.key, 2))
  star = jax.jit(mloop.refine)(state.replace(model=model_hat), state.psi, hat, k_stages, k_star)[1]

  rows = {}
  for hessian in _HESS.value:
    estimator = dataclasses.replace(mloop.estimator, hessian=hessian)
    hloop = dataclasses.replace(mloop, estimator=estimator)
    # fresh all: the whole outer step with fresh keys (adaptation, collection, rollouts)
    step = jax.jit(lambda s, k: hloop.step(s.replace(key=k))[1])
    fresh = [jax.device_get(step(state, jax.random.fold_in(jax.random.key(99), r))) for r in range(_REPS.value)]
    # same theta_hat: one outer step's theta_hat, model and real batches, fresh virtual rollouts only
    one, star_one = jax.tree.map(lambda x: x[0], hat), jax.tree.map(lambda x: x[0], star)
    real_hat, real_star = hloop.real_pair(one, star_one, *jax.random.split(jax.random.key(5)))
    same_est = jax.jit(jax.vmap(lambda k: (estimator(one, psi, model_hat, k, real_hat, real_star),
                                           estimator.terms(one, psi, model_hat, k, real_hat)[2])))
    same, p_same = same_est(jax.random.split(jax.random.key(11), _REPS.value))
    # same theta_hat and virtual rollouts, fresh real batches only: the noise of p (and the envelopes)
    def fresh_real(k):
      rh, rs = hloop.real_pair(one, star_one, *jax.random.split(k))
      return (estimator(one, psi, model_hat, jax.random.key(11), rh, rs),
              estimator.terms(one, psi, model_hat, jax.random.key(11), rh)[2])
    real_only, p_real = jax.jit(jax.vmap(fresh_real))(jax.random.split(jax.random.key(12), _REPS.value))
    p_real = np.asarray(p_real, np.float64)
    p_mean = p_real.mean(0)
    p_spread = float(np.sqrt(np.mean(np.sum((p_real - p_mean) ** 2, axis=1))) / max(np.linalg.norm(p_mean), 1e-30))
    p_norm = float(np.linalg.norm(p_real, axis=1).mean())
    rows[f"{hessian}/p"] = {"cos_same_theta_hat": mean_cosine(p_same), "cos_fresh_real_only": mean_cosine(p_real),
                            "rel_spread_fresh_real_only": p_spread, "mean_norm": p_norm}
    print(f"{hessian:8s} {'p':20s} same-theta_hat {mean_cosine(p_same):+.2f}, fresh real batches only "
          f"{mean_cosine(p_real):+.2f}, relative spread {p_spread:.2f}, mean norm {p_norm:.3g}", flush=True)
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
             "cos_mean_fresh_real_vs_fd": cosine(f_real.mean(0), fd) if name == "gradient" else None,
             "sign_agreement_fresh_real": (np.sign(f_real) == np.sign(fd)).mean(0).tolist() if name == "gradient"
                                          else None,
             "mean_norm": float(np.linalg.norm(f_all, axis=1).mean())}
      rows[f"{hessian}/{name}"] = row
      print(f"{hessian:8s} {name:20s} cos fresh-all {row['cos_fresh_all']:+.2f}, same-theta_hat "
            f"{row['cos_same_theta_hat']:+.2f}, fresh real batches only {row['cos_fresh_real_only']:+.2f}, "
            f"mean norm {row['mean_norm']:.3g}"
            + (f", cos(mean, FD) {row['cos_mean_vs_fd']:+.2f}, sign agreement per dim {row['sign_agreement']} "
               f"(fresh real batches only: cos(mean, FD) {row['cos_mean_fresh_real_vs_fd']:+.2f}, sign agreement "
               f"{row['sign_agreement_fresh_real']})" if name == "gradient" else ""), flush=True)
    rows[f"{hessian}/stationarity_rel"] = {"median": float(np.median(rel)), "max": float(rel.max())}
    print(f"{hessian:8s} inner stationarity relative to the fresh policy: median {np.median(rel):.3f}, "
          f"max {rel.max():.3f} ({time.time() - t0:.0f} s)", flush=True)
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as fh:
      json.dump({"psi": np.asarray(psi).tolist(), "fd": fd.tolist(), "gap": float(gap[-1]), "measure_with": given,
                 "p_options": {name: measured.task_gradient[name] for name in P_OPTIONS},
                 "episode_counts": list(mloop.episode_counts), "rows": rows}, fh,
                indent=2)


if __name__ == "__main__":
  run(main)
