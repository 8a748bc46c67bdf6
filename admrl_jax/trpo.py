"""TRPO: GAE, Fisher-vector products, natural-gradient step with line search, value fit.

The update builds its problem as a ``TrustRegion`` and calls two hooks on it, ``fisher_product`` and
``line_search``; ``benchmarks/trpo_variants.py`` overrides them to time alternatives (figure 8).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from admrl_jax.linear_solve import conjugate_gradient
from admrl_jax.networks import (GaussianPolicy, ValueNet, gaussian_act_fn, gaussian_entropy, gaussian_kl,
                                gaussian_log_prob)
from admrl_jax.types import Transition, alive_mask


def gae(rewards, values, next_values, dones, gamma: float, lam: float):
  """Generalised advantage estimation on one trajectory.

  rewards, values (V(s_t)), next_values (V(s_{t+1})), dones: [T]. The last step bootstraps from
  V(s_T) (time-limit truncation); a terminating step bootstraps nothing and cuts the recursion.
  Returns (advantages [T], value targets [T]).
  """
  not_done = 1.0 - dones
  deltas = rewards + gamma * not_done * next_values - values

  def back(acc, x):
    delta, nd = x
    acc = delta + gamma * lam * nd * acc
    return acc, acc

  _, adv = jax.lax.scan(back, jnp.zeros((), rewards.dtype), (deltas, not_done), reverse=True)
  return adv, adv + values


class TrustRegion(NamedTuple):
  """One update's problem in the flat policy parameters [P], from the batch's old policy: the point flat0
  [P]; the surrogate and the mean KL (flat [P] -> scalar); the policy's outputs on the batch (flat [P] ->
  (mean, log-std) [N, T, da]) and the mean KL as a function of them (the Gauss-Newton form's pieces)."""

  flat0: jax.Array
  surrogate: Callable
  mean_kl: Callable
  outputs: Callable
  kl_of_outputs: Callable


@struct.dataclass
class AgentState:
  """One task's learner: policy parameters, value parameters and the value optimiser state."""

  policy: dict
  value: dict
  value_opt: optax.OptState


@dataclasses.dataclass(frozen=True)
class TRPO:
  """Static TRPO configuration (SPEC section 3 defaults) and its pure functions."""

  obs_dim: int
  action_dim: int
  policy_hidden: tuple[int, ...] = (32, 32)
  value_hidden: tuple[int, ...] = (64, 64)
  gamma: float = 0.99
  lam: float = 0.95
  max_kl: float = 0.01
  cg_iters: int = 10
  cg_damping: float = 0.1
  line_search_steps: int = 10
  entropy_coef: float = 0.005
  value_lr: float = 1e-3
  value_epochs: int = 2
  value_minibatches: int = 4

  @property
  def policy_net(self) -> GaussianPolicy:
    return GaussianPolicy(self.policy_hidden, self.action_dim)

  @property
  def value_net(self) -> ValueNet:
    return ValueNet(self.value_hidden)

  @property
  def value_optimizer(self) -> optax.GradientTransformation:
    return optax.adam(self.value_lr)

  def init(self, key: jax.Array) -> AgentState:
    k_pi, k_v = jax.random.split(key)
    obs = jnp.zeros(self.obs_dim)
    policy = self.policy_net.init(k_pi, obs)
    value = self.value_net.init(k_v, obs)
    return AgentState(policy, value, self.value_optimizer.init(value))

  def log_prob(self, policy_params, obs, action):
    """obs [..., ds], action [..., da] -> log pi(a|s) [...]."""
    mean, log_std = self.policy_net.apply(policy_params, obs)
    return gaussian_log_prob(mean, log_std, action)

  def act_fn(self, policy_params, deterministic: bool = False):
    """An (obs, key) -> action function: sampled from the Gaussian, or its mean."""
    return gaussian_act_fn(self.policy_net, policy_params, deterministic)

  def advantages(self, value_params, traj: Transition, rewards: jax.Array):
    """GAE for a batch of trajectories (leaves [N, T, ...]) -> (adv [N, T], targets [N, T])."""
    values = self.value_net.apply(value_params, traj.obs)
    next_values = self.value_net.apply(value_params, traj.next_obs)
    return jax.vmap(gae, in_axes=(0, 0, 0, 0, None, None))(
        rewards, values, next_values, traj.done, self.gamma, self.lam)

  def update(self, state: AgentState, traj: Transition, rewards: jax.Array, key: jax.Array):
    """One TRPO iteration on a batch (leaves [N, T, ...], rewards [N, T]) -> (state, metrics)."""
    mask = alive_mask(traj.done)
    n_valid = jnp.maximum(jnp.sum(mask), 1.0)
    adv, targets = self.advantages(state.value, traj, rewards)
    adv_mean = jnp.sum(adv * mask) / n_valid
    adv_std = jnp.sqrt(jnp.sum(mask * (adv - adv_mean) ** 2) / n_valid) + 1e-8
    adv_n = (adv - adv_mean) / adv_std

    flat0, unravel = ravel_pytree(state.policy)
    mean_old, log_std_old = jax.lax.stop_gradient(self.policy_net.apply(state.policy, traj.obs))
    logp_old = gaussian_log_prob(mean_old, log_std_old, traj.action)

    outputs = lambda flat: self.policy_net.apply(unravel(flat), traj.obs)   # (mean, log-std) [N, T, da]

    def surrogate(flat):
      mean, log_std = outputs(flat)
      log_ratio = jnp.where(mask > 0, gaussian_log_prob(mean, log_std, traj.action) - logp_old, 0.0)
      ratio = jnp.exp(log_ratio)   # masked steps' actions never enter (exp of garbage could be inf)
      return jnp.sum(mask * ratio * adv_n) / n_valid + self.entropy_coef * gaussian_entropy(log_std)

    def kl_of_outputs(out):
      mean, log_std = out
      return jnp.sum(mask * gaussian_kl(mean_old, log_std_old, mean, log_std)) / n_valid

    region = TrustRegion(flat0, surrogate, lambda flat: kl_of_outputs(outputs(flat)), outputs, kl_of_outputs)
    surr0, g = jax.value_and_grad(surrogate)(flat0)
    fvp = self.fisher_product(region)
    step_dir, _ = conjugate_gradient(fvp, g, self.cg_iters)
    shs = jnp.vdot(step_dir, fvp(step_dir))
    full_step = step_dir * jnp.sqrt(2.0 * self.max_kl / jnp.maximum(shs, 1e-12))
    accepted, flat_new, kl_new, surr_new, tried = self.line_search(region, surr0, full_step)

    value, value_opt, value_loss = self._fit_value(state, traj.obs, targets, mask, key)
    metrics = {
        "kl": jnp.where(accepted, kl_new, 0.0),
        "surrogate_gain": jnp.where(accepted, surr_new - surr0, 0.0),
        "line_search_accepted": accepted.astype(jnp.float32),
        "value_loss": value_loss,
        "episode_return": jnp.mean(jnp.sum(rewards * mask, axis=-1)),
        "candidates_tried": tried.astype(jnp.float32),
    }
    return AgentState(unravel(flat_new), value, value_opt), metrics

  def fisher_product(self, region: TrustRegion):
    """v [P] -> (F + cg_damping I) v, F the Hessian of the mean KL at the update's point."""
    return lambda v: fisher_vector_product(region.mean_kl, region.flat0, v, self.cg_damping)

  def line_search(self, region: TrustRegion, surr0: jax.Array, full_step: jax.Array):
    """Backtracking from flat0 + full_step [P]: the step halves until the surrogate improves on surr0 within
    the trust region, at most ``line_search_steps`` candidates, stopping at the first acceptable one
    (figure 8: 0.90x the update's time of scoring all at once) -> (accepted, flat [P], its KL, its
    surrogate, candidates tried); flat0 where none is accepted."""
    flat0 = region.flat0

    def untried(carry):
      i, accepted = carry[:2]
      return (i < self.line_search_steps) & ~accepted

    def try_next(carry):
      i, _, flat, kl, surr = carry
      cand = flat0 + 0.5 ** i.astype(flat0.dtype) * full_step
      surr_c, kl_c = region.surrogate(cand), region.mean_kl(cand)
      ok = (surr_c > surr0) & (kl_c <= self.max_kl) & jnp.isfinite(surr_c)
      return i + 1, ok, jnp.where(ok, cand, flat), jnp.where(ok, kl_c, kl), jnp.where(ok, surr_c, surr)

    tried, accepted, flat, kl, surr = jax.lax.while_loop(
        untried, try_next, (jnp.zeros((), jnp.int32), jnp.zeros((), bool), flat0, jnp.zeros((), flat0.dtype), surr0))
    return accepted, flat, kl, surr, tried

  def _fit_value(self, state: AgentState, obs, targets, mask, key):
    """Minibatch Adam regression of V(s) on the GAE targets; obs [N, T, ds], targets/mask [N, T]."""
    obs = obs.reshape(-1, self.obs_dim)
    targets, mask = targets.reshape(-1), mask.reshape(-1)
    n = targets.shape[0]
    per_batch = n // self.value_minibatches

    def loss_fn(params, idx):
      err = self.value_net.apply(params, obs[idx]) - targets[idx]
      return jnp.sum(mask[idx] * err**2) / jnp.maximum(jnp.sum(mask[idx]), 1.0)

    def epoch(carry, k):
      perm = jax.random.permutation(k, n)[: per_batch * self.value_minibatches]

      def mb(carry, idx):
        params, opt = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, idx)
        updates, opt = self.value_optimizer.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

      return jax.lax.scan(mb, carry, perm.reshape(self.value_minibatches, per_batch))

    (value, opt), losses = jax.lax.scan(epoch, (state.value, state.value_opt),
                                        jax.random.split(key, self.value_epochs))
    return value, opt, jnp.mean(losses)


def fisher_vector_product(mean_kl, flat0: jax.Array, v: jax.Array, damping: float) -> jax.Array:
  """(F + damping I) v with F the Hessian of the mean KL at flat0 (a JVP of its gradient)."""
  return jax.jvp(jax.grad(mean_kl), (flat0,), (v,))[1] + damping * v
