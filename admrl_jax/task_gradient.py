"""The implicit task gradient of the sub-optimality gap (SPEC section 2).

    grad_psi L = dV/dpsi|theta*  -  dV/dpsi|theta_hat  +  J^T H^{-1} p

with H = d2 Vhat / dtheta2 and J = d2 Vhat / dtheta dpsi on the learned model at theta_hat, and
p = grad_theta V on the real system at theta_hat. H is never materialised: its products are a
JVP of the surrogate's gradient plus the REINFORCE score outer-product term.

The solve uses one right-hand side whatever the task dimension k ("adjoint" form: y = H^{-1} p,
then J^T y), which equals the reference's per-column solves p^T H^{-1} J_j because every
function of H commutes with H; the "columns" form solves for all k columns of J at once (vmap)
and is kept to check that identity and to compare costs.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct
from jax.flatten_util import ravel_pytree

from admrl_jax.linear_solve import CGResult, conjugate_gradient
from admrl_jax.trpo import TRPO, AgentState
from admrl_jax.types import Transition, alive_mask

SOLVERS = ("normal", "direct")
RHS_FORMS = ("adjoint", "columns")


@dataclasses.dataclass(frozen=True)
class SolverConfig:
  """How H^{-1} is applied.

  method: "normal" solves the reference's damped normal equations (H^2 / n + damping I) x =
    H b / n (well posed for indefinite H); "direct" solves (-H + damping I) x = -b (H is
    negative definite at a strict maximum).
  rhs: "adjoint" (one solve on p) or "columns" (k solves on the columns of J, vmapped).
  """

  method: str = "normal"
  rhs: str = "adjoint"
  damping: float = 0.1
  iters: int = 200
  tol: float = 1e-6

  def __post_init__(self):
    if self.method not in SOLVERS:
      raise ValueError(f"task_gradient.solver: unknown value {self.method!r}; allowed: {list(SOLVERS)}")
    if self.rhs not in RHS_FORMS:
      raise ValueError(f"task_gradient.rhs: unknown value {self.rhs!r}; allowed: {list(RHS_FORMS)}")


@struct.dataclass
class GradientInfo:
  """Diagnostics of one task gradient (all scalars, except the three terms [k])."""

  cg_residual: jax.Array
  inner_stationarity: jax.Array
  envelope_star: jax.Array
  envelope_hat: jax.Array
  implicit_term: jax.Array


def apply_inverse_hessian(hvp: Callable, b: jax.Array, n: int, cfg: SolverConfig):
  """An approximation of H^{-1} b for b [n] (or [n, k], solved column by column at once)."""
  if cfg.method == "normal":
    matvec = lambda v: hvp(hvp(v)) / n + cfg.damping * v
    rhs = lambda col: hvp(col) / n
  else:
    matvec = lambda v: -hvp(v) + cfg.damping * v
    rhs = lambda col: -col

  def solve(col):
    return conjugate_gradient(matvec, rhs(col), cfg.iters, cfg.tol)

  if b.ndim == 1:
    return solve(b)
  res = jax.vmap(solve, in_axes=1, out_axes=CGResult(1, 0))(b)
  return res._replace(residual=jnp.max(res.residual))


def implicit_task_gradient(hvp: Callable, jac: jax.Array, p: jax.Array, envelope_star: jax.Array,
                           envelope_hat: jax.Array, cfg: SolverConfig, inner_stationarity=jnp.nan):
  """Combine the pieces: hvp v [n] -> H v [n]; jac J [n, k]; p [n]; envelope terms [k].

  Returns (grad_psi L [k], GradientInfo).
  """
  n = p.shape[0]
  if cfg.rhs == "adjoint":
    y, residual = apply_inverse_hessian(hvp, p, n, cfg)
    implicit = jac.T @ y
  else:
    x, residual = apply_inverse_hessian(hvp, jac, n, cfg)
    implicit = x.T @ p
  grad = envelope_star - envelope_hat + implicit
  info = GradientInfo(residual, jnp.asarray(inner_stationarity, p.dtype), envelope_star, envelope_hat, implicit)
  return grad, info


@dataclasses.dataclass(frozen=True)
class TaskGradientEstimator:
  """REINFORCE estimators of H, J, p and the envelope terms from stored trajectories."""

  agent: TRPO
  reward: Callable
  solver: SolverConfig = SolverConfig()

  def weights(self, value_params, traj: Transition, psi: jax.Array) -> jax.Array:
    """w_i = gamma^t mask_t A_t(psi) / N for every step of traj (leaves [N, T, ...]): [N * T].

    A is GAE of the rewards recomputed from (c, f) at psi, differentiable in psi, with the
    value net held fixed; advantages are not normalised.
    """
    rewards = self.reward(traj.c, traj.f, psi)
    adv, _ = self.agent.advantages(jax.lax.stop_gradient(value_params), traj, rewards)
    discount = self.agent.gamma ** jnp.arange(traj.c.shape[-1])
    return (discount * alive_mask(traj.done) * adv).reshape(-1) / traj.c.shape[0]

  def log_probs(self, unravel, traj: Transition):
    """flat theta [n] -> log pi(a_i|s_i) [N * T]."""
    return lambda flat: self.agent.log_prob(unravel(flat), traj.obs, traj.action).reshape(-1)

  def discounted_value_grad(self, traj: Transition, psi: jax.Array) -> jax.Array:
    """d/dpsi of the mean discounted return at a fixed policy (psi only enters the reward): [k]."""
    discount = self.agent.gamma ** jnp.arange(traj.c.shape[-1])
    mask = alive_mask(traj.done)
    value = lambda q: jnp.mean(jnp.sum(discount * mask * self.reward(traj.c, traj.f, q), axis=-1))
    return jax.grad(value)(psi)

  def hvp_fn(self, flat: jax.Array, logp: Callable, w: jax.Array):
    """v -> REINFORCE H v = sum_i w_i [(g_i . v) g_i + (Hess log pi_i) v].

    Both derivatives are linearised once at ``flat`` (``jax.linearize``), so the CG loop's
    products reuse the forward passes instead of recomputing them at every call.
    """
    grad_s = lambda th: jax.vjp(logp, th)[1](w)[0]
    _, second = jax.linearize(grad_s, flat)
    _, score_dot = jax.linearize(logp, flat)
    _, logp_vjp = jax.vjp(logp, flat)

    def hvp(v):
      return second(v) + logp_vjp(w * score_dot(v))[0]

    return hvp

  def __call__(self, hat: AgentState, psi: jax.Array, model_traj: Transition, real_hat: Transition,
               real_star: Transition):
    """The task gradient for one task psi [k].

    hat: the adapted learner theta_hat (policy and value nets); model_traj: its episodes on the
    model it was adapted on; real_hat / real_star: real episodes of theta_hat / theta*.
    Returns (grad_psi L [k], GradientInfo).
    """
    flat, unravel = ravel_pytree(hat.policy)
    logp_model = self.log_probs(unravel, model_traj)
    w_model = self.weights(hat.value, model_traj, psi)
    _, model_vjp = jax.vjp(logp_model, flat)
    inner_grad = model_vjp(w_model)[0]
    dw_dpsi = jax.jacfwd(lambda q: self.weights(hat.value, model_traj, q))(psi)  # [N*T, k]
    jac = jax.vmap(lambda col: model_vjp(col)[0], in_axes=1, out_axes=1)(dw_dpsi)  # [n, k]

    logp_real = self.log_probs(unravel, real_hat)
    p = jax.vjp(logp_real, flat)[1](self.weights(hat.value, real_hat, psi))[0]

    return implicit_task_gradient(
        self.hvp_fn(flat, logp_model, w_model), jac, p,
        envelope_star=self.discounted_value_grad(real_star, psi),
        envelope_hat=self.discounted_value_grad(real_hat, psi),
        cfg=self.solver, inner_stationarity=jnp.linalg.norm(inner_grad))
