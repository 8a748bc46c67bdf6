"""V*(psi) by sampling-based model-predictive control on the true simulator.

Predictive sampling (Howell et al. 2022, the baseline planner of MuJoCo MPC): at every control
step, ``samples`` action sequences of ``plan_horizon`` steps are drawn around the nominal plan
(candidate 0 is the nominal itself, the others add noise and clip to [-1, 1]: N(0, sigma^2) at knots
every ``knot_every`` steps, linear in between, as MuJoCo MPC perturbs spline knots); each
is rolled out on a copy of the true environment state with the task's reward (masked after a
termination, so a fall costs the rest of the plan's rewards); the best is kept, its first action
executed and the plan shifted one step. The controller is a policy that exists (it reads only the
current state and the task), so the return of its episode is a valid lower bound on V*(psi).

No gradients and no training: where the policy oracle stays near doing nothing at the corners of a
box (Ant2D's corners: -15 to 7, the zero action -190), this planner walks the ant towards the
target (590 to 764 with 128 plans of 20 steps; one episode at (3, 3) averaged (2.7, 2.6) m/s;
docs/results.md). It costs ``horizon * samples * plan_horizon`` simulator steps per episode, so
grids of tasks are accelerator work; on a CPU it serves at the corners (``admrl-oracle-table --tasks=corners``).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from admrl_jax.evaluation import map_items
from admrl_jax.oracles.base import Oracle, OracleSettings, eval_stream
from admrl_jax.oracles.trajectory import open_loop_return
from admrl_jax.rollout import episode_scan, evaluation_starts, model_step_fn
from admrl_jax.tasks import TaskFamily
from admrl_jax.types import alive_mask

TASK_BATCH = 8   # tasks planned at once


def plan_noise(key: jax.Array, samples: int, plan_horizon: int, action_dim: int, sigma: float,
               knot_every: int) -> jax.Array:
  """[samples, plan_horizon, action_dim]: N(0, sigma^2) at steps 0, knot_every, 2 knot_every, ...,
  linearly interpolated between them (knot_every = 1: independent noise at every step).

  Smooth perturbations move a body further within a plan than per-step noise, which the physics
  averages away at small dt (Walker2D's corners with knots every 10 steps of 8 ms: 1371-1818 against
  1145-1632 per-step; docs/results.md). Not everywhere: on Ant2D (dt 50 ms) knots every 4 made no
  clear difference.
  """
  n_knots = -(-plan_horizon // knot_every) + 1        # the last knot at or past the plan's end
  knots = sigma * jax.random.normal(key, (samples, n_knots, action_dim))
  t = jnp.arange(plan_horizon) / knot_every
  left = jnp.floor(t).astype(jnp.int32)
  w = (t - left)[None, :, None]
  return (1.0 - w) * knots[:, left] + w * knots[:, left + 1]


def _mpc_scan(family: TaskFamily, psi: jax.Array, state0, key: jax.Array, plan_horizon: int, samples: int,
              sigma: float, knot_every: int, model_step, audit: bool):
  """The predictive-sampling episode (``mpc_episode``) as ``rollout.Episode``; with ``audit`` its outs are
  each step's chosen plan scored by the planner and by the true system from the true state ([T] each)."""
  env = family.env
  if model_step is None:
    score = lambda state, a: open_loop_return(family, state, a, psi)
  else:
    score = lambda state, a: open_loop_return(family, env.observe(state), a, psi, step=model_step)

  def control(state, obs, nominal, k):
    noise = plan_noise(k, samples, plan_horizon, env.action_dim, sigma, knot_every)
    candidates = jnp.clip(nominal[None] + noise.at[0].set(0.0), -1.0, 1.0)
    scores = jax.vmap(lambda a: score(state, a))(candidates)
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)  # argmax would pick a plan whose physics blew up
    i = jnp.argmax(scores)
    best = candidates[i]
    out = (scores[i], open_loop_return(family, state, best, psi)) if audit else None
    return best[0], jnp.concatenate([best[1:], best[-1:]]), out

  reward = lambda tr: family.reward(tr.c, tr.f, psi)
  return episode_scan(env.step, env.observe, control, state0, jax.random.split(key, env.horizon),
                      jnp.zeros((plan_horizon, env.action_dim)), reward=reward)


