"""MB-Gauss (SPEC section 5, the reference's proposal): w ~ N(0, std^2 I) clipped to [-1, 1]^k."""
from __future__ import annotations

import dataclasses

import jax

from admrl_jax.methods.base import TaskProposal, register


@register("gauss")
@dataclasses.dataclass(frozen=True)
class Gaussian(TaskProposal):
  gauss_std: float = 1.0

  traced_fields = ("gauss_std",)

  def propose(self, psi: jax.Array, memory, key: jax.Array) -> jax.Array:
    return self.box.sample_gaussian(key, self.num_tasks, self.gauss_std)
