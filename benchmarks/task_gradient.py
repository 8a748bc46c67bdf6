"""Figure 3, task-gradient cost: the wall time of the implicit task gradient (theta_hat's virtual batch
plus the estimator: J by forward mode, p, one CG solve) over one TRPO update on the model (its virtual
batch plus the update), on PointMass2D at the ``cpu`` config after a short adaptation. Beside it, the
same gradient the reference's way: 200 CG iterations per psi dimension, one dimension after another,
each iteration a call from a host loop. And the CG iterate's relative error against the exact solve of
the same damped normal equations (float64, explicit H) at each iteration count, to choose the count."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from admrl_jax.config import build
from admrl_jax.linear_solve import conjugate_gradient
import statistics

from benchmarks.common import figure_main, interleaved_seconds, median_ratio
from experiments.configs.point_mass_cpu import get_config

GOAL = 1.0
REFERENCE_CG_ITERS = 200
CG_COUNTS = (1, 2, 5, 10, 20, 50, 100, 200)


def adapted_problem(quick: bool):
  """A learner adapted for a few rounds on a model fitted to random-action data, and its batches."""
  config = get_config()
  config.loop.warmup_rounds = 1 if quick else 3
  loop, _ = build(config)
  learner = loop.learner
  state = loop.init(jax.random.key(0))
  agents = jax.vmap(learner.agent.init)(jax.random.split(jax.random.key(1), 1))
  psi = state.psi
  model, agents, _ = jax.jit(lambda m, a: learner.slbo_rounds(m, a, psi, state.buffer, jax.random.key(2),
                                                               loop.warmup_rounds))(state.model, agents)
  hat = jax.tree.map(lambda x: x[0], agents)
  real_hat = learner.real_batch(hat, jax.random.key(3), loop.real_episodes)
  real_star = learner.real_batch(hat, jax.random.key(4), loop.real_episodes)
  return loop, model, hat, psi[0], real_hat, real_star


def reference_way(estimator, hat, psi, model_traj, real_hat, real_star, iters: int):
  """The task gradient with k sequential host-loop CG solves of the damped normal equations, one per
  column J_j: every matrix-vector product is a separate jitted call (as a TF session.run per step)."""
  cfg, n_params = estimator.solver, ravel_pytree(hat.policy)[0].shape[0]

  @jax.jit
  def pieces(hat, psi, model_traj, real_hat, real_star):
    flat, unravel = ravel_pytree(hat.policy)
    logp = estimator.log_probs(unravel, model_traj)
    _, vjp = jax.vjp(logp, flat)
    dw = jax.jacfwd(lambda q: estimator.weights(hat.value, model_traj, q))(psi)
    jac = jax.vmap(lambda col: vjp(col)[0], in_axes=1, out_axes=1)(dw)
    p = jax.vjp(estimator.log_probs(unravel, real_hat), flat)[1](estimator.weights(hat.value, real_hat, psi))[0]
    env = estimator.discounted_value_grad(real_star, psi) - estimator.discounted_value_grad(real_hat, psi)
    return jac, p, env

  @jax.jit
  def hvp(hat, psi, model_traj, v):
    flat, unravel = ravel_pytree(hat.policy)
    logp = estimator.log_probs(unravel, model_traj)
    return estimator.hvp_fn(flat, logp, estimator.weights(hat.value, model_traj, psi))(v)

  matvec = lambda v: hvp(hat, psi, model_traj, hvp(hat, psi, model_traj, v)) / n_params + cfg.damping * v
  jac, p, env = pieces(hat, psi, model_traj, real_hat, real_star)
  implicit = []
  for j in range(jac.shape[1]):
    b = hvp(hat, psi, model_traj, jac[:, j]) / n_params
    x, r = jnp.zeros_like(b), b
    d, rs = r, float(jnp.vdot(r, r))
    for _ in range(iters):
      ad = matvec(d)
      alpha = rs / float(jnp.vdot(d, ad))
      x, r = x + alpha * d, r - alpha * ad
      rs_new = float(jnp.vdot(r, r))
      d, rs = r + (rs_new / rs) * d, rs_new
    implicit.append(jnp.vdot(p, x))
  return env + jnp.stack(implicit)


def cg_errors(estimator, hat, psi, model_traj, real_hat) -> list[dict]:
  """Relative error of CG's iterate and of the implicit term J^T x against the float64 exact solve."""
  cfg = estimator.solver
  flat, unravel = ravel_pytree(hat.policy)
  n = flat.shape[0]
  logp = estimator.log_probs(unravel, model_traj)
  hvp = estimator.hvp_fn(flat, logp, estimator.weights(hat.value, model_traj, psi))
  _, vjp = jax.vjp(logp, flat)
  dw = jax.jacfwd(lambda q: estimator.weights(hat.value, model_traj, q))(psi)
  jac = np.asarray(jax.vmap(lambda col: vjp(col)[0], in_axes=1, out_axes=1)(dw), np.float64)
  p = jax.vjp(estimator.log_probs(unravel, real_hat), flat)[1](estimator.weights(hat.value, real_hat, psi))[0]
  H = np.asarray(jax.jit(lambda: jax.lax.map(hvp, jnp.eye(n), batch_size=64))(), np.float64)
  H = (H + H.T) / 2
  A = H @ H / n + cfg.damping * np.eye(n)
  b = H @ np.asarray(p, np.float64) / n
  x_exact = np.linalg.solve(A, b)
  g_exact = jac.T @ x_exact
  solve = jax.jit(lambda iters: conjugate_gradient(lambda v: hvp(hvp(v)) / n + cfg.damping * v,
                                                   hvp(p) / n, iters, tol=0.0).x, static_argnums=0)
  rows = []
  for iters in CG_COUNTS:
    x = np.asarray(solve(iters), np.float64)
    rows.append({"cg_iters": iters, "solution_rel_error": float(np.linalg.norm(x - x_exact) / np.linalg.norm(x_exact)),
                 "implicit_term_rel_error": float(np.linalg.norm(jac.T @ x - g_exact) / np.linalg.norm(g_exact))})
  cond = np.linalg.cond(A)
  return rows, {"n_params": n, "condition_number": float(cond)}