def mpc_episode(family: TaskFamily, psi: jax.Array, state0, key: jax.Array, plan_horizon: int,
                samples: int, sigma: float, knot_every: int = 1, model_step=None):
  """One episode of predictive sampling from ``state0`` on the true system -> (return [], the episode's
  transitions [T]: ``Transition``, masked after a termination as ``rollout.episode_scan`` masks).

  The plans are scored on a copy of the true environment's state, or given ``model_step`` ((obs,
  action) -> (next obs, Transition): a learned model's ``rollout.model_step_fn``) through that model
  from the current observation: the model planner, whose gap is the model's."""
  episode = _mpc_scan(family, psi, state0, key, plan_horizon, samples, sigma, knot_every, model_step, False)
  return jnp.sum(episode.rewards), episode.traj


def mpc_audit(family: TaskFamily, psi: jax.Array, state0, key: jax.Array, plan_horizon: int, samples: int,
              sigma: float, knot_every: int = 1, model_step=None):
  """``mpc_episode`` (the same actions, so the same return) with each control step's chosen plan scored
  twice -> (return [], predicted [T], true [T], alive [T]): predicted, its score by the planner (through
  ``model_step``: what the model promised of the plan); true, the return of that plan's actions played
  open loop on the true system from the true state; alive, the steps up to and including a termination.
  predicted - true is the model's optimism about the plans it picked: the planner exploits a model
  where it is large. With the true dynamics as the planner's simulator the two are equal."""
  episode = _mpc_scan(family, psi, state0, key, plan_horizon, samples, sigma, knot_every, model_step, True)
  predicted, true = episode.outs
  return jnp.sum(episode.rewards), predicted, true, alive_mask(episode.traj.done)


def mpc_features(family: TaskFamily, psi: jax.Array, key: jax.Array, plan_horizon: int, samples: int, sigma: float,
                 knot_every: int = 1) -> tuple[jax.Array, jax.Array]:
  """What the MPC oracle achieves at task psi [k] from the evaluation's first start state, with its first
  plan draw (``mpc_returns``' episode 0) -> (the task features' mean over the episode's alive steps [k],
  the alive steps []): for a velocity-and-height family the speed and height it reached against psi's
  targets, the evidence of whether a target is within reach."""
  # episode 0 of any count: a start state and plan key are the first of their splits, and JAX's
  # partitionable threefry (the default) makes split(k, 1)[0] the first of split(k, n) for every n
  start = jax.tree.map(lambda x: x[0], evaluation_starts(family.env, key, 1))
  plan_key = jax.random.split(eval_stream(key, "mpc_plans"), 1)[0]
  _, traj = mpc_episode(family, psi, start, plan_key, plan_horizon, samples, sigma, knot_every)
  alive = alive_mask(traj.done)
  steps = jnp.sum(alive)
  return jnp.sum(traj.f * alive[:, None], axis=0) / steps, steps


def mpc_returns(family: TaskFamily, psi: jax.Array, key: jax.Array, n_episodes: int, plan_horizon: int,
                samples: int, sigma: float, knot_every: int = 1, model_step=None) -> jax.Array:
  """Task psi [k] -> the return [n_episodes] of ``mpc_episode`` from each of the evaluation's start
  states (``evaluation_starts(family.env, key, n_episodes)``), plan noise from the key's "mpc_plans"
  stream: the same episodes and draws for the oracle and the model planner (``model_step``)."""
  starts = evaluation_starts(family.env, key, n_episodes)
  plan_keys = jax.random.split(eval_stream(key, "mpc_plans"), n_episodes)
  run = lambda s0, k: mpc_episode(family, psi, s0, k, plan_horizon, samples, sigma, knot_every, model_step)[0]
  return jax.vmap(run)(starts, plan_keys)


