"""The implicit task gradient of the sub-optimality gap (SPEC section 2).

    grad_psi L = dV/dpsi|theta*  -  dV/dpsi|theta_hat  +  J^T H^{-1} p

with H = d2 Vhat / dtheta2 and J = d2 Vhat / dtheta dpsi on the learned model at theta_hat, and
p = grad_theta V on the real system at theta_hat. H is never materialised: its products are a
JVP of the gradient of the model's return through the reparameterised rollout (pathwise), or of
a score-function surrogate (``score_function_hvp``).

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

from admrl_jax.dynamics import DynamicsModel, ModelState
from admrl_jax.linear_solve import CGResult, conjugate_gradient
from admrl_jax.rollout import episode_scan, model_rollouts, model_step_fn
from admrl_jax.tasks import TaskFamily
from admrl_jax.trpo import TRPO, AgentState
from admrl_jax.types import Transition, alive_mask

SOLVERS = ("normal", "direct")
RHS_FORMS = ("adjoint", "columns")
DAMPING_SCALES = ("relative", "absolute")
HESSIANS = ("pathwise", "exact", "lvc")
ADVANTAGES = ("return", "gae")
P_BASELINES = ("value", "value_loo", "loo")
P_CONTROL_VARIATES = ("none", "model")


@dataclasses.dataclass(frozen=True)
class SolverConfig:
  """How H^{-1} is applied.

  method: "normal" solves the reference's damped normal equations (H^2 / n + d I) x = H b / n
    (well posed for indefinite H); "direct" solves (-H + d I) x = -b (H is negative definite at a
    strict maximum).
  rhs: "adjoint" (one solve on p) or "columns" (k solves on the columns of J, vmapped).
  damping_scale: "absolute" takes d = damping (the reference's 0.1, set for its surrogate's scale, a
    mean over transitions); "relative" takes d = damping * ||H||^2 / n ("normal") or damping * ||H||
    ("direct"), ||H|| from ``power_iters`` power iterations, so d means the same at any scale of H.
  """

  method: str = "normal"
  rhs: str = "adjoint"
  damping: float = 0.1
  iters: int = 200
  tol: float = 1e-6
  damping_scale: str = "absolute"
  power_iters: int = 20

  def __post_init__(self):
    for field, value, allowed in (("solver", self.method, SOLVERS), ("rhs", self.rhs, RHS_FORMS),
                                  ("damping_scale", self.damping_scale, DAMPING_SCALES)):
      if value not in allowed:
        raise ValueError(f"task_gradient.{field}: unknown value {value!r}; allowed: {list(allowed)}")


@struct.dataclass
class GradientInfo:
  """Diagnostics of one task gradient (scalars, except the three terms [k]).

  inner_stationarity: ||grad_theta Vhat|| at theta_hat; inner_stationarity_rel: that over its value
  at the fresh policy the adaptation started from (NaN when not given); hessian_norm: ||H|| by power
  iteration; damping: the absolute damping the solve used.
  """

  cg_residual: jax.Array
  inner_stationarity: jax.Array
  inner_stationarity_rel: jax.Array
  hessian_norm: jax.Array
  damping: jax.Array
  envelope_star: jax.Array
  envelope_hat: jax.Array
  implicit_term: jax.Array


def leave_one_out_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
  """x, mask [N, T] -> [N, T]: at each step t, the mean of x over the other episodes j != i alive at t
  (0 where no other is). As a baseline of episode i's score term at t it is independent of episode i,
  so E[g_it b_it] = E[b_it] E[g_it] = 0: unbiased, unlike the batch mean that includes episode i
  (bias O(1/N))."""
  total = jnp.sum(mask * x, axis=0)
  count = jnp.sum(mask, axis=0)
  others = count - mask
  return jnp.where(others > 0, (total - mask * x) / jnp.maximum(others, 1.0), 0.0)


def hessian_norm(hvp: Callable, n: int, iters: int, dtype) -> jax.Array:
  """||H|| (largest |eigenvalue| of the symmetric H) by power iteration from a fixed start [n]."""
  v0 = jnp.cos(jnp.arange(n, dtype=dtype) * 1.618) + 1.0
  v0 = v0 / jnp.linalg.norm(v0)

  def body(_, v):
    hv = hvp(v)
    return hv / jnp.maximum(jnp.linalg.norm(hv), 1e-30)

  v = jax.lax.fori_loop(0, iters, body, v0)
  return jnp.linalg.norm(hvp(v))


def apply_inverse_hessian(hvp: Callable, b: jax.Array, n: int, cfg: SolverConfig, damping):
  """An approximation of H^{-1} b for b [n] (or [n, k], solved column by column at once)."""
  if cfg.method == "normal":
    matvec = lambda v: hvp(hvp(v)) / n + damping * v
    rhs = lambda col: hvp(col) / n
  else:
    matvec = lambda v: -hvp(v) + damping * v
    rhs = lambda col: -col

  def solve(col):
    return conjugate_gradient(matvec, rhs(col), cfg.iters, cfg.tol)

  if b.ndim == 1:
    return solve(b)
  res = jax.vmap(solve, in_axes=1, out_axes=CGResult(1, 0))(b)
  return res._replace(residual=jnp.max(res.residual))


def implicit_task_gradient(hvp: Callable, jac: jax.Array, p: jax.Array, envelope_star: jax.Array,
                           envelope_hat: jax.Array, cfg: SolverConfig, inner_stationarity=jnp.nan,
                           inner_stationarity_rel=jnp.nan):
  """Combine the pieces: hvp v [n] -> H v [n]; jac J [n, k]; p [n]; envelope terms [k].

  Returns (grad_psi L [k], GradientInfo).
  """
  n = p.shape[0]
  if cfg.damping_scale == "relative" or cfg.power_iters:
    h_norm = hessian_norm(hvp, n, cfg.power_iters, p.dtype)
  else:
    h_norm = jnp.asarray(jnp.nan, p.dtype)
  if cfg.damping_scale == "relative":
    damping = cfg.damping * (h_norm**2 / n if cfg.method == "normal" else h_norm)
    damping = jnp.maximum(damping, jnp.finfo(p.dtype).tiny)
  else:
    damping = jnp.asarray(cfg.damping, p.dtype)
  if cfg.rhs == "adjoint":
    y, residual = apply_inverse_hessian(hvp, p, n, cfg, damping)
    implicit = jac.T @ y
  else:
    x, residual = apply_inverse_hessian(hvp, jac, n, cfg, damping)
    implicit = x.T @ p
  grad = envelope_star - envelope_hat + implicit
  as_p = lambda x: jnp.asarray(x, p.dtype)
  info = GradientInfo(residual, as_p(inner_stationarity), as_p(inner_stationarity_rel), h_norm, damping,
                      envelope_star, envelope_hat, implicit)
  return grad, info


def score_function_hvp(flat: jax.Array, logp: Callable, w: jax.Array, horizon: int, exact: bool):
  """v -> H v from score functions, w [N * T] the per-step weights gamma^t A_t / N, logp flat -> [N * T].

  exact=False: the reference's per-step form ("LVC", Rothfuss et al. 2019)
      H v = sum_i w_i [(g_i . v) g_i + (Hess log pi_i) v]       (same-step outer products only);
  exact=True: the whole second derivative of the expected return (as DiCE's, Foerster et al. 2018),
      H v = sum_i w_i (Hess log pi_i) v + sum_{i,j in one episode} g_i (g_j . v) w_{max(i, j)},
  unbiased with a state-value baseline in A (its terms cancel in expectation: E[b(s)(Hess log pi +
  g g^T) | s] = 0, and E[g_j b(s_j) | s_j, earlier steps] = 0). The double sum costs one extra scan:
  c_i = w_i sum_{j <= i} u_j + sum_{j > i} u_j w_j with u = g . v.
  Both derivatives are linearised once at ``flat``, so CG's products reuse the forward passes.
  """
  grad_s = lambda th: jax.vjp(logp, th)[1](w)[0]
  _, second = jax.linearize(grad_s, flat)
  _, score_dot = jax.linearize(logp, flat)
  _, logp_vjp = jax.vjp(logp, flat)

  def hvp(v):
    u = score_dot(v)
    if exact:
      u2, w2 = u.reshape(-1, horizon), w.reshape(-1, horizon)
      later = jnp.flip(jnp.cumsum(jnp.flip(u2 * w2, -1), -1), -1) - u2 * w2   # sum_{j > i} u_j w_j
      coef = (w2 * jnp.cumsum(u2, -1) + later).reshape(-1)
    else:
      coef = w * u
    return second(v) + logp_vjp(coef)[0]

  return hvp


@dataclasses.dataclass(frozen=True)
class TaskGradientEstimator:
  """Estimators of H, J, p and the envelope terms for one task (SPEC section 2).

  H (``hessian``): "pathwise" differentiates the model's return through its reparameterised rollout
  (actions = mean + std * fixed noise; ``jax.jvp`` over ``jax.grad``), "exact" and "lvc" are
  score-function forms (``score_function_hvp``). J is always a score-function estimate (the tracking
  reward's |f - psi| makes the pathwise psi-derivative of the theta-gradient zero almost everywhere).
  Advantages (``advantage``): "return" is the full discounted return-to-go minus the fixed value
  baseline (GAE lambda = 1, the horizon's end treated as the end: the finite-horizon objective the
  envelope terms differentiate), unbiased for J; "gae" is the reference's GAE(gamma, lambda) with a
  bootstrap at the horizon, whose psi-derivative is truncated to about 1 / (1 - gamma lambda) steps.

  p's variance (docs/results.md, "Gradient quality": p's noise sets the gradient's direction). Each
  option is unbiased and off by default (the default is bitwise the estimator as it was):
  ``p_baseline`` "value_loo" / "loo" add a leave-one-out per-time-step baseline (the value net, fitted
  on the model with a bootstrap at the horizon, does not know the time left in the finite-horizon
  return-to-go, so A_t carries an offset that grows towards the horizon; the other episodes' mean at the
  same t removes it); ``p_control_variate`` "model" subtracts the same estimator on a model replay of
  the real episodes' own randomness and adds grad Vhat back (``p_estimate``); ``p_episodes`` and
  ``common_random_numbers`` shape the real batches the outer loop collects (``minimax.OuterLoop``).
  """

  agent: TRPO
  family: TaskFamily
  model: DynamicsModel
  rollouts: int = 64                 # virtual episodes of theta_hat on the model feeding H and J
  solver: SolverConfig = SolverConfig()
  hessian: str = "pathwise"
  advantage: str = "return"
  p_baseline: str = "value"          # the baseline of p's score-function estimate (``weights``)
  p_control_variate: str = "none"    # "model": p - p~(model replay of the real noise) + grad Vhat (``p_estimate``)
  # What the estimator asks of the outer loop's real batches (read by ``minimax.OuterLoop``):
  p_episodes: int = 0                # theta_hat's real episodes (stage 0's collection); 0: loop.real_episodes
  common_random_numbers: bool = False  # theta*'s batch reuses theta_hat's start states and action-noise keys

  def __post_init__(self):
    for field, value, allowed in (("hessian", self.hessian, HESSIANS), ("advantage", self.advantage, ADVANTAGES),
                                  ("p_baseline", self.p_baseline, P_BASELINES),
                                  ("p_control_variate", self.p_control_variate, P_CONTROL_VARIATES)):
      if value not in allowed:
        raise ValueError(f"task_gradient.{field}: unknown value {value!r}; allowed: {list(allowed)}")

  def weights(self, value_params, traj: Transition, psi: jax.Array, baseline: str = "value") -> jax.Array:
    """w_i = gamma^t mask_t A_t(psi) / N for every step of traj (leaves [N, T, ...]): [N * T].

    A is computed from the rewards recomputed from (c, f) at psi, differentiable in psi, with the
    value net held fixed; advantages are not normalised. baseline: "value" subtracts the value net
    V(s_t) (the learner's, fitted on the model); "value_loo" subtracts besides, from each episode's
    A_t, the mean of the other episodes' A_t at the same step t (``leave_one_out_mean``); "loo"
    subtracts from the return-to-go only that leave-one-out mean of the other episodes' returns-to-go.
    """
    rewards = self.family.reward(traj.c, traj.f, psi)
    value_params = jax.lax.stop_gradient(value_params)
    if baseline == "loo":   # no value net: A_t is the return-to-go itself (a zero value function)
      value_params = jax.tree.map(jnp.zeros_like, value_params)
    if self.advantage == "gae":
      adv, _ = self.agent.advantages(value_params, traj, rewards)
    else:
      ends = traj.replace(done=traj.done.at[..., -1].set(1.0))   # no bootstrap past the horizon
      adv, _ = dataclasses.replace(self.agent, lam=1.0).advantages(value_params, ends, rewards)
    if baseline != "value":
      adv = adv - leave_one_out_mean(adv, alive_mask(traj.done))
    discount = self.agent.gamma ** jnp.arange(traj.c.shape[-1])
    return (discount * alive_mask(traj.done) * adv).reshape(-1) / traj.c.shape[0]

  def p_score_function(self, hat: AgentState, unravel, flat: jax.Array, traj: Transition, psi: jax.Array):
    """The score-function estimate of grad_theta V at theta_hat from the episodes traj of theta_hat
    (real, or replayed on the model): sum_i w_i grad log pi(a_i|s_i) with ``p_baseline``'s weights [n]."""
    w = self.weights(hat.value, traj, psi, self.p_baseline)
    return jax.vjp(self.log_probs(unravel, traj), flat)[1](w)[0]

  def model_replay(self, model_state: ModelState, policy, real: Transition) -> Transition:
    """theta_hat's real episodes (leaves [N, T, ...]) replayed on the model with their own randomness:
    the same start observations and the same standard-normal action noise eps_t = (a_t - mu(s_t)) /
    sigma, recovered from the stored (unclipped) actions, so each model action is mu(s~_t) + sigma eps_t
    at the model's own state s~_t. Marginally these are ordinary on-policy model episodes (the noise is
    i.i.d. N(0, 1) and independent of the start); they are correlated with the real ones, which is what
    the control variate uses. Treated as data (no gradient flows through them)."""
    policy = jax.lax.stop_gradient(policy)
    mean, log_std = self.agent.policy_net.apply(policy, real.obs)
    eps = jax.lax.stop_gradient((real.action - mean) * jnp.exp(-log_std))       # [N, T, da]
    step = model_step_fn(self.model, model_state, self.family.env)

    def control(state, obs, carry, e):
      mu, ls = self.agent.policy_net.apply(policy, obs)
      return mu + jnp.exp(ls) * e, carry, None

    one = lambda obs0, e: episode_scan(step, lambda s: s, control, obs0, e).traj
    return jax.lax.stop_gradient(jax.vmap(one)(real.obs[:, 0], eps))

  def p_estimate(self, hat: AgentState, psi: jax.Array, model_state: ModelState, real_hat: Transition,
                 grad_vhat: jax.Array | None = None) -> jax.Array:
    """p = grad_theta V_psi(theta_hat) on the real system [n].

    p_control_variate "none": the score-function estimate on theta_hat's real episodes. "model":
        p = p~(real episodes) - p~(the same episodes replayed on the model) + grad Vhat,
    with p~ the same score-function estimator (same baseline) and ``grad_vhat`` an estimate of the
    gradient of the model's return at theta_hat from virtual rollouts of its own (``inner_gradient``:
    pathwise or score function, unbiased either way; ``terms`` draws them apart from H's and J's, so p
    stays independent of H and J as it is without the option). The replay is an ordinary model sample,
    so E p~(replay) = grad Vhat and p stays unbiased; what the real and replayed episodes share (starts,
    action noise: the log-std scores (eps^2 - 1) are identical, the mean's nearly so where the model is
    right) cancels, so what remains is the real-minus-model part of p plus grad Vhat's own small noise.
    """
    flat, unravel = ravel_pytree(hat.policy)
    p = self.p_score_function(hat, unravel, flat, real_hat, psi)
    if self.p_control_variate == "model":
      replay = self.model_replay(model_state, hat.policy, real_hat)
      p = p - self.p_score_function(hat, unravel, flat, replay, psi) + grad_vhat
    return p

  def log_probs(self, unravel, traj: Transition):
    """flat theta [n] -> log pi(a_i|s_i) [N * T]."""
    return lambda flat: self.agent.log_prob(unravel(flat), traj.obs, traj.action).reshape(-1)

  def discounted_value_grad(self, traj: Transition, psi: jax.Array) -> jax.Array:
    """d/dpsi of the mean discounted return at a fixed policy (psi only enters the reward): [k]."""
    discount = self.agent.gamma ** jnp.arange(traj.c.shape[-1])
    mask = alive_mask(traj.done)
    value = lambda q: jnp.mean(jnp.sum(discount * mask * self.family.reward(traj.c, traj.f, q), axis=-1))
    return jax.grad(value)(psi)

  def model_batch(self, model_state: ModelState, policy, key: jax.Array) -> Transition:
    """The virtual episodes of ``policy`` on the model that feed H and J: leaves [rollouts, T, ...]."""
    return model_rollouts(self.model, model_state, self.family.env, self.agent.act_fn(policy), key, self.rollouts)

  def model_return(self, model_state: ModelState, unravel, psi: jax.Array, key: jax.Array):
    """flat theta [n] -> the mean discounted return of the policy on the model, with the noise of
    ``key`` fixed (reparameterised actions): the pathwise Vhat, differentiable in theta."""

    def vhat(flat):
      traj = self.model_batch(model_state, unravel(flat), key)
      discount = self.agent.gamma ** jnp.arange(traj.c.shape[-1])
      rewards = self.family.reward(traj.c, traj.f, psi)
      return jnp.mean(jnp.sum(discount * alive_mask(traj.done) * rewards, axis=-1))

    return vhat

  def inner_gradient(self, agent_state: AgentState, psi: jax.Array, model_state: ModelState,
                     key: jax.Array) -> jax.Array:
    """grad_theta Vhat [n] at the agent's policy, by the same estimator family as H."""
    flat, unravel = ravel_pytree(agent_state.policy)
    if self.hessian == "pathwise":
      return jax.grad(self.model_return(model_state, unravel, psi, key))(flat)
    traj = self.model_batch(model_state, agent_state.policy, key)
    return jax.vjp(self.log_probs(unravel, traj), flat)[1](self.weights(agent_state.value, traj, psi))[0]

  def terms(self, hat: AgentState, psi: jax.Array, model_state: ModelState, key: jax.Array,
            real_hat: Transition):
    """(J [n, k], v -> H v, p [n], grad_theta Vhat [n]) at theta_hat for task psi [k]."""
    flat, unravel = ravel_pytree(hat.policy)
    model_traj = self.model_batch(model_state, hat.policy, key)
    logp_model = self.log_probs(unravel, model_traj)
    w_model = self.weights(hat.value, model_traj, psi)
    _, model_vjp = jax.vjp(logp_model, flat)
    dw_dpsi = jax.jacfwd(lambda q: self.weights(hat.value, model_traj, q))(psi)  # [N*T, k]
    jac = jax.vmap(lambda col: model_vjp(col)[0], in_axes=1, out_axes=1)(dw_dpsi)  # [n, k]
    if self.hessian == "pathwise":
      inner_grad, hvp = jax.linearize(jax.grad(self.model_return(model_state, unravel, psi, key)), flat)
    else:
      inner_grad = model_vjp(w_model)[0]
      hvp = score_function_hvp(flat, logp_model, w_model, model_traj.c.shape[-1], self.hessian == "exact")
    if self.p_baseline == "value" and self.p_control_variate == "none":   # the default, as it always was
      p = jax.vjp(self.log_probs(unravel, real_hat), flat)[1](self.weights(hat.value, real_hat, psi))[0]
    else:   # the control variate's grad Vhat from virtual rollouts of its own, independent of H's and J's
      grad_vhat = (self.inner_gradient(hat, psi, model_state, jax.random.fold_in(key, 1))
                   if self.p_control_variate == "model" else None)
      p = self.p_estimate(hat, psi, model_state, real_hat, grad_vhat)
    return jac, hvp, p, inner_grad

  def __call__(self, hat: AgentState, psi: jax.Array, model_state: ModelState, key: jax.Array,
               real_hat: Transition, real_star: Transition, init: AgentState | None = None):
    """The task gradient for one task psi [k].

    hat: the adapted learner theta_hat (policy and value nets); model_state: the model it was adapted
    on; key: the virtual rollouts' noise; real_hat / real_star: real episodes of theta_hat / theta*;
    init: the fresh learner the adaptation started from (for the relative stationarity).
    Returns (grad_psi L [k], GradientInfo).
    """
    jac, hvp, p, inner_grad = self.terms(hat, psi, model_state, key, real_hat)
    stationarity = jnp.linalg.norm(inner_grad)
    relative = jnp.nan if init is None else stationarity / jnp.maximum(
        jnp.linalg.norm(self.inner_gradient(init, psi, model_state, key)), 1e-30)
    return implicit_task_gradient(
        hvp, jac, p,
        envelope_star=self.discounted_value_grad(real_star, psi),
        envelope_hat=self.discounted_value_grad(real_hat, psi),
        cfg=self.solver, inner_stationarity=stationarity, inner_stationarity_rel=relative)
