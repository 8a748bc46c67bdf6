"""Figure 3, task-gradient cost: the wall time of the implicit task gradient over one TRPO update on the
model (its virtual batch plus the update), on PointMass2D at the ``cpu`` config after a short adaptation.

"Ours" is the shipped estimator exactly as ``build`` makes it from the config (its hessian, advantage,
damping scale and solver; it draws its own virtual batch of theta_hat on the model, and, as the outer
loop calls it, it is given the fresh learner for the relative stationarity), in one jit; timed at the
config's CG iterations and at 200. Beside it, the reference's way: its estimator settings (the per-step
"LVC" score-function H, GAE advantages, absolute damping 0.1 on the damped normal equations) and its
solve, 200 CG iterations per psi dimension, one dimension after another, each matrix-vector product a
separate jitted call from a host loop (as a TF session.run per step; each call recomputes the
estimator's terms, its virtual batch included, from the same key). The same reference settings in one
jit check the host loop.

And, at the shipped setting, CG's relative error against the exact solve of the same damped system
(float64, explicit H from the shipped H products), with the absolute damping the shipped solver uses
(from ``hessian_norm``, as ``implicit_task_gradient`` computes it), at each iteration count."""
from __future__ import annotations

import dataclasses
import statistics

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from admrl_jax.config import build
from admrl_jax.task_gradient import apply_inverse_hessian, hessian_norm
from benchmarks.common import figure_main, interleaved_seconds, median_ratio
from admrl_jax.configs.point_mass_cpu import get_config

GOAL = 1.0
REFERENCE_CG_ITERS = 200
REFERENCE_DAMPING = 0.1
CG_COUNTS = (1, 2, 5, 10, 20, 50, 100, 200)


def adapted_problem(quick: bool):
  """A learner adapted for a few rounds on a model fitted to random-action data, its starting point
  and its real batches."""
  config = get_config()
  config.loop.warmup_rounds = 1 if quick else 3
  loop, _ = build(config)
  learner = loop.learner
  state = loop.init(jax.random.key(0))
  agents = jax.vmap(learner.agent.init)(jax.random.split(jax.random.key(1), 1))
  init = jax.tree.map(lambda x: x[0], agents)
  psi = state.psi
  model, agents, _ = jax.jit(lambda m, a: learner.slbo_rounds(m, a, psi, state.buffer, jax.random.key(2),
                                                               loop.warmup_rounds))(state.model, agents)
  hat = jax.tree.map(lambda x: x[0], agents)
  real_hat = learner.real_batch(hat, jax.random.key(3), loop.real_episodes)
  real_star = learner.real_batch(hat, jax.random.key(4), loop.real_episodes)
  return loop, model, init, hat, psi[0], real_hat, real_star


def with_solver(estimator, **changes):
  return dataclasses.replace(estimator, solver=dataclasses.replace(estimator.solver, **changes))


def reference_estimator(estimator):
  """The reference's estimator settings on the shipped one: LVC H, GAE, damped normal equations with
  absolute damping 0.1, 200 CG iterations (no power iteration: it reports no ||H||)."""
  return dataclasses.replace(with_solver(estimator, method="normal", damping_scale="absolute",
                                         damping=REFERENCE_DAMPING, iters=REFERENCE_CG_ITERS, power_iters=0),
                             hessian="lvc", advantage="gae")


