"""MB-Unif (SPEC section 5): every iteration's tasks drawn uniformly from the box."""
from __future__ import annotations

import dataclasses

import jax

from admrl_jax.methods.base import TaskProposal, register


@register("unif")
@dataclasses.dataclass(frozen=True)
class Uniform(TaskProposal):

  def propose(self, psi: jax.Array, memory, key: jax.Array) -> jax.Array:
    return self.box.sample_uniform(key, self.num_tasks)
