"""The V* candidates of the evaluation as (budget, compute) pairs for ``oracle.cached_oracle``: the
trajectory or policy oracle, the MPC oracle and the adaptation floor. The budget dict is the cache key's
part that says what was computed; the same builders serve the evaluation and ``experiments.oracle_table``.
"""
from __future__ import annotations

import dataclasses

import jax

from admrl_jax.evaluation import zero_shot
from admrl_jax.mpc_oracle import sampling_mpc_oracle
from admrl_jax.oracle import trajectory_optimisation_oracle
from admrl_jax.policy_oracle import policy_optimisation_oracle


def oracle_budget(config, evaluator, psis, eval_key):
  """(budget dict, compute) of the config's V* oracle: trajectory optimisation through smooth true
  dynamics, or policy optimisation on the true environment (Brax families)."""
  e = config.eval
  family = evaluator.learner.family
  if e.oracle == "trajectory":
    budget = {"kind": "trajectory", "iters": e.oracle_iters, "episodes": e.episodes}
    return budget, lambda: trajectory_optimisation_oracle(family, psis, eval_key, e.episodes, e.oracle_iters)
  learner = oracle_learner(config, evaluator.learner)
  budget = {"kind": "policy", "iters": e.oracle_iters, "episodes": e.episodes,
            "episodes_per_update": e.oracle_episodes, "agent": repr(learner.agent),
            "v_star": "max(mean action at init and every curve point, final sampled x4)"}
  run = jax.jit(lambda p: policy_optimisation_oracle(learner, p, jax.random.fold_in(eval_key, 1),
                                                     eval_key, e.episodes, e.oracle_iters, e.oracle_episodes))
  return budget, lambda: run(psis)


def mpc_budget(config, family, psis, eval_key):
  """(budget dict, compute) of the MPC oracle (``eval.mpc_samples`` > 0): predictive sampling on
  the true environment from the evaluation's start states; compute() -> (v [G], per-start [S, G])."""
  e = config.eval
  budget = {"kind": "mpc", "episodes": e.episodes, "samples": e.mpc_samples,
            "plan_horizon": e.mpc_plan_horizon, "sigma": e.mpc_sigma, "knot_every": e.mpc_knot_every}
  run = jax.jit(lambda p: sampling_mpc_oracle(family, p, eval_key, e.episodes, e.mpc_plan_horizon,
                                              e.mpc_samples, e.mpc_sigma, e.mpc_knot_every))
  return budget, lambda: run(psis)


def oracle_learner(config, learner):
  """The policy oracle's learner: adaptation's, with the oracle's own discount and GAE lambda
  (``eval.oracle_gamma``, ``eval.oracle_lam``). With adaptation's 0.99 / 0.95, TRPO on the real
  Walker2D traded survival for tracking: at the (-2, 1.0) corner its episodes shrank from 189 to
  109 steps and its return fell from 1376 to about 900 over 55 updates; with 0.995 / 0.99 they
  stayed near 180 steps and the return near 1390 (docs/results.md)."""
  agent = dataclasses.replace(learner.agent, gamma=config.eval.oracle_gamma, lam=config.eval.oracle_lam)
  return dataclasses.replace(learner, agent=agent)


def floor_budget(config, evaluator, psis, eval_key):
  """(budget dict, compute) of the adaptation floor: the evaluator's zero-shot adaptation (same agent,
  TRPO updates, episodes per update, ``eval.adapt_seeds`` seeds) on the true dynamics, seeded from
  ``eval.seed`` alone (no run enters it). compute() -> (returns [S, G], real-return curve [P+1, G])."""
  floor = evaluator.on_true_dynamics()
  seeds = config.eval.adapt_seeds
  budget = {"kind": "adaptation_floor", "adapt_updates": floor.adapt_updates, "seeds": seeds,
            "episodes": floor.n_episodes, "episodes_per_update": floor.learner.model_rollouts,
            "agent": repr(floor.learner.agent), "curve_updates": tuple(floor.curve_updates)}

  def compute():
    returns, _, real = zero_shot(floor, None, psis, jax.random.fold_in(eval_key, 3), eval_key, seeds)
    return returns, real.mean(axis=0).T

  return budget, compute
