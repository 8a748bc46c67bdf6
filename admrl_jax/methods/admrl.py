"""AdMRL (SPEC section 2): the tasks are the adversary's iterates, moved by projected gradient ascent
on the sub-optimality gap with the implicit task gradient."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.methods.base import TaskProposal, register


@register("admrl")
@dataclasses.dataclass(frozen=True)
class AdMRL(TaskProposal):
  ascent_step: float = 0.25        # step length in unit coordinates w in [-1, 1]^k

  uses_task_gradient = True
  traced_fields = ("ascent_step",)

  def propose(self, psi: jax.Array, key: jax.Array) -> jax.Array:
    return psi

  def update(self, psi: jax.Array, grad: jax.Array, info) -> jax.Array:
    """psi [K, k] <- Proj(psi + step * g_w / ||g_w||), taken in unit coordinates w.

    A normalised step keeps the move ``ascent_step`` long whatever the scale of the returns; a
    zero or non-finite gradient leaves the task where it is.
    """
    box = self.box
    g_w = grad * (jnp.asarray(box.hi) - jnp.asarray(box.lo)) / 2.0
    norm = jnp.linalg.norm(g_w, axis=-1, keepdims=True)
    ok = jnp.isfinite(norm) & (norm > 0)
    direction = jnp.where(ok, g_w / jnp.where(ok, norm, 1.0), 0.0)
    w = jnp.clip(box.to_unit(psi) + self.ascent_step * direction, -1.0, 1.0)
    return box.from_unit(w)
