"""The environment interface every task family implements (pure functions, psi-free).

Dynamics are shared by all tasks, so environments never see psi: they emit the psi-free reward
part c and the task features f, and ``TaskFamily.reward(c, f, psi)`` turns them into a reward.
The learned model reuses ``features`` and ``terminated`` on predicted states.
"""
from __future__ import annotations

from typing import Any, Protocol

import jax

from admrl_jax.types import Transition


class Env(Protocol):
  """Static description plus pure functions of one environment.

  obs_dim: ds; action_dim: da (actions live in [-1, 1]^da); feature_dim: k; horizon: T.
  """

  obs_dim: int
  action_dim: int
  feature_dim: int
  horizon: int

  def reset(self, key: jax.Array) -> Any:
    """key -> environment state (any pytree)."""

  def observe(self, state: Any) -> jax.Array:
    """environment state -> observation [ds]."""

  def step(self, state: Any, action: jax.Array) -> tuple[Any, Transition]:
    """(state, action [da]) -> (next state, Transition with c, f, done)."""

  def features(self, obs: jax.Array, action: jax.Array, next_obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(obs [ds], action [da], next_obs [ds]) -> (c [], f [k])."""

  def terminated(self, next_obs: jax.Array) -> jax.Array:
    """next_obs [ds] -> done [] in {0., 1.}."""
