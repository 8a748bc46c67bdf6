"""The adaptation floor (SPEC section 5): the evaluator's own zero-shot adaptation, same agent, TRPO
updates, episodes per update and adaptation seeds, run on the true dynamics instead of a model. The gap
it leaves is what adaptation alone costs; it does not depend on the run, so it is cached like an oracle
(``oracles.cache``) and joins V* as an evaluated reference."""
from __future__ import annotations

import dataclasses

from admrl_jax.evaluation import Evaluator, zero_shot
from admrl_jax.oracles.base import eval_stream


@dataclasses.dataclass(frozen=True)
class AdaptationFloor:
  """``floor(family, psis, eval_key) -> (returns [S, G], real-return curve [P+1, G])``, seeded from the
  evaluation key alone (no run enters it); ``evaluator`` adapts on the true dynamics (its family is
  the one evaluated)."""

  name = "floor"
  label = "the adaptation floor"
  evaluator: Evaluator
  seeds: int

  @classmethod
  def of(cls, evaluator: Evaluator, seeds: int) -> "AdaptationFloor":
    """The floor of a policy evaluator: the same evaluator on the true dynamics, ``seeds`` seeds."""
    return cls(evaluator.on_true_dynamics(), seeds)

  @property
  def budget(self) -> dict:
    floor = self.evaluator
    return {"kind": "adaptation_floor", "adapt_updates": floor.adapt_updates, "seeds": self.seeds,
            "episodes": floor.n_episodes, "episodes_per_update": floor.learner.model_rollouts,
            "agent": repr(floor.learner.agent), "curve_updates": tuple(floor.curve_updates)}

  def __call__(self, family, psis, eval_key, desc=None):
    returns, _, real = zero_shot(self.evaluator, None, psis, eval_stream(eval_key, "floor"), eval_key, self.seeds,
                                 desc=desc or self.label)
    return returns, real.mean(axis=0).T
