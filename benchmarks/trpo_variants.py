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
Each overrides one of the shipped update's two hooks (``admrl_jax.trpo.TRPO.fisher_product``, ``line_search``);
the update is otherwise the shipped one.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.trpo import TRPO, TrustRegion


@dataclasses.dataclass(frozen=True)
class VariantTRPO(TRPO):
  fvp: str = "jvp_grad"      # the shipped product; "ggn": Gauss-Newton form
  search: str = "vmap"       # every candidate at once (the line search figure 8 measured); "sequential": stop at
                             # the first acceptable candidate (trpo.py's since)

  @classmethod
  def of(cls, agent: TRPO, **variant) -> "VariantTRPO":
    return cls(**{f.name: getattr(agent, f.name) for f in dataclasses.fields(TRPO)}, **variant)

  def fisher_product(self, region: TrustRegion):
    if self.fvp != "ggn":
      return super().fisher_product(region)
    out0, out_vjp = jax.vjp(region.outputs, region.flat0)
    _, out_jvp = jax.linearize(region.outputs, region.flat0)
    return lambda v: (out_vjp(jax.jvp(jax.grad(region.kl_of_outputs), (out0,), (out_jvp(v),))[1])[0]
                      + self.cg_damping * v)

  def line_search(self, region: TrustRegion, surr0, full_step):
    if self.search == "sequential":
      return super().line_search(region, surr0, full_step)
    fractions = 0.5 ** jnp.arange(self.line_search_steps)
    cand = region.flat0[None] + fractions[:, None] * full_step[None]
    surr_c, kl_c = jax.vmap(region.surrogate)(cand), jax.vmap(region.mean_kl)(cand)
    ok = (surr_c > surr0) & (kl_c <= self.max_kl) & jnp.isfinite(surr_c)
    first, accepted = jnp.argmax(ok), jnp.any(ok)
    return (accepted, jnp.where(accepted, cand[first], region.flat0), kl_c[first], surr_c[first],
            jnp.where(accepted, first + 1, self.line_search_steps))
