"""The zero action as a V* candidate: the "do nothing" policy, a floor every oracle's V* must clear."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.adapt import episode_returns
from admrl_jax.oracles.base import Oracle, OracleSettings
from admrl_jax.rollout import evaluation_starts, rollout
from admrl_jax.tasks import TaskFamily


def zero_action_returns(family: TaskFamily, psis: jax.Array, eval_key: jax.Array, n_episodes: int) -> jax.Array:
  """psis [G, k] -> [G]: mean return of the all-zero action from the evaluation's start states (steps
  after a termination masked)."""
  env = family.env
  act = lambda obs, key: jnp.zeros(env.action_dim)
  trajs = jax.vmap(lambda s0: rollout(env.step, env.observe, act, s0, jax.random.key(0), env.horizon))(
      evaluation_starts(env, eval_key, n_episodes))
  return jax.vmap(lambda psi: jnp.mean(episode_returns(family, trajs, psi)))(psis)


@dataclasses.dataclass(frozen=True)
class ZeroAction(Oracle):
  """``zero_action_returns``: one rollout per start state, so not cached; its curve is its one value."""

  name = "zero_action"
  label = "the zero action"
  cached = False
  episodes: int

  @classmethod
  def build(cls, settings: OracleSettings, learner) -> "ZeroAction":
    return cls(settings.episodes)

  @property
  def budget(self) -> dict:
    return {"kind": "zero_action", "episodes": self.episodes}

  def __call__(self, family, psis, eval_key, desc=None):   # one rollout per start: no progress to show
    v = jax.jit(lambda p, k: zero_action_returns(family, p, k, self.episodes))(psis, eval_key)
    return v, v[None]
