"""Prioritised task replay: Prioritized Level Replay (PLR; Jiang, Grefenstette and Rocktaeschel, ICML 2021)
with tasks for levels, after the level sampler of jaxued (``LevelSampler``; minimax's ``PLRManager`` is the
same design).

A buffer remembers up to ``replay_size`` trained tasks with their scores (``search_signal``: the in-loop gap
estimate or the model's error) and the iteration each was last trained on. Each iteration is, with
probability p (``replay_prob``, once the buffer holds ``replay_min_fill`` of its size and at least K tasks),
a replay of K distinct buffer tasks drawn from

    P_replay = (1 - rho) P_S + rho P_C,   P_S(i) ~ (1 / rank_i)^(1 / beta),   P_C(i) ~ now - seen_i

(rank 1: the highest score; staleness counted in outer iterations since the task was last trained on, so
an old score gets measured again; K > 1 draws without replacement, Gumbel top-k), and otherwise K fresh
tasks drawn uniformly from the box. Every trained task is then offered to the buffer with its new score:
it takes an empty slot, or else the slot of least replay weight if it scores higher than that slot's task
(jaxued's insertion rule). A replayed task leaves the buffer when drawn and comes back with its new score,
which is PLR's in-place update of its score and staleness.

Robust PLR (the learner trains on replayed levels only, a fresh level is only scored) has no counterpart
here: the learner is the dynamics model, and a fresh task's score costs real episodes (theta_hat's batch
for the model error, every collection of the iteration for the gap estimate, which needs theta*), and
they join the model's buffer like every real batch. Keeping them out would spend real samples on scores
alone at the same total budget. The model-error score is measured before the iteration's data trains the
model (theta_hat on the warm-up model), as robust PLR scores a level before training on it.

The next iteration's tasks are chosen in ``update`` and carried in ``MetaState.psi``; ``propose`` returns
them. Replayed tasks are exactly equal to the tasks they replay (the buffer holds task coordinates).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.methods.base import SIGNALS, Feedback, TaskProposal, check_choice, register, task_score


@register("plr")
@dataclasses.dataclass(frozen=True)
class PrioritisedReplay(TaskProposal):
  replay_prob: float = 0.5           # p: probability that an iteration replays buffer tasks
  replay_temperature: float = 0.3    # beta of the rank weights (1 / rank)^(1 / beta)
  replay_staleness: float = 0.3      # rho: weight of the staleness distribution P_C
  replay_min_fill: float = 0.25      # no replay before the buffer holds this share of replay_size (and K) tasks
  replay_size: int = 32              # tasks the buffer holds
  search_signal: str = "gap"         # gap: the in-loop gap estimate | model_error: |predicted - real| return

  traced_fields = ("replay_prob", "replay_temperature", "replay_staleness", "replay_min_fill")

  def __post_init__(self):
    check_choice("adversary.search_signal", self.search_signal, SIGNALS)
    if self.replay_size < self.num_tasks:
      raise ValueError(f"adversary.replay_size: must be at least loop.num_tasks={self.num_tasks} (a replay draws "
                       f"K distinct buffer tasks), got {self.replay_size}")

  def init(self, key: jax.Array) -> jax.Array:
    """The first iteration's K tasks [K, k]: fresh, drawn uniformly."""
    return self.box.sample_uniform(key, self.num_tasks)

  def init_memory(self):
    """psi [M, k] the buffer's tasks, score [M] their latest scores, seen [M] the iteration count when each
    was last trained on (-1: empty slot), now []: iterations so far."""
    M = self.replay_size
    return {"psi": jnp.zeros((M, self.box.dim)), "score": jnp.zeros((M,)), "seen": jnp.full((M,), -1, jnp.int32),
            "now": jnp.zeros((), jnp.int32)}

  def replay_distribution(self, memory) -> jax.Array:
    """P_replay [M] over the buffer's slots (0 on empty ones; uniform staleness when no task is stale)."""
    valid = memory["seen"] >= 0
    order = jnp.argsort(-jnp.where(valid, memory["score"], -jnp.inf))          # highest score first
    rank = jnp.zeros_like(order).at[order].set(jnp.arange(1, order.shape[0] + 1))
    h = jnp.where(valid, jnp.exp(-jnp.log(rank.astype(jnp.float32)) / self.replay_temperature), 0.0)
    p_score = h / jnp.maximum(jnp.sum(h), jnp.finfo(jnp.float32).tiny)
    stale = jnp.where(valid, memory["now"] - memory["seen"], 0).astype(jnp.float32)
    p_stale = jnp.where(jnp.sum(stale) > 0, stale / jnp.maximum(jnp.sum(stale), 1.0),
                        valid / jnp.maximum(jnp.sum(valid), 1))
    return (1.0 - self.replay_staleness) * p_score + self.replay_staleness * p_stale

  def offer(self, memory, psi: jax.Array, score: jax.Array):
    """The buffer after offering it the trained tasks psi [K, k] with their scores [K], one after another
    (PLR's insertion rule; a non-finite score is not kept); they count as seen now."""

    def one(memory, item):
      task, s = item
      valid = memory["seen"] >= 0
      slot = jnp.where(jnp.all(valid), jnp.argmin(self.replay_distribution(memory)), jnp.argmin(valid))
      keep = jnp.isfinite(s) & (~valid[slot] | (s > memory["score"][slot]))
      put = lambda x, v: x.at[slot].set(jnp.where(keep, v, x[slot]))
      return {**memory, "psi": put(memory["psi"], task), "score": put(memory["score"], s),
              "seen": put(memory["seen"], memory["now"])}, None

    return jax.lax.scan(one, memory, (psi, score))[0]

  def next_tasks(self, memory, key: jax.Array):
    """(the next iteration's tasks [K, k], memory): a replay of K distinct tasks drawn from P_replay (taken
    out of the buffer until they are offered back), or K fresh uniform tasks."""
    K, M = self.num_tasks, self.replay_size
    k_replay, k_draw, k_fresh = jax.random.split(key, 3)
    count = jnp.sum(memory["seen"] >= 0)
    ready = (count >= K) & (count >= self.replay_min_fill * M)
    replay = ready & (jax.random.uniform(k_replay) < self.replay_prob)
    slots = jax.random.choice(k_draw, M, (K,), replace=False, p=self.replay_distribution(memory))
    psi = jnp.where(replay, memory["psi"][slots], self.box.sample_uniform(k_fresh, K))
    seen = jnp.where(replay, memory["seen"].at[slots].set(-1), memory["seen"])
    return psi, {**memory, "seen": seen}

  def propose(self, psi: jax.Array, memory, key: jax.Array) -> jax.Array:
    return psi

  def update(self, psi: jax.Array, memory, feedback: Feedback):
    """Offer this iteration's K tasks with their scores to the buffer, then pick the next iteration's."""
    memory = self.offer({**memory, "now": memory["now"] + 1}, psi, task_score(feedback, self.search_signal))
    return self.next_tasks(memory, feedback.key)
