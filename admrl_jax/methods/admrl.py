"""AdMRL (SPEC section 2): the tasks are the adversary's iterates, moved by projected gradient ascent
on the sub-optimality gap with the implicit task gradient."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.methods.base import Feedback, TaskProposal, register

STEP_RULES = ("normalised", "raw")


@register("admrl")
@dataclasses.dataclass(frozen=True)
class AdMRL(TaskProposal):
  ascent_step: float = 0.25        # normalised: step length in unit coordinates w in [-1, 1]^k; raw: step size
  step_rule: str = "normalised"    # normalised: w += step g_w / |g_w| | raw (the reference): w += step g_w
  restart_patience: int = 0        # restart an adversary whose net move over this many iterations is
                                   # below one ascent step (stalled at a face or circling); 0: never

  uses_task_gradient = True
  traced_fields = ("ascent_step",)

  def __post_init__(self):
    if self.step_rule not in STEP_RULES:
      raise ValueError(f"adversary.step_rule: unknown value {self.step_rule!r}; allowed: {list(STEP_RULES)}")

  def init_memory(self):
    """anchor [K, k]: each adversary's position ``restart_patience`` iterations ago (unit coordinates);
    since [K]: iterations since then; restarts [K]: restarts so far."""
    K, k = self.num_tasks, self.box.dim
    return {"anchor": jnp.full((K, k), jnp.nan), "since": jnp.zeros((K,), jnp.int32),
            "restarts": jnp.zeros((K,), jnp.int32)}

  def propose(self, psi: jax.Array, memory, key: jax.Array) -> jax.Array:
    return psi

  def ascend(self, w: jax.Array, grad_w: jax.Array) -> jax.Array:
    """One projected ascent step in unit coordinates: w [K, k], grad_w [K, k] -> w' [K, k].

    normalised: the move is ``ascent_step`` long whatever the scale of the returns; raw: the
    reference's ``step x gradient``. A zero or non-finite gradient leaves the task where it is.
    """
    norm = jnp.linalg.norm(grad_w, axis=-1, keepdims=True)
    ok = jnp.isfinite(norm) & (norm > 0)
    direction = jnp.where(ok, grad_w / jnp.where(ok, norm, 1.0), 0.0)
    move = direction if self.step_rule == "normalised" else direction * jnp.where(ok, norm, 0.0)
    return jnp.clip(w + self.ascent_step * move, -1.0, 1.0)

  def update(self, psi: jax.Array, memory, feedback: Feedback):
    """psi [K, k] <- Proj(psi + step), then (with restart_patience) stalled adversaries restart at a
    uniformly drawn task."""
    box = self.box
    g_w = feedback.grad * (jnp.asarray(box.hi) - jnp.asarray(box.lo)) / 2.0
    w = self.ascend(box.to_unit(psi), g_w)
    if self.restart_patience == 0:
      return box.from_unit(w), memory
    anchor = jnp.where(jnp.isnan(memory["anchor"]), box.to_unit(psi), memory["anchor"])
    since = memory["since"] + 1
    due = since >= self.restart_patience
    stalled = due & (jnp.linalg.norm(w - anchor, axis=-1) < self.ascent_step)
    fresh = jax.random.uniform(feedback.key, w.shape, minval=-1.0, maxval=1.0)
    w = jnp.where(stalled[:, None], fresh, w)
    memory = {"anchor": jnp.where(due[:, None], w, anchor), "since": jnp.where(due, 0, since),
              "restarts": memory["restarts"] + stalled.astype(jnp.int32)}
    return box.from_unit(w), memory


@register("random_walk")
@dataclasses.dataclass(frozen=True)
class RandomWalk(AdMRL):
  """The adversary's control: AdMRL's walk (same start, step length, projection, restarts) with the
  task gradient replaced by a uniformly random direction. Where AdMRL does no better than this, its
  gradient is not what moves it."""

  uses_task_gradient = False

  def update(self, psi: jax.Array, memory, feedback: Feedback):
    noise = jax.random.normal(jax.random.fold_in(feedback.key, 7), psi.shape)
    grad = noise * 2.0 / (jnp.asarray(self.box.hi) - jnp.asarray(self.box.lo))   # so g_w is the noise itself
    return super().update(psi, memory, feedback.replace(grad=grad))