def measure(quick: bool = False) -> dict:
  loop, model, hat, psi, real_hat, real_star = adapted_problem(quick)
  learner = loop.learner
  grad_learner = dataclasses.replace(learner, model_rollouts=loop.gradient_rollouts)

  def update(agent, key):
    k_roll, k_upd = jax.random.split(key)
    traj = learner.virtual_batch(model, agent, k_roll)
    return learner.agent.update(agent, traj, learner.family.reward(traj.c, traj.f, psi), k_upd)[0]

  def gradient_fn(iters):
    estimator = dataclasses.replace(loop.estimator, solver=dataclasses.replace(loop.estimator.solver, iters=iters))

    def gradient(agent, key):
      traj = grad_learner.virtual_batch(model, agent, key)
      return estimator(agent, psi, traj, real_hat, real_star)[0]
    return jax.jit(gradient), estimator

  key = jax.random.key(5)
  ours_cfg_fn, estimator = gradient_fn(loop.estimator.solver.iters)
  ours_200_fn, estimator_200 = gradient_fn(REFERENCE_CG_ITERS)
  virtual_batch = jax.jit(grad_learner.virtual_batch)
  model_traj = virtual_batch(model, hat, key)

  def reference(agent, key):   # its virtual batch in one jit, then the host loops
    traj = virtual_batch(model, agent, key)
    return reference_way(estimator_200, agent, psi, traj, real_hat, real_star, REFERENCE_CG_ITERS)

  t = interleaved_seconds({"update": (jax.jit(update), (hat, key)), "ours": (ours_cfg_fn, (hat, key)),
                           "ours_200": (ours_200_fn, (hat, key)), "reference": (reference, (hat, key))})
  update_s, ours_cfg_s, ours_200_s, reference_s = (statistics.median(t[n]) for n in
                                                   ("update", "ours", "ours_200", "reference"))
  g_ref = reference(hat, key)
  g_ours = estimator_200(hat, psi, model_traj, real_hat, real_star)[0]
  errors, problem = cg_errors(estimator, hat, psi, model_traj, real_hat)
  ratio = median_ratio(t["ours"], t["update"])
  return {"figure": "task_gradient", "goal": f"<= {GOAL}", "family": "point_mass", "psi_dim": int(psi.shape[0]),
          "gradient_rollouts": loop.gradient_rollouts, "trpo_rollouts": learner.model_rollouts,
          "config_cg_iters": loop.estimator.solver.iters, "trpo_update_seconds": update_s,
          "task_gradient_seconds": ours_cfg_s, "task_gradient_200_seconds": ours_200_s,
          "reference_way_seconds": reference_s, "ratio": ratio, "ratio_200": median_ratio(t["ours_200"], t["update"]),
          "reference_ratio": median_ratio(t["reference"], t["update"]),
          "speedup_over_reference": median_ratio(t["reference"], t["ours_200"]),
          "reference_vs_ours_rel_diff": float(jnp.linalg.norm(g_ref - g_ours) / jnp.linalg.norm(g_ours)),
          "cg_errors": errors, **problem, "met": ratio <= GOAL}


if __name__ == "__main__":
  figure_main(measure)
