"""Rollouts by ``lax.scan`` for any step function: the real environment or the learned model; the one
termination-masked episode scan (``episode_scan``) and the evaluation's start states."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from admrl_jax.dynamics import DynamicsModel, ModelState
from admrl_jax.types import Transition

StepFn = Callable[[Any, jax.Array], tuple[Any, Transition]]
ActFn = Callable[[jax.Array, jax.Array], jax.Array]  # (obs [ds], key) -> action [da]


class EpisodeCarry(NamedTuple):
  """The carry of ``episode_scan``."""

  state: Any              # env state (or observation, on a learned model)
  dead: jax.Array         # [] bool: an earlier step terminated
  frozen_obs: jax.Array   # the observation repeated after the termination
  inner: Any              # the controller's own carry (e.g. MPC's nominal plan)


class Episode(NamedTuple):
  """What ``episode_scan`` returns."""

  traj: Transition        # leaves [T, ...], masked after the first termination
  outs: Any               # the controller's outputs [T, ...]
  rewards: Any            # [T] the reward's value per step, 0 after the terminating step (None: no reward)


def episode_scan(step_fn: StepFn, observe: Callable[[Any], jax.Array], control, state0: Any, xs: Any,
                 carry0: Any = (), reward: Callable[[Transition], jax.Array] | None = None) -> Episode:
  """The termination-masked episode, the one scan behind every rollout, plan score and MPC episode.

  ``lax.scan`` over xs (leading axis [T]): ``control(state, obs, carry, x) -> (action, carry, out)``
  picks the action (a policy reads obs; a planner may read the state itself), then
  ``step_fn(state, action) -> (state, Transition)``; ``reward(transition) -> []`` (optional) is
  taken per step, up to and including the terminating step (a return is ``sum(rewards)``; from a
  stored trajectory the same sum is ``adapt.episode_returns``).

  After the first termination the steps repeat the terminal observation with done = 1 (zero c
  and f) and reward 0, so masked steps stay finite: a learned model rolled past a fall, or physics
  past a crash, can diverge, and inf * 0 in a masked sum would be NaN. Only the observation is
  frozen; the state (for Brax, the whole physics state) steps on and is discarded, which is cheaper
  than selecting every one of its leaves at every step.
  """

  def body(c: EpisodeCarry, x):
    obs = jnp.where(c.dead, c.frozen_obs, observe(c.state))
    action, inner, out = control(c.state, obs, c.inner, x)
    next_state, tr = step_fn(c.state, action)
    repeat = Transition(obs, action, obs, jnp.zeros_like(tr.c), jnp.zeros_like(tr.f), jnp.ones_like(tr.done))
    tr = jax.tree.map(lambda old, new: jnp.where(c.dead, old, new), repeat, tr)
    r = None if reward is None else jnp.where(c.dead, 0.0, reward(tr))
    frozen_obs = jnp.where(c.dead, c.frozen_obs, jnp.nan_to_num(tr.next_obs))
    return EpisodeCarry(next_state, c.dead | (tr.done > 0), frozen_obs, inner), (tr, out, r)

  carry = EpisodeCarry(state0, jnp.zeros((), bool), observe(state0), carry0)
  _, (traj, outs, rewards) = jax.lax.scan(body, carry, xs)
  return Episode(traj, outs, rewards)


def rollout(step_fn: StepFn, observe: Callable[[Any], jax.Array], act_fn: ActFn,
            state0: Any, key: jax.Array, horizon: int) -> Transition:
  """One trajectory of ``horizon`` steps of the policy ``act_fn`` from ``state0``: Transition leaves
  [T, ...], masked after the first termination (``episode_scan``)."""
  policy = lambda state, obs, carry, k: (act_fn(obs, k), carry, None)
  return episode_scan(step_fn, observe, policy, state0, jax.random.split(key, horizon)).traj


def evaluation_starts(env, key: jax.Array, n_episodes: int):
  """The evaluation's start states: env states with a leading axis [n_episodes] (every oracle, reference
  and policy evaluation of a task averages these same episodes)."""
  return jax.vmap(env.reset)(jax.random.split(key, n_episodes))


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
