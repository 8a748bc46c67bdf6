"""Rollouts by ``lax.scan`` for any step function: the real environment or the learned model."""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from admrl_jax.dynamics import DynamicsModel, ModelState
from admrl_jax.types import Transition

StepFn = Callable[[Any, jax.Array], tuple[Any, Transition]]
ActFn = Callable[[jax.Array, jax.Array], jax.Array]  # (obs [ds], key) -> action [da]


def rollout(step_fn: StepFn, observe: Callable[[Any], jax.Array], act_fn: ActFn,
            state0: Any, key: jax.Array, horizon: int) -> Transition:
  """One trajectory of ``horizon`` steps from ``state0``: Transition leaves [T, ...].

  After the first termination the steps repeat the terminal observation with done = 1 (zero c
  and f), so masked steps stay finite: a learned model rolled past a fall, or physics past a
  crash, can diverge, and inf * 0 in a masked sum would be NaN. Only the observation is frozen;
  the state (for Brax, the whole physics state) steps on and is discarded, which is cheaper than
  selecting every one of its leaves at every step.
  """

  def body(carry, k):
    state, dead, frozen_obs = carry
    obs = jnp.where(dead, frozen_obs, observe(state))
    action = act_fn(obs, k)
    next_state, tr = step_fn(state, action)
    repeat = Transition(obs, action, obs, jnp.zeros_like(tr.c), jnp.zeros_like(tr.f), jnp.ones_like(tr.done))
    tr = jax.tree.map(lambda old, new: jnp.where(dead, old, new), repeat, tr)
    frozen_obs = jnp.where(dead, frozen_obs, jnp.nan_to_num(tr.next_obs))
    return (next_state, dead | (tr.done > 0), frozen_obs), tr

  obs0 = observe(state0)
  _, traj = jax.lax.scan(body, (state0, jnp.zeros((), bool), obs0), jax.random.split(key, horizon))
  return traj


def real_rollouts(env, act_fn: ActFn, key: jax.Array, n: int) -> Transition:
  """n independent episodes on the real environment from its reset distribution: [n, T, ...]."""

  def one(k):
    k_reset, k_roll = jax.random.split(k)
    return rollout(env.step, env.observe, act_fn, env.reset(k_reset), k_roll, env.horizon)

  return jax.vmap(one)(jax.random.split(key, n))


def model_step_fn(model: DynamicsModel, state: ModelState, env) -> StepFn:
  """A step function on the learned model: next obs predicted, c, f and done from the env's functions."""

  def step(obs, action):
    next_obs = model.predict(state.params, state.norms, obs, action)
    c, f = env.features(obs, action, next_obs)
    return next_obs, Transition(obs, action, next_obs, c, f, env.terminated(next_obs))

  return step


def model_rollouts(model: DynamicsModel, state: ModelState, env, act_fn: ActFn,
                   key: jax.Array, n: int) -> Transition:
  """n virtual episodes on the model, started from the real reset distribution: [n, T, ...]."""

  def one(k):
    k_reset, k_roll = jax.random.split(k)
    obs0 = env.observe(env.reset(k_reset))
    return rollout(model_step_fn(model, state, env), lambda s: s, act_fn, obs0, k_roll, env.horizon)

  return jax.vmap(one)(jax.random.split(key, n))


def discounted_return(rewards: jax.Array, mask: jax.Array, gamma: float) -> jax.Array:
  """rewards, mask [..., T] -> sum_t gamma^t r_t mask_t [...]."""
  discounts = gamma ** jnp.arange(rewards.shape[-1])
  return jnp.sum(discounts * rewards * mask, axis=-1)