def reference_way(estimator, hat, psi, model, key, real_hat, real_star, iters: int):
  """The task gradient with k sequential host-loop CG solves of the damped normal equations, one per
  column J_j: every matrix-vector product is a separate jitted call (as a TF session.run per step)."""
  cfg, n_params = estimator.solver, ravel_pytree(hat.policy)[0].shape[0]

  @jax.jit
  def pieces(hat, psi, model, key, real_hat, real_star):
    jac, _, p, _ = estimator.terms(hat, psi, model, key, real_hat)
    env = estimator.discounted_value_grad(real_star, psi) - estimator.discounted_value_grad(real_hat, psi)
    return jac, p, env

  @jax.jit
  def hvp(hat, psi, model, key, real_hat, v):
    return estimator.terms(hat, psi, model, key, real_hat)[1](v)

  h = lambda v: hvp(hat, psi, model, key, real_hat, v)
  matvec = lambda v: h(h(v)) / n_params + cfg.damping * v
  jac, p, env = pieces(hat, psi, model, key, real_hat, real_star)
  implicit = []
  for j in range(jac.shape[1]):
    b = h(jac[:, j]) / n_params
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


def cg_errors(estimator, hat, psi, model, key, real_hat) -> tuple[list[dict], dict]:
  """At the estimator's own setting (H form, damping scale, method, rhs form): relative error of CG's
  iterate and of the implicit term against the float64 exact solve of the same damped system, with the
  absolute damping the solver uses (``hessian_norm`` as in ``implicit_task_gradient``)."""
  cfg = estimator.solver
  n = ravel_pytree(hat.policy)[0].shape[0]

  def damping_of(h_norm, dtype):
    if cfg.damping_scale == "relative":
      d = cfg.damping * (h_norm**2 / n if cfg.method == "normal" else h_norm)
      return jnp.maximum(d, jnp.finfo(dtype).tiny)
    return jnp.asarray(cfg.damping, dtype)

  @jax.jit
  def problem():
    jac, hvp, p, _ = estimator.terms(hat, psi, model, key, real_hat)
    h_norm = hessian_norm(hvp, n, cfg.power_iters, p.dtype)
    H = jax.lax.map(hvp, jnp.eye(n, dtype=p.dtype), batch_size=64)   # rows H e_i = columns (H symmetric)
    return jac, p, H, h_norm, damping_of(h_norm, p.dtype)

  jac, p, H, h_norm, damping = problem()

  @jax.jit
  def solve(iters):
    _, hvp, p, _ = estimator.terms(hat, psi, model, key, real_hat)
    b = p if cfg.rhs == "adjoint" else estimator.terms(hat, psi, model, key, real_hat)[0]
    return apply_inverse_hessian(hvp, b, n, dataclasses.replace(cfg, iters=iters, tol=0.0), damping).x

  jac, p, H = (np.asarray(a, np.float64) for a in (jac, p, H))
  asymmetry = float(np.linalg.norm(H - H.T) / np.linalg.norm(H))
  H = (H + H.T) / 2
  d = float(damping)
  if cfg.method == "normal":
    A, B = H @ H / n + d * np.eye(n), (H @ p if cfg.rhs == "adjoint" else H @ jac) / n
  else:
    A, B = -H + d * np.eye(n), -(p if cfg.rhs == "adjoint" else jac)
  implicit = (lambda x: jac.T @ x) if cfg.rhs == "adjoint" else (lambda x: x.T @ p)
  x_exact = np.linalg.solve(A, B)
  g_exact = implicit(x_exact)
  rows = []
  for iters in CG_COUNTS:
    x = np.asarray(solve(iters), np.float64)
    rows.append({"cg_iters": iters, "solution_rel_error": float(np.linalg.norm(x - x_exact) / np.linalg.norm(x_exact)),
                 "implicit_term_rel_error": float(np.linalg.norm(implicit(x) - g_exact) / np.linalg.norm(g_exact))})
  eig_h = np.linalg.eigvalsh(H)
  eig_a = np.linalg.eigvalsh(A)
  return rows, {"n_params": n, "condition_number": float(np.abs(eig_a).max() / np.abs(eig_a).min()),
                "cg_damping_abs": d, "hessian_norm": float(h_norm), "hessian_norm_exact": float(np.abs(eig_h).max()),
                "hessian_eig_min": float(eig_h.min()), "hessian_eig_max": float(eig_h.max()),
                "hessian_asymmetry": asymmetry}


