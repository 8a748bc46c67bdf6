"""The model planner: an oracle's planner with the learned model as its simulator, its actions run on the
true system from the evaluation's start states. Its gap (V* minus its real return) is the model's own,
free of the policy adaptation's noise (the policy evaluator measures the adaptation as much as the model).

Two kinds, one per way V* is found:
- ``trajectory``: the trajectory oracle's Adam optimiser through the model, open-loop plans
  (``oracles.trajectory.model_planner``); families with differentiable true dynamics (PointMass2D);
- ``mpc``: the MPC oracle's predictive sampling with plans scored by the model, replanned at every
  step on the true system's observation (``oracles.mpc.mpc_episode``); Brax families. With the true
  dynamics as its model it is the MPC oracle itself (same starts, same draws).
Both are deterministic given the evaluation key.
"""
from __future__ import annotations

import dataclasses
import functools

import jax

from admrl_jax.envs import ANALYTIC
from admrl_jax.evaluation import map_items
from admrl_jax.oracles.mpc import TASK_BATCH as MPC_BATCH, model_mpc_planner_fn
from admrl_jax.oracles.trajectory import (TASK_BATCH as TRAJECTORY_BATCH, model_planner, model_planner_fn,
                                         model_planner_return_fn)

KINDS = ("trajectory", "mpc")


@dataclasses.dataclass(frozen=True)
class ModelPlanner:
  """A model planner's kind and budget (``eval.planner_kind`` and its numbers)."""

  kind: str                 # "trajectory" | "mpc"
  episodes: int             # start states (the evaluation's)
  iters: int = 0            # trajectory: Adam steps per plan
  samples: int = 0          # mpc: candidate plans per control step
  plan_horizon: int = 0     # mpc: plan length in env steps
  sigma: float = 0.0        # mpc: std of the plan perturbations
  knot_every: int = 1       # mpc: perturbation knots every this many steps

  @classmethod
  def of(cls, e, family_name: str) -> "ModelPlanner":
    """The planner of a (typed) eval section for a family: ``planner_kind`` auto is the trajectory planner
    where the true dynamics are differentiable (the analytic families), MPC elsewhere."""
    kind = e.planner_kind if e.planner_kind != "auto" else "trajectory" if family_name in ANALYTIC else "mpc"
    if kind == "trajectory":
      return cls(kind, e.episodes, iters=e.planner_iters or e.oracle_iters)
    return cls(kind, e.episodes, samples=e.planner_samples, plan_horizon=e.mpc_plan_horizon, sigma=e.mpc_sigma,
               knot_every=e.mpc_knot_every)

  def describe(self) -> str:
    if self.kind == "trajectory":
      return f"{self.iters} Adam steps through the model"
    return f"MPC through the model, {self.samples} plans of {self.plan_horizon} steps"

  def per_task(self, learner):
    """Traceable (model state, psi [k], eval key) -> real return [] (hashable: one compile per planner)."""
    if self.kind == "trajectory":
      return model_planner_return_fn(learner, self.episodes, self.iters)
    return model_mpc_planner_fn(learner, self.episodes, self.samples, self.plan_horizon, self.sigma,
                                self.knot_every)

  def __call__(self, learner, model_state, psis: jax.Array, eval_key: jax.Array, desc: str | None = None):
    """psis [G, k] -> (real return [G], the model's predicted return [G] or None, curve [C] or None): the
    trajectory planner's prediction and Adam curve (mean over tasks); MPC replans, so has neither."""
    if self.kind == "trajectory":
      plan = model_planner_fn(learner, self.episodes, self.iters)
      real, predicted, curve = map_items(lambda p: (lambda r, pr, c: (r, pr, c.T))(*plan(model_state, p, eval_key)),
                                         TRAJECTORY_BATCH, psis, desc=desc)
      return real, predicted, curve.mean(axis=0)
    batch = _batched(self.per_task(learner))
    real = map_items(lambda p: batch(model_state, p, eval_key), MPC_BATCH, psis, desc=desc)
    return real, None, None


@functools.lru_cache(maxsize=4)
def _batched(per_task):
  """A per-task planner vmapped over tasks and jitted, once per planner."""
  return jax.jit(jax.vmap(per_task, in_axes=(None, 0, None)))


def trajectory_planner_floor(planner: ModelPlanner, family, psis: jax.Array, eval_key: jax.Array) -> jax.Array:
  """The trajectory planner with the TRUE dynamics as its model (``family.env.step``; the analytic
  families, whose observation is their state): real return [G] on psis [G, k] from the evaluation's start
  states. Its gap is what the planner loses with a perfect model (``experiments.planner_floor``); at the
  oracle's Adam steps it is the trajectory oracle itself."""
  if planner.kind != "trajectory":
    raise ValueError(f"planner kind: the floor is the trajectory planner's, got {planner.kind!r} (with MPC the "
                     "planner on the true dynamics is the MPC oracle, a V* candidate already)")
  return jax.jit(lambda p: model_planner(family, family.env.step, p, eval_key, planner.episodes, planner.iters)[0])(psis)
