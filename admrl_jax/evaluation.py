"""Evaluation: adapt from a final model for every test task (vectorised), real returns, gaps."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from admrl_jax import replay
from admrl_jax.adapt import Learner, episode_returns
from admrl_jax.dynamics import ModelState
from admrl_jax.oracle import evaluation_starts
from admrl_jax.rollout import rollout
from admrl_jax.trpo import AgentState


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """Adaptation budgets of the test-time protocol (SPEC section 5)."""

  learner: Learner
  adapt_updates: int = 100          # zero-shot TRPO updates on the model
  n_episodes: int = 8               # evaluation episodes per task (the oracle's start states)
  few_shot_rounds: int = 5          # SLBO rounds after the few-shot real batch
  task_batch: int = 16              # tasks adapted at once (bounds memory)

  def policy_return(self, agent_state: AgentState, psi: jax.Array, eval_key: jax.Array,
                    action_key: jax.Array | None = None, repeats: int = 1) -> jax.Array:
    """Mean undiscounted real return over the evaluation episodes of the policy's mean action, or,
    given ``action_key``, of actions sampled from the policy (each start ``repeats`` times)."""
    env, family = self.learner.family.env, self.learner.family
    starts = evaluation_starts(family, eval_key, self.n_episodes)
    starts = jax.tree.map(lambda x: jnp.concatenate([x] * repeats), starts)
    sampled = action_key is not None
    act = self.learner.agent.act_fn(agent_state.policy, deterministic=not sampled)
    keys = jax.random.split(action_key if sampled else jax.random.key(0), self.n_episodes * repeats)

    def one(s0, k):
      traj = rollout(env.step, env.observe, act, s0, k, env.horizon)
      return episode_returns(family, jax.tree.map(lambda x: x[None], traj), psi)[0]

    return jnp.mean(jax.vmap(one)(starts, keys))

  def zero_shot_returns(self, model_state: ModelState, psis: jax.Array, key: jax.Array,
                        eval_key: jax.Array) -> jax.Array:
    """psis [G, k] -> real returns [G] of policies adapted on the model alone."""

    def one(args):
      psi, k = args
      agent_state = self.learner.zero_shot(model_state, psi, k, self.adapt_updates)
      return self.policy_return(agent_state, psi, eval_key)

    return jax.lax.map(one, (psis, jax.random.split(key, psis.shape[0])), batch_size=self.task_batch)

  def few_shot_returns(self, model_state: ModelState, buffer: replay.TrajectoryBuffer, psis: jax.Array,
                       key: jax.Array, eval_key: jax.Array, real_episodes: int) -> jax.Array:
    """psis [G, k] -> real returns [G] after ``real_episodes`` real episodes of each task."""

    def one(args):
      psi, k = args
      agent_state = self.learner.few_shot(model_state, buffer, psi, k, self.adapt_updates,
                                          real_episodes, self.few_shot_rounds)
      return self.policy_return(agent_state, psi, eval_key)

    return jax.lax.map(one, (psis, jax.random.split(key, psis.shape[0])), batch_size=self.task_batch)


def best_known_return(returns_by_policy: dict, log=print) -> np.ndarray:
  """{name: returns [G]} of policies that exist (oracles, the zero action) -> the best known return [G].

  The first entry is the reference its log lines compare with. A NaN return (a policy whose episode
  blew up the physics) counts as no return; a task with no finite return left raises
  FloatingPointError naming the task, so no NaN reaches a gap table.
  """
  named = [(name, np.asarray(v, np.float64)) for name, v in returns_by_policy.items()]
  for name, v in named:
    if not np.all(np.isfinite(v)):
      log(f"{name}: no finite return on tasks {np.flatnonzero(~np.isfinite(v)).tolist()} (counted as none)")
  (first, best), *others = named
  for name, v in others:
    if np.any(v > best):
      log(f"{name} beats {first} on {int(np.sum(v > best))} of {v.size} tasks (by up to {np.nanmax(v - best):.3g})")
    best = np.fmax(best, v)
  if not np.all(np.isfinite(best)):
    bad = np.flatnonzero(~np.isfinite(best)).tolist()
    raise FloatingPointError(f"V*: no finite return on tasks {bad} from any of {list(returns_by_policy)}")
  return best


def gap_summary(returns: np.ndarray, v_star: np.ndarray) -> dict:
  """Gaps against the best known return max(V*, return) (never negative): worst, mean, CVaR-10%.

  Raises FloatingPointError on a non-finite return (named by task index): a NaN real return means the
  adapted policy or the simulator blew up, and a NaN gap would hide it in the table's max and mean.
  """
  returns, v_star = np.asarray(returns, np.float64), np.asarray(v_star, np.float64)
  for name, x in (("returns", returns), ("v_star", v_star)):
    if not np.all(np.isfinite(x)):
      raise FloatingPointError(f"{name}: not finite on tasks {np.flatnonzero(~np.isfinite(x)).tolist()}")
  gaps = np.maximum(v_star, returns) - returns
  n_tail = max(1, int(np.ceil(0.1 * gaps.size)))
  return {
      "worst_case_gap": float(gaps.max()),
      "mean_gap": float(gaps.mean()),
      "cvar10_gap": float(np.sort(gaps)[-n_tail:].mean()),
      "gaps": gaps,
  }
