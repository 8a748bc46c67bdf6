"""V*(psi) for families with deterministic, differentiable true dynamics: trajectory optimisation.

For deterministic dynamics the best closed-loop policy from a known start state is an open-loop
action sequence, so V*(psi) = mean over start states s0 of max_{a_0..a_{T-1}} sum_t r_psi.
Each (task, start state) pair gets its own action sequence a = tanh(z), optimised with Adam
through the true dynamics, all vectorised; the learning curve is returned so its flattening
can be checked. The start states are the evaluation's (same key), so the policy evaluation and
the oracle are averaged over the very same episodes.

The same optimiser run through a learned model (``model_planner``), its plans executed on the true
system, is the model's own evaluator: deterministic, and free of the policy adaptation's noise.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from admrl_jax.evaluation import map_items
from admrl_jax.oracles.base import Oracle, OracleSettings
from admrl_jax.rollout import episode_scan, evaluation_starts, model_step_fn
from admrl_jax.tasks import TaskFamily

ORACLE_LR = 0.05   # Adam step size of the trajectory oracle (and of the model planner)
TASK_BATCH = 16    # tasks optimised at once by the oracle and the model planner (one compiled shape)
CURVE_EVERY = 50   # optimisation steps per point of the learning curve (a budget is a multiple of it)


def open_loop_return(family: TaskFamily, state0, actions: jax.Array, psi: jax.Array, step=None) -> jax.Array:
  """Undiscounted return of an action sequence [H, da] from one env state, rewards after the first
  termination masked (``rollout.episode_scan``, as every rollout); also the MPC oracle's score of a plan.

  step: (state, action) -> (state, Transition); default the true ``env.step`` (a learned model's
  step, ``rollout.model_step_fn``, plans through the model from an observation)."""
  env = family.env
  step, observe = (env.step, env.observe) if step is None else (step, lambda obs: obs)
  play = lambda state, obs, carry, action: (action, carry, None)
  reward = lambda tr: family.reward(tr.c, tr.f, psi)
  return jnp.sum(episode_scan(step, observe, play, state0, actions, reward=reward).rewards)


def optimise_open_loop(score, starts, psis: jax.Array, horizon: int, action_dim: int, iters: int,
                       lr: float = ORACLE_LR, curve_every: int = CURVE_EVERY):
  """Adam on one open-loop sequence a = tanh(z) per (task, start state), maximising
  ``score(start, actions [H, da], psi)``; starts: a pytree with leading axis [S], psis [G, k].

  Returns (z [G, S, H, da], curve [iters // curve_every, G]: the mean score over starts every
  ``curve_every`` steps). z starts at 0 (the zero action) and the step size decays (cosine) to 1 %.
  """
  n_starts = jax.tree.leaves(starts)[0].shape[0]
  z0 = jnp.zeros((psis.shape[0], n_starts, horizon, action_dim))
  opt = optax.adam(optax.cosine_decay_schedule(lr, iters, alpha=0.01))  # decays to settle on the L1 kinks

  objective = lambda z: _scores(score, starts, z, psis)

  def step(carry, _):
    z, opt_state = carry
    ret, vjp = jax.vjp(objective, z)
    (grad,) = vjp(-jnp.ones_like(ret))
    updates, opt_state = opt.update(grad, opt_state, z)
    return (optax.apply_updates(z, updates), opt_state), jnp.mean(ret, axis=1)

  def chunk(carry, _):
    carry, rets = jax.lax.scan(step, carry, None, length=curve_every)
    return carry, rets[-1]

  (z, _), curve = jax.lax.scan(chunk, (z0, opt.init(z0)), None, length=iters // curve_every)
  return z, curve


def _scores(score, starts, z: jax.Array, psis: jax.Array) -> jax.Array:
  """Scores [G, S] of the open-loop sequences tanh(z) [G, S, H, da] from the starts [S] for psis [G, k]."""
  return jax.vmap(lambda zg, psi: jax.vmap(lambda s0, zz: score(s0, jnp.tanh(zz), psi))(starts, zg))(z, psis)


def trajectory_optimisation_oracle(family: TaskFamily, psis: jax.Array, key: jax.Array,
                                   n_episodes: int, iters: int = 1500, lr: float = ORACLE_LR,
                                   curve_every: int = CURVE_EVERY, task_batch: int | None = None, desc: str | None = None):
  """V*(psi) for psis [G, k] -> (v_star [G], curve [iters // curve_every, G]).

  Start states come from ``evaluation_starts(family.env, key, n_episodes)``. Every task is optimised on
  its own (Adam is elementwise), so ``task_batch`` tasks at a time (``evaluation.map_items``; None: all
  at once) give the same V*; ``desc`` names the progress bar.
  """
  env = family.env
  starts = evaluation_starts(env, key, n_episodes)
  score = lambda s0, a, psi: open_loop_return(family, s0, a, psi)

  @jax.jit
  def chunk(p):
    z, curve = optimise_open_loop(score, starts, p, env.horizon, env.action_dim, iters, lr, curve_every)
    return jnp.mean(_scores(score, starts, z, p), axis=1), curve.T

  v_star, curve = map_items(chunk, task_batch or psis.shape[0], psis, desc=desc)
  return v_star, curve.T


@dataclasses.dataclass(frozen=True)
class TrajectoryOracle(Oracle):
  """``trajectory_optimisation_oracle`` at ``iters`` Adam steps from ``episodes`` start states."""

  name = "trajectory"
  label = "the trajectory oracle"
  episodes: int
  iters: int

  @classmethod
  def build(cls, settings: OracleSettings, learner) -> "TrajectoryOracle":
    return cls(settings.episodes, settings.iters)

  @property
  def budget(self) -> dict:
    return {"kind": "trajectory", "iters": self.iters, "episodes": self.episodes}

  def __call__(self, family, psis, eval_key, desc=None, task_batch: int = TASK_BATCH):
    return trajectory_optimisation_oracle(family, psis, eval_key, self.episodes, self.iters,
                                          task_batch=task_batch, desc=desc or self.label)


def model_planner(family: TaskFamily, model_step, psis: jax.Array, key: jax.Array, n_episodes: int,
                  iters: int = 1500, lr: float = ORACLE_LR, curve_every: int = CURVE_EVERY):
  """The deterministic model evaluator: the trajectory oracle's optimiser run through a model, its
  plans executed open-loop on the true system from the same start states (as the oracle's).

  model_step: (obs, action) -> (next obs, Transition), e.g. ``rollout.model_step_fn`` of a learned
  model, or the true ``env.step`` where the observation is the state (PointMass). Traceable (jit it
  with the model state as an argument). Returns (real return [G], the model's predicted return [G],
  curve [iters // curve_every, G] of the predicted return): V* - real return is the model's gap.
  """
  env = family.env
  starts = evaluation_starts(env, key, n_episodes)
  obs0 = jax.vmap(env.observe)(starts)
  score = lambda o0, a, psi: open_loop_return(family, o0, a, psi, step=model_step)
  z, curve = optimise_open_loop(score, obs0, psis, env.horizon, env.action_dim, iters, lr, curve_every)
  real = _scores(lambda s0, a, psi: open_loop_return(family, s0, a, psi), starts, z, psis)
  return jnp.mean(real, axis=1), jnp.mean(_scores(score, obs0, z, psis), axis=1), curve


@functools.lru_cache(maxsize=4)
def model_planner_fn(learner, episodes: int, iters: int):
  """The model planner of a learner's model, jitted once per (learner, budget): (model state, psis,
  eval key) -> (real [G], predicted [G], curve [C, G])."""
  family, model = learner.family, learner.model
  return jax.jit(lambda ms, psis, key: model_planner(family, model_step_fn(model, ms, family.env), psis, key,
                                                     episodes, iters))


@functools.lru_cache(maxsize=4)
def model_planner_return_fn(learner, episodes: int, iters: int):
  """The model planner of one task, traceable: (model state, psi [k], eval key) -> real return [] (the
  few-shot evaluation plans through each task's refit model, ``evaluation.few_shot``)."""
  family, model = learner.family, learner.model
  return lambda ms, psi, key: model_planner(family, model_step_fn(model, ms, family.env), psi[None], key,
                                            episodes, iters)[0][0]
