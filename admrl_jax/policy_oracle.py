"""V*(psi) for families without smooth dynamics (Brax, contacts): policy optimisation on the true env.

For every task at once (vmap over tasks), a fresh TRPO learner is trained on real episodes of
that task only, for ``iters`` updates of ``episodes`` episodes each; V*(psi) is the mean return of
the final policy's mean action from the evaluation's start states (the same episodes as every
method's evaluation). The learning curve (mean on-policy return every ``curve_every`` updates) is
returned so its flattening can be checked: the oracle is a lower bound on the true V*, tight only
where the curve has flattened.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from admrl_jax.adapt import Learner, episode_returns
from admrl_jax.evaluation import Evaluator


def policy_optimisation_oracle(learner: Learner, psis: jax.Array, key: jax.Array, eval_key: jax.Array,
                               n_eval_episodes: int, iters: int, episodes: int, curve_every: int = 10,
                               task_batch: int = 16):
  """psis [G, k] -> (v_star [G], curve [iters // curve_every, G])."""
  evaluator = Evaluator(learner, n_episodes=n_eval_episodes)
  family, agent = learner.family, learner.agent

  def one(args):
    psi, k = args
    k_init, k_train = jax.random.split(k)

    def update(state, kk):
      k_roll, k_upd = jax.random.split(kk)
      traj = learner.real_batch(state, k_roll, episodes)
      state, _ = agent.update(state, traj, family.reward(traj.c, traj.f, psi), k_upd)
      return state, jnp.mean(episode_returns(family, traj, psi))

    def chunk(state, kk):
      state, returns = jax.lax.scan(update, state, jax.random.split(kk, curve_every))
      return state, returns[-1]

    state, curve = jax.lax.scan(chunk, agent.init(k_init), jax.random.split(k_train, iters // curve_every))
    return evaluator.policy_return(state, psi, eval_key), curve

  v_star, curve = jax.lax.map(one, (psis, jax.random.split(key, psis.shape[0])), batch_size=task_batch)
  return v_star, curve.T
