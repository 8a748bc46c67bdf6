"""Gap search: an adversary that does not lean on the implicit task gradient.

It remembers every task it trained on with a measured score g and proposes the tasks where an upper
confidence bound on the current score is highest. The score (``search_signal``) is either the
in-loop gap estimate (theta*'s real return minus theta_hat's: real data, no Hessian, no solve) or
the model's error there, |theta_hat's return predicted by the warm-up model - its real return| (the
simulation lemma's term: how far the model is from the system on the adapted policy's states,
without the adaptation's own noise, which dominates the gap estimate):

    n(w)     = sum_i a_i(w),   a_i(w) = exp(-|w - w_i|^2 / (2 h^2)) * exp(-(t - t_i) / forget)
    mean(w)  = (sum_i a_i(w) g_i + g_max) / (n(w) + 1)          (optimistic prior: the worst recent gap)
    score(w) = mean(w) + beta * std(g) / sqrt(n(w) + 1)

over ``candidates`` uniformly drawn tasks w in unit coordinates. Old estimates fade (the model has
been refitted since), unvisited regions start at the worst gap seen, so the search first spreads
over the box and then returns to where the gap stays large. With K tasks per iteration it takes
the K best candidates that lie more than one bandwidth apart, so the K tasks spread out. A
Bayesian-optimisation search on the gap estimates, with a Nadaraya-Watson surrogate instead of a
Gaussian process: its cost is O(candidates x memory).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.methods.base import SIGNALS, Feedback, TaskProposal, check_choice, register, task_score


@register("gap_search")
@dataclasses.dataclass(frozen=True)
class GapSearch(TaskProposal):
  search_beta: float = 1.0         # exploration weight of the confidence bonus (traced)
  search_bandwidth: float = 0.25   # kernel width h in unit coordinates (traced)
  search_forget: float = 25.0      # outer iterations over which an estimate fades by e (traced)
  candidates: int = 256            # tasks scored per proposal
  memory_size: int = 128           # most recent (task, score) pairs remembered
  search_signal: str = "gap"       # gap: the in-loop gap estimate | model_error: |predicted - real| return

  traced_fields = ("search_beta", "search_bandwidth", "search_forget")

  def __post_init__(self):
    check_choice("adversary.search_signal", self.search_signal, SIGNALS)

  def init_memory(self):
    """w [M, k] unit-coordinate tasks, gap [M] their estimates, t [M] the iteration measured (-1:
    empty slot), count []: estimates written so far, now []: iterations so far."""
    M, k = self.memory_size, self.box.dim
    return {"w": jnp.zeros((M, k)), "gap": jnp.zeros((M,)), "t": jnp.full((M,), -1, jnp.int32),
            "count": jnp.zeros((), jnp.int32), "now": jnp.zeros((), jnp.int32)}

  def surrogate(self, memory, w: jax.Array):
    """(mean [C], n [C], bonus scale []) of the gap at tasks w [C, k] from the memory."""
    valid = (memory["t"] >= 0) & jnp.isfinite(memory["gap"])
    gap = jnp.where(valid, memory["gap"], 0.0)
    age = (memory["now"] - memory["t"]).astype(jnp.float32)
    fade = jnp.where(valid, jnp.exp(-age / self.search_forget), 0.0)                       # [M]
    d2 = jnp.sum((w[:, None, :] - memory["w"][None, :, :]) ** 2, axis=-1)                  # [C, M]
    a = jnp.exp(-d2 / (2.0 * self.search_bandwidth ** 2)) * fade[None, :]
    n = jnp.sum(a, axis=-1)
    count = jnp.sum(valid)
    prior = jnp.where(count > 0, jnp.max(jnp.where(valid, gap, -jnp.inf)), 0.0)
    mean = (a @ gap + prior) / (n + 1.0)
    mu = jnp.sum(gap) / jnp.maximum(count, 1)
    spread = jnp.where(count > 1, jnp.sqrt(jnp.sum(jnp.where(valid, (gap - mu) ** 2, 0.0))
                                           / jnp.maximum(count - 1, 1)), 1.0)
    return mean, n, spread

  def propose(self, psi: jax.Array, memory, key: jax.Array) -> jax.Array:
    """K tasks [K, k], picked one after another by the upper confidence bound."""
    cand = jax.random.uniform(key, (self.candidates, self.box.dim), minval=-1.0, maxval=1.0)
    mean, n, spread = self.surrogate(memory, cand)
    score = mean + self.search_beta * spread / jnp.sqrt(n + 1.0)

    def pick(free, _):
      best = jnp.argmax(jnp.where(free, score, -jnp.inf))
      near = jnp.sum((cand - cand[best]) ** 2, axis=-1) < self.search_bandwidth ** 2
      # the next task lies more than one bandwidth from this one (unless no candidate is left)
      return jnp.where(jnp.all(near | ~free), free, free & ~near).at[best].set(False), cand[best]

    _, chosen = jax.lax.scan(pick, jnp.ones(self.candidates, bool), None, length=self.num_tasks)
    return self.box.from_unit(chosen)

  def update(self, psi: jax.Array, memory, feedback: Feedback):
    """Write this iteration's K (task, score) pairs into the memory (oldest overwritten)."""
    slots = (memory["count"] + jnp.arange(self.num_tasks)) % self.memory_size
    score = task_score(feedback, self.search_signal)
    memory = {"w": memory["w"].at[slots].set(self.box.to_unit(psi)),
              "gap": memory["gap"].at[slots].set(score),
              "t": memory["t"].at[slots].set(memory["now"]),
              "count": memory["count"] + self.num_tasks, "now": memory["now"] + 1}
    return psi, memory
