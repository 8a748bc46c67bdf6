"""MAML with TRPO meta-updates (Finn et al. 2017, the velocity-task setting): a model-free baseline.

One Gaussian policy pi_theta(a | s) on the observation alone (no psi: the inner step identifies
the task from its rewards). For each of the K tasks of an iteration (vmapped):

  pre-update episodes with theta  ->  inner step(s)  theta'_i = theta + inner_lr grad L_in  ->
  post-update episodes with theta'_i

and one TRPO step on theta for the mean over tasks of the post-update surrogate
mean(pi_theta'_i(theta) / pi_theta'_i(theta_old) * A), differentiated through the inner step
(second order), under a bound on the mean KL between the old and new post-update policies: the
natural direction by conjugate gradients on Fisher-vector products (the KL's Hessian, itself taken
through the inner step), scaled to the KL bound, then a backtracking line search. One linearisation
of theta -> post-update policies gives both the meta-gradient (its transpose) and the Fisher products
(``gaussian_fisher``: Gauss-Newton form J^T M J, equal to the Hessian of the KL at theta_old; the
tests check it against ``trpo.fisher_vector_product``), so the CG loop never re-runs the inner step.

Advantages, on pre- and post-update episodes alike, are GAE(gamma, lam) on a linear feature
baseline fitted per task and batch (rllab's ``LinearFeatureBaseline``: features s, s^2, t, t^2,
t^3, 1, ridge regression on the discounted returns-to-go; the last step bootstraps nothing); with
the default lam = 1 this is Finn et al.'s returns-to-go minus the linear baseline. They are
normalised per task (rllab's ``center_adv``) and are constants of theta.

The inner objective ``vpg`` is the original's L_in = mean(log pi * A); ``lvc`` is ProMP's
(Rothfuss et al. 2019) mean(pi / stop_grad(pi) * A): the same first step, but its Hessian keeps
the score outer product, so the meta-gradient accounts for the pre-update sampling distribution.
Several inner steps reuse the same pre-update episodes.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct
from jax.flatten_util import ravel_pytree

from admrl_jax.linear_solve import conjugate_gradient
from admrl_jax.networks import GaussianPolicy, gaussian_act_fn, gaussian_kl, gaussian_log_prob
from admrl_jax.rollout import ActFn, rollout
from admrl_jax.tasks import TaskFamily
from admrl_jax.trpo import gae
from admrl_jax.types import Transition, alive_mask

INNER_OBJECTIVES = ("vpg", "lvc")
LogProbFn = Callable[[dict, jax.Array, jax.Array], jax.Array]   # (params, obs [..., ds], action [..., da]) -> [...]


def linear_baseline(obs: jax.Array, returns: jax.Array, mask: jax.Array, reg: float) -> jax.Array:
  """rllab's linear feature baseline, fitted and evaluated on one batch.

  obs [N, T, ds], discounted returns-to-go [N, T], alive mask [N, T] -> values [N, T]: ridge
  regression (relative ridge ``reg`` times the mean diagonal, for float32) of the returns on
  phi = (s, s^2, t/100, (t/100)^2, (t/100)^3, 1), s clipped to [-10, 10].
  """
  n, horizon = returns.shape
  o = jnp.clip(obs, -10.0, 10.0)
  t = jnp.broadcast_to((jnp.arange(horizon) / 100.0)[None, :, None], (n, horizon, 1)).astype(obs.dtype)
  phi = jnp.concatenate([o, o**2, t, t**2, t**3, jnp.ones_like(t)], axis=-1)
  weighted = phi * mask[..., None]
  gram = jnp.einsum("ntf,ntg->fg", weighted, phi)
  rhs = jnp.einsum("ntf,nt->f", weighted, returns)
  ridge = reg * (jnp.trace(gram) / gram.shape[0] + 1e-8)
  coef = jnp.linalg.solve(gram + ridge * jnp.eye(gram.shape[0], dtype=gram.dtype), rhs)
  return phi @ coef


def normalise(x: jax.Array, mask: jax.Array) -> jax.Array:
  """(x - mean) / std over the alive entries (mask [same shape]); 0 where masked."""
  n = jnp.maximum(jnp.sum(mask), 1.0)
  mean = jnp.sum(x * mask) / n
  std = jnp.sqrt(jnp.sum(mask * (x - mean) ** 2) / n)
  return mask * (x - mean) / (std + 1e-8)


def inner_update(log_prob: LogProbFn, params, obs: jax.Array, action: jax.Array, adv: jax.Array,
                 mask: jax.Array, lr: float, steps: int, objective: str = "vpg"):
  """MAML's inner adaptation: ``steps`` gradient-ascent steps of size lr on one task's batch.

  obs [..., ds], action [..., da], adv and mask [...] (constants). objective ``vpg``:
  L_in(p) = sum(mask log pi_p(a|s) adv) / sum(mask); ``lvc``: the same with pi_p / pi_params
  (pi_params held constant) in place of log pi_p. Differentiable in params (second order).
  """
  if objective not in INNER_OBJECTIVES:
    raise ValueError(f"inner_objective: unknown value {objective!r}; allowed: {INNER_OBJECTIVES}")
  n_valid = jnp.maximum(jnp.sum(mask), 1.0)
  logp_data = jax.lax.stop_gradient(log_prob(params, obs, action))

  def loss(p):
    logp = log_prob(p, obs, action)
    if objective == "lvc":
      logp = jnp.exp(jnp.where(mask > 0, logp - logp_data, 0.0))
    return jnp.sum(mask * logp * adv) / n_valid

  def step(p, _):
    g = jax.grad(loss)(p)
    return jax.tree.map(lambda x, gx: x + lr * gx, p, g), None

  params, _ = jax.lax.scan(step, params, None, length=steps)
  return params


def gaussian_fisher(dists_jvp, dists_vjp, log_std: jax.Array, mask: jax.Array):
  """The Fisher of the post-update policies: F = J^T M J, the Hessian at theta_old of the mean over
  tasks of the masked-mean KL(pi_old || pi_theta) in Gauss-Newton form (exact there, where the KL is 0).

  dists_jvp / dists_vjp: the linearisation J of theta [P] -> (mean [K, N, T, da], log_std [K, da]) at
  theta_old and its transpose; log_std [K, da] at theta_old; mask [K, N, T]. M: 1 / sigma^2 per
  alive step for the mean, 2 per task for the (state-independent) log-std.
  Returns (v -> F v, v -> v^T F v); the second needs J alone.
  """
  num_tasks = mask.shape[0]
  n_valid = jnp.maximum(jnp.sum(mask, axis=(1, 2)), 1.0)
  mean_weight = mask[..., None] * jnp.exp(-2.0 * log_std)[:, None, None, :] / (num_tasks * n_valid[:, None, None, None])
  metric = lambda d: (mean_weight * d[0], 2.0 * d[1] / num_tasks)

  def product(v):
    return dists_vjp(metric(dists_jvp(v)))[0]

  def quadratic(v):
    d = dists_jvp(v)
    return sum(jnp.vdot(a, b) for a, b in zip(d, metric(d)))

  return product, quadratic


@struct.dataclass
class MAMLState:
  """The learner's state: theta, the shared initialisation the inner step adapts from."""

  policy: dict   # GaussianPolicy parameters


