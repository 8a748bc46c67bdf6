"""Variants of ``TRPO.update`` that figure 8 times against the shipped one: candidates for closing part of
the update's distance from its FLOP floor, measured here, not used by the project.

``fvp="ggn"``: the Fisher-vector product in Gauss-Newton form, F v = J^T H_out J v with J the Jacobian of the
policy's outputs (mean, log-std) and H_out the Hessian of the mean KL in those outputs: one JVP and one VJP
through the policy per product instead of a JVP of the KL's gradient (forward, backward and their tangents).
It equals the shipped product at the update's point (the KL's gradient in the outputs is zero there, so the
Hessian's other term vanishes), up to float rounding.
``search="sequential"``: the backtracking line search evaluates its candidates one at a time and stops at the
first acceptable one (``lax.while_loop``) instead of all ``line_search_steps`` at once (vmap); it picks the
same candidate (the first that improves the surrogate within the KL bound).
The update is otherwise the shipped one (``admrl_jax.trpo.TRPO.update``), line for line.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from admrl_jax.linear_solve import conjugate_gradient
from admrl_jax.networks import gaussian_entropy, gaussian_kl, gaussian_log_prob
from admrl_jax.trpo import TRPO, AgentState, fisher_vector_product
from admrl_jax.types import alive_mask


@dataclasses.dataclass(frozen=True)
class VariantTRPO(TRPO):
  fvp: str = "jvp_grad"      # the shipped product; "ggn": Gauss-Newton form
  search: str = "vmap"       # every candidate at once (the line search figure 8 measured); "sequential": stop at
                             # the first acceptable candidate (trpo.py's since)

  @classmethod
  def of(cls, agent: TRPO, **variant) -> "VariantTRPO":
    return cls(**{f.name: getattr(agent, f.name) for f in dataclasses.fields(TRPO)}, **variant)

  def update(self, state: AgentState, traj, rewards, key):
    mask = alive_mask(traj.done)
    n_valid = jnp.maximum(jnp.sum(mask), 1.0)
    adv, targets = self.advantages(state.value, traj, rewards)
    adv_mean = jnp.sum(adv * mask) / n_valid
    adv_std = jnp.sqrt(jnp.sum(mask * (adv - adv_mean) ** 2) / n_valid) + 1e-8
    adv_n = (adv - adv_mean) / adv_std

    flat0, unravel = ravel_pytree(state.policy)
    mean_old, log_std_old = jax.lax.stop_gradient(self.policy_net.apply(state.policy, traj.obs))
    logp_old = gaussian_log_prob(mean_old, log_std_old, traj.action)

    def surrogate(flat):
      mean, log_std = self.policy_net.apply(unravel(flat), traj.obs)
      log_ratio = jnp.where(mask > 0, gaussian_log_prob(mean, log_std, traj.action) - logp_old, 0.0)
      return jnp.sum(mask * jnp.exp(log_ratio) * adv_n) / n_valid + self.entropy_coef * gaussian_entropy(log_std)

    def mean_kl(flat):
      mean, log_std = self.policy_net.apply(unravel(flat), traj.obs)
      return jnp.sum(mask * gaussian_kl(mean_old, log_std_old, mean, log_std)) / n_valid

    surr0, g = jax.value_and_grad(surrogate)(flat0)
    if self.fvp == "ggn":
      outputs = lambda flat: self.policy_net.apply(unravel(flat), traj.obs)
      out0, out_vjp = jax.vjp(outputs, flat0)
      _, out_jvp = jax.linearize(outputs, flat0)
      kl_out = lambda o: jnp.sum(mask * gaussian_kl(mean_old, log_std_old, o[0], o[1])) / n_valid
      fvp = lambda v: out_vjp(jax.jvp(jax.grad(kl_out), (out0,), (out_jvp(v),))[1])[0] + self.cg_damping * v
    else:
      fvp = lambda v: fisher_vector_product(mean_kl, flat0, v, self.cg_damping)
    step_dir, _ = conjugate_gradient(fvp, g, self.cg_iters)
    shs = jnp.vdot(step_dir, fvp(step_dir))
    full_step = step_dir * jnp.sqrt(2.0 * self.max_kl / jnp.maximum(shs, 1e-12))

    if self.search == "sequential":
      def cond(c):
        return (c[0] < self.line_search_steps) & ~c[1]

      def body(c):
        i, _, flat, kl, surr = c
        cand = flat0 + 0.5 ** i.astype(flat0.dtype) * full_step
        surr_c, kl_c = surrogate(cand), mean_kl(cand)
        ok = (surr_c > surr0) & (kl_c <= self.max_kl) & jnp.isfinite(surr_c)
        return i + 1, ok, jnp.where(ok, cand, flat), jnp.where(ok, kl_c, kl), jnp.where(ok, surr_c, surr)

      tried, accepted, flat_new, kl_new, surr_new = jax.lax.while_loop(
          cond, body, (jnp.zeros((), jnp.int32), jnp.zeros((), bool), flat0, jnp.zeros((), flat0.dtype), surr0))
    else:
      fractions = 0.5 ** jnp.arange(self.line_search_steps)
      cand = flat0[None] + fractions[:, None] * full_step[None]
      surr_c = jax.vmap(surrogate)(cand)
      kl_c = jax.vmap(mean_kl)(cand)
      ok = (surr_c > surr0) & (kl_c <= self.max_kl) & jnp.isfinite(surr_c)
      first = jnp.argmax(ok)
      accepted = jnp.any(ok)
      flat_new = jnp.where(accepted, cand[first], flat0)
      kl_new, surr_new, tried = kl_c[first], surr_c[first], jnp.where(accepted, first + 1, self.line_search_steps)

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
