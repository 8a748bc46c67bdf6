"""AdMRL (SPEC section 2): the tasks are the adversary's iterates, moved by projected gradient ascent
on the sub-optimality gap with the implicit task gradient.

Two options widen what the walk covers (issue 27). ``uniform_share``: a mixture, each iteration's K
tasks part the walk's, part drawn uniformly from the box; an adversary whose slot trains a uniform task
waits where it is (the task gradient there is not its own), so the walk keeps its progress and the
uniform tasks cover the rest of the box. ``restart_from="replay_top"``: a stalled adversary
(``restart_patience``) restarts at the highest-scoring of the last ``replay_size`` trained tasks (the
mixture's uniform tasks among them) instead of a uniform task, so a restart returns to the worst gap
measured recently; the task is taken out of that memory and scored afresh when trained again, so a
region the model has learned falls down the ranking. Restarts rather than every iteration: between
restarts the walk keeps its own gradient steps, and the top task's score is only refreshed by training
on it again."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.methods.base import SIGNALS, Feedback, TaskProposal, check_choice, register, task_score

STEP_RULES = ("normalised", "raw")
RESTART_FROM = ("uniform", "replay_top")


@register("admrl")
@dataclasses.dataclass(frozen=True)
class AdMRL(TaskProposal):
  ascent_step: float = 0.25        # normalised: step length in unit coordinates w in [-1, 1]^k; raw: step size
  step_rule: str = "normalised"    # normalised: w += step g_w / |g_w| | raw (the reference): w += step g_w
  restart_patience: int = 0        # restart an adversary whose net move over this many iterations is
                                   # below one ascent step (stalled at a face or circling); 0: never
  restart_from: str = "uniform"    # where a stalled adversary restarts: uniform | replay_top (the highest-scoring
                                   # of the last replay_size trained tasks, by search_signal)
  replay_size: int = 32            # replay_top: trained tasks remembered
  search_signal: str = "gap"       # replay_top: gap (the in-loop gap estimate) | model_error (|predicted - real|)
  uniform_share: float = 0.0       # mixture: expected share of each iteration's K tasks drawn uniformly (the
                                   # adversaries they replace wait); 0: none. Static: it shapes the memory

  uses_task_gradient = True
  traced_fields = ("ascent_step",)

  def __post_init__(self):
    check_choice("adversary.step_rule", self.step_rule, STEP_RULES)
    check_choice("adversary.restart_from", self.restart_from, RESTART_FROM)
    check_choice("adversary.search_signal", self.search_signal, SIGNALS)
    if self.restart_from == "replay_top" and self.restart_patience == 0:
      raise ValueError("adversary.restart_from: 'replay_top' is where stalled adversaries restart; it needs "
                       "adversary.restart_patience > 0, got 0")

  def init_memory(self):
    """anchor [K, k]: each adversary's position ``restart_patience`` iterations ago (unit coordinates);
    since [K]: iterations since then; restarts [K]: restarts so far. replay_top: w [M, k] the last
    ``replay_size`` trained tasks (unit coordinates), score [M] their scores (-inf: empty or taken), count []:
    tasks written so far. Mixture: walk [K, k] the adversaries' iterates (unit coordinates), uniform [K]
    whether the carried task of each slot is a uniform draw (its adversary waits at walk)."""
    K, k, M = self.num_tasks, self.box.dim, self.replay_size
    memory = {"anchor": jnp.full((K, k), jnp.nan), "since": jnp.zeros((K,), jnp.int32),
              "restarts": jnp.zeros((K,), jnp.int32)}
    if self.restart_from == "replay_top":
      memory.update(w=jnp.zeros((M, k)), score=jnp.full((M,), -jnp.inf), count=jnp.zeros((), jnp.int32))
    if self.uniform_share:
      memory.update(walk=jnp.zeros((K, k)), uniform=jnp.zeros((K,), bool))
    return memory

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

  def remember(self, memory, psi: jax.Array, score: jax.Array):
    """replay_top's memory with the trained tasks psi [K, k] and their scores [K] written over the oldest
    (a non-finite score counts as none)."""
    slots = (memory["count"] + jnp.arange(self.num_tasks)) % self.replay_size
    return {**memory, "w": memory["w"].at[slots].set(self.box.to_unit(psi)),
            "score": memory["score"].at[slots].set(jnp.where(jnp.isfinite(score), score, -jnp.inf)),
            "count": memory["count"] + self.num_tasks}

  def top_tasks(self, memory, stalled: jax.Array):
    """(w [K, k], found [K], memory): the j-th stalled adversary (in slot order) gets the j-th highest-scoring
    remembered task, taken out of the memory; found is False where none is left for it."""
    M = self.replay_size
    order = jnp.argsort(-memory["score"])                                     # highest first, -inf last
    j = jnp.cumsum(stalled) - 1
    slot = order[jnp.clip(j, 0, M - 1)]
    found = stalled & (j < M) & (memory["score"][slot] > -jnp.inf)
    taken = jnp.any((slot[:, None] == jnp.arange(M)[None, :]) & found[:, None], axis=0)
    return memory["w"][slot], found, {**memory, "score": jnp.where(taken, -jnp.inf, memory["score"])}

  def mixture(self, key: jax.Array):
    """(uniform [K], w [K, k]): which of the next iteration's K tasks are uniform draws (floor(share K + u) of
    them, u ~ U[0, 1), at random slots; K = 1: one with probability share), and the draws in unit coordinates."""
    K = self.num_tasks
    k_count, k_slots, k_draw = jax.random.split(key, 3)
    count = jnp.floor(self.uniform_share * K + jax.random.uniform(k_count))
    uniform = jax.random.permutation(k_slots, K) < count
    return uniform, jax.random.uniform(k_draw, (K, self.box.dim), minval=-1.0, maxval=1.0)

  def update(self, psi: jax.Array, memory, feedback: Feedback):
    """psi [K, k] <- Proj(psi + step), then (with restart_patience) stalled adversaries restart at a
    uniformly drawn task (or replay_top's top tasks); with the mixture the result is each adversary's
    iterate, and the next iteration's tasks replace a share of them by uniform draws."""
    box = self.box
    walk, waiting = box.to_unit(psi), jnp.zeros((self.num_tasks,), bool)
    if self.uniform_share:   # a slot that trained a uniform task: its adversary waited at memory["walk"]
      waiting = memory["uniform"]
      walk = jnp.where(waiting[:, None], memory["walk"], walk)
    g_w = feedback.grad * (jnp.asarray(box.hi) - jnp.asarray(box.lo)) / 2.0
    w = self.ascend(walk, jnp.where(waiting[:, None], 0.0, g_w))
    if self.restart_from == "replay_top":
      memory = self.remember(memory, psi, task_score(feedback, self.search_signal))
    if self.restart_patience:
      anchor = jnp.where(jnp.isnan(memory["anchor"]), walk, memory["anchor"])
      since = memory["since"] + 1
      due = since >= self.restart_patience
      stalled = due & (jnp.linalg.norm(w - anchor, axis=-1) < self.ascent_step)
      fresh = jax.random.uniform(feedback.key, w.shape, minval=-1.0, maxval=1.0)
      if self.restart_from == "replay_top":
        top, found, memory = self.top_tasks(memory, stalled)
        fresh = jnp.where(found[:, None], top, fresh)
      w = jnp.where(stalled[:, None], fresh, w)
      memory = {**memory, "anchor": jnp.where(due[:, None], w, anchor), "since": jnp.where(due, 0, since),
                "restarts": memory["restarts"] + stalled.astype(jnp.int32)}
    if self.uniform_share:
      uniform, drawn = self.mixture(jax.random.fold_in(feedback.key, 1))
      memory = {**memory, "walk": w, "uniform": uniform}
      w = jnp.where(uniform[:, None], drawn, w)
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