@struct.dataclass
class TaskBatch:
  """One task's episodes for the meta-objective (leaves [N, T, ...], or [K, N, T, ...] over tasks)."""

  obs: jax.Array      # [N, T, ds]
  action: jax.Array   # [N, T, da]
  adv: jax.Array      # [N, T] normalised advantages (0 where masked)
  mask: jax.Array     # [N, T] alive mask


@dataclasses.dataclass(frozen=True)
class MAMLTRPO:
  """MAML-TRPO hyper-parameters (static) and its pure functions (``meta_rl.base.MetaLearner``)."""

  family: TaskFamily
  tasks_per_iteration: int = 20          # K: tasks per meta-update (the meta-batch)
  inner_episodes: int = 10               # real episodes per task before the inner step, and again after it
  inner_lr: float = 0.5                  # step size of the inner policy-gradient step(s)
  inner_steps: int = 1                   # inner gradient steps (all on the same pre-update episodes)
  inner_objective: str = "vpg"           # "vpg": Finn et al.'s mean(log pi * A); "lvc": ProMP's mean(pi/pi_old * A)
  max_kl: float = 0.01                   # bound on the mean KL of the post-update policies per meta-step
  cg_iters: int = 10                     # conjugate-gradient iterations for the natural direction
  cg_damping: float = 0.01               # damping added to the Fisher-vector products
  line_search_steps: int = 15            # backtracking steps (step fractions backtrack_ratio^n, n < steps)
  backtrack_ratio: float = 0.8           # shrink factor of the line search
  policy_hidden: tuple[int, ...] = (64, 64)   # hidden widths of the policy MLP (tanh)
  init_log_std: float = 0.0              # initial log standard deviation of the Gaussian policy
  gamma: float = 0.99                    # discount of the advantages
  lam: float = 1.0                       # GAE lambda on the linear baseline (1: returns-to-go minus baseline)
  baseline_reg: float = 1e-5             # relative ridge of the linear feature baseline's regression

  def __post_init__(self):
    object.__setattr__(self, "policy_hidden", tuple(int(h) for h in self.policy_hidden))
    if self.inner_objective not in INNER_OBJECTIVES:
      raise ValueError(f"maml.inner_objective: unknown value {self.inner_objective!r}; allowed: {INNER_OBJECTIVES}")
    for name in ("tasks_per_iteration", "inner_episodes", "inner_steps", "cg_iters", "line_search_steps"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"maml.{name}: must be >= 1, got {getattr(self, name)}")
    if not 0.0 < self.backtrack_ratio < 1.0:
      raise ValueError(f"maml.backtrack_ratio: must be in (0, 1), got {self.backtrack_ratio}")
    if self.max_kl <= 0.0 or self.inner_lr < 0.0 or self.cg_damping < 0.0:
      raise ValueError("maml.max_kl must be > 0, maml.inner_lr and maml.cg_damping >= 0; got "
                       f"{self.max_kl}, {self.inner_lr}, {self.cg_damping}")

  @property
  def policy_net(self) -> GaussianPolicy:
    return GaussianPolicy(self.policy_hidden, self.family.env.action_dim, self.init_log_std)

  def init(self, key: jax.Array) -> MAMLState:
    return MAMLState(self.policy_net.init(key, jnp.zeros(self.family.env.obs_dim)))

  def log_prob(self, params, obs: jax.Array, action: jax.Array) -> jax.Array:
    """obs [..., ds], action [..., da] -> log pi(a|s) [...]."""
    mean, log_std = self.policy_net.apply(params, obs)
    return gaussian_log_prob(mean, log_std, action)

  def act_fn(self, params, deterministic: bool = False) -> ActFn:
    """An (obs [ds], key) -> action [da] function: a Gaussian sample, or the mean."""
    return gaussian_act_fn(self.policy_net, params, deterministic)

  def collect(self, policies, psi: jax.Array, key: jax.Array, n: int) -> tuple[TaskBatch, jax.Array, jax.Array]:
    """n real episodes of each task psi [K, k] with its sampling policy (params with leaves [K, ...]) ->
    (TaskBatch [K, n, T, ...], mean undiscounted return [K], alive steps [K]).

    The K * n episodes are one flat vmap (each with its task's parameters): a vmap over tasks of a
    vmap over episodes of the rollout scan compiles about twice as slowly on CPU."""
    env, num_tasks = self.family.env, psi.shape[0]
    per_episode = jax.tree.map(lambda x: jnp.repeat(x, n, axis=0), policies)

    def episode(params, k):
      k_reset, k_roll = jax.random.split(k)
      return rollout(env.step, env.observe, self.act_fn(params), env.reset(k_reset), k_roll, env.horizon)

    traj = jax.vmap(episode)(per_episode, jax.random.split(key, num_tasks * n))
    return self.batch_of(jax.tree.map(lambda x: x.reshape((num_tasks, n) + x.shape[1:]), traj), psi)

  def batch_of(self, traj: Transition, psi: jax.Array) -> tuple[TaskBatch, jax.Array, jax.Array]:
    """Episodes (leaves [K, N, T, ...]) of tasks psi [K, k] -> (TaskBatch [K, N, T, ...], mean return [K],
    alive steps [K]): rewards, the per-task linear baseline and normalised advantages."""
    mask = alive_mask(traj.done)
    rewards = self.family.reward(traj.c, traj.f, psi[:, None, None, :]) * mask
    rows = lambda x: x.reshape((-1,) + x.shape[2:])      # [K, N, T] -> [K N, T]: one vmap over all episodes
    gae_rows = jax.vmap(gae, in_axes=(0, 0, 0, 0, None, None))
    zeros = jnp.zeros_like(rows(rewards))
    returns_to_go, _ = gae_rows(rows(rewards), zeros, zeros, rows(traj.done), self.gamma, 1.0)
    values = jax.vmap(linear_baseline, in_axes=(0, 0, 0, None))(
        traj.obs, returns_to_go.reshape(rewards.shape), mask, self.baseline_reg)
    next_values = jnp.concatenate([values[..., 1:], jnp.zeros_like(values[..., :1])], axis=-1)
    adv, _ = gae_rows(rows(rewards), rows(values), rows(next_values), rows(traj.done), self.gamma, self.lam)
    adv = jax.vmap(normalise)(adv.reshape(rewards.shape), mask)
    batch = TaskBatch(traj.obs, traj.action, adv, mask)
    return batch, jnp.mean(jnp.sum(rewards, axis=-1), axis=-1), jnp.sum(mask, axis=(1, 2))

  def adapt(self, params, batch: TaskBatch):
    """theta -> theta' (the inner step(s) on one task's pre-update batch); differentiable in params."""
    return inner_update(self.log_prob, params, batch.obs, batch.action, batch.adv, batch.mask,
                        self.inner_lr, self.inner_steps, self.inner_objective)

  def train_step(self, state: MAMLState, psi: jax.Array, key: jax.Array):
    """One meta-iteration on tasks psi [K, k] -> (state, alive real steps [] int32, metrics)."""
    num_tasks = psi.shape[0]
    theta = state.policy

    def collect_then_adapt(policies, k):
      """Episodes of every task with its own policy, then the inner step from theta on them."""
      batch, ret, steps = self.collect(policies, psi, k, self.inner_episodes)
      return jax.vmap(self.adapt, in_axes=(None, 0))(theta, batch), (batch, ret, steps)

    # Two rounds in one scan (one compiled rollout): pre-update episodes with theta -> theta'_i, then
    # post-update episodes with theta'_i (the second round's inner step is not used).
    thetas = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_tasks,) + x.shape), theta)
    _, (batches, returns, steps) = jax.lax.scan(collect_then_adapt, thetas, jax.random.split(key, 2))
    pre, post = jax.tree.map(lambda x: x[0], batches), jax.tree.map(lambda x: x[1], batches)

    flat0, unravel = ravel_pytree(theta)

    def post_dists(flat):
      """theta (flat) -> the post-update policies on their episodes: mean [K, N, T, da], log_std [K, da]."""
      return jax.vmap(lambda b, obs: self.policy_net.apply(self.adapt(unravel(flat), b), obs))(pre, post.obs)

    # One linearisation of theta -> post-update policies serves the meta-gradient (its transpose)
    # and the Fisher-vector products (Gauss-Newton form, exact for the KL's Hessian at theta_old).
    dists0, dists_jvp = jax.linearize(post_dists, flat0)
    dists_vjp = jax.linear_transpose(dists_jvp, flat0)
    mean_old, log_std_old = jax.lax.stop_gradient(dists0)
    logp_old = gaussian_log_prob(mean_old, log_std_old[:, None, None, :], post.action)
    n_valid = jnp.maximum(jnp.sum(post.mask, axis=(1, 2)), 1.0)   # [K]

    def surrogate_and_kl(dists):
      mean, log_std = dists[0], dists[1][:, None, None, :]
      log_ratio = jnp.where(post.mask > 0, gaussian_log_prob(mean, log_std, post.action) - logp_old, 0.0)
      surr = jnp.mean(jnp.sum(post.mask * jnp.exp(log_ratio) * post.adv, axis=(1, 2)) / n_valid)
      kl = gaussian_kl(mean_old, log_std_old[:, None, None, :], mean, log_std)
      return surr, jnp.mean(jnp.sum(post.mask * kl, axis=(1, 2)) / n_valid)

    surr0, d_surr = jax.value_and_grad(lambda d: surrogate_and_kl(d)[0])(dists0)
    g = dists_vjp(d_surr)[0]
    fisher, fisher_quadratic = gaussian_fisher(dists_jvp, dists_vjp, log_std_old, post.mask)
    step_dir, cg_residual = conjugate_gradient(lambda v: fisher(v) + self.cg_damping * v, g, self.cg_iters)
    shs = fisher_quadratic(step_dir) + self.cg_damping * jnp.vdot(step_dir, step_dir)
    full_step = step_dir * jnp.sqrt(2.0 * self.max_kl / jnp.maximum(shs, 1e-12))

    def search_cond(c):
      n, accepted = c[0], c[1]
      return (n < self.line_search_steps) & ~accepted

    def search_body(c):
      n, _, flat, _, _ = c
      cand = flat0 + self.backtrack_ratio ** n.astype(flat0.dtype) * full_step
      surr, kl = surrogate_and_kl(post_dists(cand))
      ok = (surr > surr0) & (kl <= self.max_kl) & jnp.isfinite(surr) & jnp.isfinite(kl)
      return n + 1, ok, jnp.where(ok, cand, flat), jnp.where(ok, surr - surr0, 0.0), jnp.where(ok, kl, 0.0)

    zero = jnp.zeros((), flat0.dtype)
    n_tried, accepted, flat_new, gain, kl = jax.lax.while_loop(
        search_cond, search_body, (jnp.zeros((), jnp.int32), jnp.zeros((), bool), flat0, zero, zero))

    metrics = {
        "pre_update_return": jnp.mean(returns[0]),
        "post_update_return": jnp.mean(returns[1]),
        "kl": kl,
        "surrogate_gain": gain,
        "line_search_accepted": accepted.astype(jnp.float32),
        "line_search_tries": n_tried.astype(jnp.float32),
        "cg_residual": cg_residual,
        "meta_grad_norm": jnp.linalg.norm(g),
    }
    return MAMLState(unravel(flat_new)), jnp.sum(steps).astype(jnp.int32), metrics

  def adapted_policy(self, state: MAMLState, psi: jax.Array, real_episodes: int, key: jax.Array) -> ActFn:
    """The mean action of theta (real_episodes == 0) or of theta' after the inner step(s) on exactly
    ``real_episodes`` (static) real episodes of task psi [k] sampled with theta."""
    if real_episodes == 0:
      return self.act_fn(state.policy, deterministic=True)
    one = lambda x: x[None]
    batch, _, _ = self.collect(jax.tree.map(one, state.policy), one(psi), key, real_episodes)
    return self.act_fn(self.adapt(state.policy, jax.tree.map(lambda x: x[0], batch)), deterministic=True)