def measure(quick: bool = False) -> dict:
  loop, model, init, hat, psi, real_hat, real_star = adapted_problem(quick)
  learner, shipped = loop.learner, loop.estimator
  reference_est = reference_estimator(shipped)

  def update(agent, key):
    k_roll, k_upd = jax.random.split(key)
    traj = learner.virtual_batch(model, agent, k_roll)
    return learner.agent.update(agent, traj, learner.family.reward(traj.c, traj.f, psi), k_upd)[0]

  def gradient_fn(estimator, with_init=True):
    return jax.jit(lambda agent, key: estimator(agent, psi, model, key, real_hat, real_star,
                                                init if with_init else None))

  key = jax.random.key(5)
  ours_fn = gradient_fn(shipped)
  ours_200_fn = gradient_fn(with_solver(shipped, iters=REFERENCE_CG_ITERS))
  reference_jit_fn = gradient_fn(reference_est, with_init=False)

  def reference(agent, key):
    return reference_way(reference_est, agent, psi, model, key, real_hat, real_star, REFERENCE_CG_ITERS)

  t = interleaved_seconds({"update": (jax.jit(update), (hat, key)), "ours": (ours_fn, (hat, key)),
                           "ours_200": (ours_200_fn, (hat, key)), "reference_jit": (reference_jit_fn, (hat, key)),
                           "reference": (reference, (hat, key))})
  med = {name: statistics.median(v) for name, v in t.items()}
  g_ref = reference(hat, key)
  g_ref_jit, _ = reference_jit_fn(hat, key)
  g_ours, info = ours_fn(hat, key)
  g_ours_200, _ = ours_200_fn(hat, key)
  rel = lambda a, b: float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))
  errors, problem = cg_errors(shipped, hat, psi, model, key, real_hat)
  ratio = median_ratio(t["ours"], t["update"])
  cfg = shipped.solver
  return {"figure": "task_gradient", "goal": f"<= {GOAL}", "family": "point_mass", "psi_dim": int(psi.shape[0]),
          "gradient_rollouts": shipped.rollouts, "trpo_rollouts": learner.model_rollouts,
          "hessian": shipped.hessian, "advantage": shipped.advantage, "solver_method": cfg.method,
          "rhs": cfg.rhs, "damping_scale": cfg.damping_scale, "damping": cfg.damping, "power_iters": cfg.power_iters,
          "config_cg_iters": cfg.iters,
          "reference_settings": {"hessian": reference_est.hessian, "advantage": reference_est.advantage,
                                 "solver_method": reference_est.solver.method,
                                 "damping_scale": reference_est.solver.damping_scale,
                                 "damping": reference_est.solver.damping, "cg_iters": REFERENCE_CG_ITERS},
          "trpo_update_seconds": med["update"], "task_gradient_seconds": med["ours"],
          "task_gradient_200_seconds": med["ours_200"], "reference_jit_seconds": med["reference_jit"],
          "reference_way_seconds": med["reference"], "ratio": ratio,
          "ratio_200": median_ratio(t["ours_200"], t["update"]),
          "reference_jit_ratio": median_ratio(t["reference_jit"], t["update"]),
          "reference_ratio": median_ratio(t["reference"], t["update"]),
          "speedup_over_reference": median_ratio(t["reference"], t["ours_200"]),
          "host_loop_speedup": median_ratio(t["reference"], t["reference_jit"]),
          "reference_host_loop_vs_jit_rel_diff": rel(g_ref, g_ref_jit),
          "reference_vs_ours_rel_diff": rel(g_ref, g_ours_200),
          "ours_config_vs_200_rel_diff": rel(g_ours, g_ours_200),
          "ours_damping_abs": float(info.damping), "ours_hessian_norm": float(info.hessian_norm),
          "ours_cg_residual": float(info.cg_residual),
          "cg_errors": errors, **problem, "met": ratio <= GOAL}


if __name__ == "__main__":
  figure_main(measure)