def sampling_mpc_oracle(family: TaskFamily, psis: jax.Array, key: jax.Array, n_episodes: int,
                        plan_horizon: int, samples: int, sigma: float, knot_every: int = 1,
                        task_batch: int = TASK_BATCH, desc: str | None = None):
  """psis [G, k] -> (v_star [G], per-start returns [n_episodes, G]).

  The start states are ``evaluation_starts(family.env, key, n_episodes)``, the evaluation's own, so
  V* and every method's return average the same episodes. Given ``desc``, ``task_batch`` tasks per
  jitted call from the host with a progress bar of that name (``evaluation.map_items``); without,
  traceable (``lax.map``). Each task is planned on its own: the two give the same V*.
  """

  def one(psi):
    return mpc_returns(family, psi, key, n_episodes, plan_horizon, samples, sigma, knot_every)

  if desc is None:
    per_start = jax.lax.map(one, psis, batch_size=task_batch)   # [G, n_episodes]
  else:
    per_start = map_items(jax.jit(jax.vmap(one)), task_batch, psis, desc=desc)
  return jnp.mean(per_start, axis=1), per_start.T


@dataclasses.dataclass(frozen=True)
class MPCOracle(Oracle):
  """``sampling_mpc_oracle`` (``eval.mpc_samples`` > 0); its "curve" is the per-start returns [S, G]."""

  name = "mpc"
  label = "the MPC oracle"
  episodes: int
  samples: int
  plan_horizon: int
  sigma: float
  knot_every: int

  @classmethod
  def build(cls, settings: OracleSettings, learner) -> "MPCOracle":
    if settings.mpc_samples <= 0:
      raise ValueError("eval.mpc_samples: the MPC oracle needs candidate plans (> 0), got "
                       f"{settings.mpc_samples}")
    return cls(settings.episodes, settings.mpc_samples, settings.mpc_plan_horizon, settings.mpc_sigma,
               settings.mpc_knot_every)

  @property
  def budget(self) -> dict:
    return {"kind": "mpc", "episodes": self.episodes, "samples": self.samples,
            "plan_horizon": self.plan_horizon, "sigma": self.sigma, "knot_every": self.knot_every}

  def __call__(self, family, psis, eval_key, desc=None, task_batch: int = TASK_BATCH):
    return sampling_mpc_oracle(family, psis, eval_key, self.episodes, self.plan_horizon, self.samples, self.sigma,
                               self.knot_every, task_batch=task_batch, desc=desc or self.label)


@functools.lru_cache(maxsize=4)
def model_mpc_audit_fn(learner, episodes: int, samples: int, plan_horizon: int, sigma: float, knot_every: int):
  """The model planner (``model_mpc_planner_fn``: the same start states, plan draws and actions), audited
  (``mpc_audit``). Traceable: (model state, psi [k], eval key) -> (real return [], optimism [], predicted
  [], true []): the mean over the starts of the return, and of the mean over each episode's alive steps
  of the chosen plan's predicted score minus its true return, of the predicted score and of the true return."""
  family, model = learner.family, learner.model

  def one(ms, psi, key):
    starts = evaluation_starts(family.env, key, episodes)
    plan_keys = jax.random.split(eval_stream(key, "mpc_plans"), episodes)
    run = lambda s0, k: mpc_audit(family, psi, s0, k, plan_horizon, samples, sigma, knot_every,
                                  model_step_fn(model, ms, family.env))
    ret, predicted, true, alive = jax.vmap(run)(starts, plan_keys)
    steps = jnp.maximum(jnp.sum(alive, axis=1), 1.0)
    mean = lambda x: jnp.mean(jnp.sum(x * alive, axis=1) / steps)
    return jnp.mean(ret), mean(predicted - true), mean(predicted), mean(true)

  return one


@functools.lru_cache(maxsize=4)
def model_mpc_planner_fn(learner, episodes: int, samples: int, plan_horizon: int, sigma: float, knot_every: int):
  """The model planner of families without differentiable dynamics (Brax): ``mpc_episode`` with the
  learner's model as its simulator, the MPC oracle's start states and plan draws, actions run on the true
  system. Traceable: (model state, psi [k], eval key) -> real return [] (the mean over the starts)."""
  family, model = learner.family, learner.model
  return lambda ms, psi, key: jnp.mean(mpc_returns(family, psi, key, episodes, plan_horizon, samples, sigma,
                                                   knot_every, model_step_fn(model, ms, family.env)))
