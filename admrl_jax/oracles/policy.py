"""V*(psi) for families without smooth dynamics (Brax, contacts): policy optimisation on the true env.

For every task at once (vmap over tasks), a fresh TRPO learner is trained on real episodes of
that task only, for ``iters`` updates of ``episodes`` episodes each. V*(psi) is the best return on
the evaluation's start states (the same starts as every method's evaluation) of the policies this
training went through: the mean action of the initial policy and of every ``curve_every``-th
update's policy, and the final policy with sampled actions (``sampled_per_start`` episodes per
start). Each is the return of a policy that exists, so V* stays a lower bound on the true optimum.
The initial policy's mean action is almost zero (its output layer starts at 1 % scale), so V* is
within a few per cent of doing nothing at worst, where the final policy alone fell far below it
(Ant3D's centre: -116 against 252; the evaluation also counts the zero action itself);
sampled actions win where the trained policy relies on its noise (Hopper2D's (2, 1.2): mean action
1237, sampled about 1590). The learning curve (mean on-policy return every ``curve_every`` updates)
is returned so its flattening can be checked.

The learner passed in should be the oracle's own (``oracle_learner``: a longer discount
horizon than adaptation's, since on the real system a gait that falls late costs what a short
horizon does not see).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.adapt import Learner, episode_returns
from admrl_jax.evaluation import Evaluator, map_items
from admrl_jax.oracles.base import Oracle, OracleSettings, eval_stream

TASK_BATCH = 16   # tasks trained at once
CURVE_EVERY = 10  # TRPO updates per point of the learning curve and per V* candidate (a budget is a multiple)
V_STAR_RULE = "max(mean action at init and every curve point, final sampled x4)"   # in the cache key


def policy_oracle_task(learner: Learner, eval_key: jax.Array, n_eval_episodes: int, iters: int, episodes: int,
                       curve_every: int = CURVE_EVERY, sampled_per_start: int = 4):
  """The policy oracle of one task: (psi [k], key) -> (v_star [], curve [iters // curve_every])."""
  evaluator = Evaluator(learner, n_episodes=n_eval_episodes)
  family, agent = learner.family, learner.agent

  def one(psi, k):
    k_init, k_train, k_act = jax.random.split(k, 3)

    def update(state, kk):
      k_roll, k_upd = jax.random.split(kk)
      traj = learner.real_batch(state, k_roll, episodes)
      state, _ = agent.update(state, traj, family.reward(traj.c, traj.f, psi), k_upd)
      return state, jnp.mean(episode_returns(family, traj, psi))

    def chunk(carry, kk):
      state, best = carry
      state, returns = jax.lax.scan(update, state, jax.random.split(kk, curve_every))
      best = jnp.fmax(best, evaluator.policy_return(state, psi, eval_key))  # a NaN checkpoint is no return
      return (state, best), returns[-1]

    state = agent.init(k_init)
    carry = (state, evaluator.policy_return(state, psi, eval_key))
    (state, best), curve = jax.lax.scan(chunk, carry, jax.random.split(k_train, iters // curve_every))
    v_sampled = evaluator.policy_return(state, psi, eval_key, action_key=k_act, repeats=sampled_per_start)
    return jnp.fmax(best, v_sampled), curve

  return one


def policy_optimisation_oracle(learner: Learner, psis: jax.Array, key: jax.Array, eval_key: jax.Array,
                               n_eval_episodes: int, iters: int, episodes: int, curve_every: int = CURVE_EVERY,
                               task_batch: int = TASK_BATCH, sampled_per_start: int = 4, desc: str | None = None):
  """psis [G, k] -> (v_star [G], curve [iters // curve_every, G]): ``policy_oracle_task`` of every task,
  task i with the i-th of G keys split from ``key``. Given ``desc``, ``task_batch`` tasks per jitted call
  from the host with a progress bar of that name (``evaluation.map_items``); without, traceable
  (``lax.map``)."""
  one = policy_oracle_task(learner, eval_key, n_eval_episodes, iters, episodes, curve_every, sampled_per_start)
  keys = jax.random.split(key, psis.shape[0])
  if desc is None:
    v_star, curve = jax.lax.map(lambda a: one(*a), (psis, keys), batch_size=task_batch)
  else:
    v_star, curve = map_items(jax.jit(jax.vmap(one)), task_batch, psis, keys, desc=desc)
  return v_star, curve.T


def oracle_learner(learner: Learner, gamma: float, lam: float) -> Learner:
  """The policy oracle's learner: adaptation's, with the oracle's own discount and GAE lambda
  (``eval.oracle_gamma``, ``eval.oracle_lam``). With adaptation's 0.99 / 0.95, TRPO on the real
  Walker2D traded survival for tracking: at the (-2, 1.0) corner its episodes shrank from 189 to
  109 steps and its return fell from 1376 to about 900 over 55 updates; with 0.995 / 0.99 they
  stayed near 180 steps and the return near 1390 (docs/results.md)."""
  return dataclasses.replace(learner, agent=dataclasses.replace(learner.agent, gamma=gamma, lam=lam))


@dataclasses.dataclass(frozen=True)
class PolicyOracle(Oracle):
  """``policy_optimisation_oracle``: ``iters`` TRPO updates of ``episodes_per_update`` real episodes,
  V* on ``episodes`` start states; ``learner`` is the oracle's own (``oracle_learner``)."""

  name = "policy"
  label = "the policy oracle"
  learner: Learner
  episodes: int
  iters: int
  episodes_per_update: int

  @classmethod
  def build(cls, settings: OracleSettings, learner) -> "PolicyOracle":
    return cls(oracle_learner(learner, settings.gamma, settings.lam), settings.episodes, settings.iters,
               settings.episodes_per_update)

  @property
  def budget(self) -> dict:
    return {"kind": "policy", "iters": self.iters, "episodes": self.episodes,
            "episodes_per_update": self.episodes_per_update, "agent": repr(self.learner.agent),
            "v_star": V_STAR_RULE}

  def __call__(self, family, psis, eval_key, desc=None):
    learner = dataclasses.replace(self.learner, family=family)
    return policy_optimisation_oracle(learner, psis, eval_stream(eval_key, "policy_oracle"), eval_key, self.episodes,
                                      self.iters, self.episodes_per_update, desc=desc or self.label)
