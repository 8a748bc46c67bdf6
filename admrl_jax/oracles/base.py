"""The V* oracle interface, its registry and the evaluation key's named streams.

An oracle is a policy that exists, run on the true system from the evaluation's start states, so its
return on a task is a lower bound on V*(psi): ``oracle(family, psis [G, k], eval_key) -> (v [G],
curve [C, G])``, the curve its learning curve (or what stands for one). Each is a frozen dataclass
that holds its budget's numbers, says them as ``budget`` (the cache key's part that says what was
computed; ``oracles.cache``) and is built by name from the evaluation's numbers (``OracleSettings``):
adding an oracle is one module and one ``register`` line in ``oracles/__init__.py``.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import jax

# The evaluation key (eval.seed) is folded with these numbers, one stream per use; the numbers are the
# cache keys' and the test sets' history, so they stay as they are.
EVAL_STREAMS = {"policy_oracle": 1, "test_tasks": 2, "corners": 3, "floor": 3, "mpc_plans": 4}


def eval_stream(eval_key: jax.Array, name: str) -> jax.Array:
  """The evaluation key's stream ``name`` (``EVAL_STREAMS``)."""
  return jax.random.fold_in(eval_key, EVAL_STREAMS[name])


@dataclasses.dataclass(frozen=True)
class OracleSettings:
  """The evaluation's numbers an oracle may read (built once by the evaluation protocol)."""

  episodes: int                  # evaluation episodes per task: the start states V* averages
  iters: int = 1500              # trajectory-optimisation steps, or policy-oracle TRPO updates
  episodes_per_update: int = 16  # policy oracle: real episodes per TRPO update
  gamma: float = 0.995           # policy oracle: discount
  lam: float = 0.99              # policy oracle: GAE lambda
  mpc_samples: int = 0           # MPC oracle: candidate plans per control step (0: off)
  mpc_plan_horizon: int = 20
  mpc_sigma: float = 0.5
  mpc_knot_every: int = 1


class Oracle(abc.ABC):
  """Base of the V* oracles: ``name`` (the registry's and ``eval.oracle``'s), ``label`` (V*'s log
  lines), ``cached`` (False: cheap, computed every time), ``build``, ``budget`` and the call."""

  name: ClassVar[str] = ""
  label: ClassVar[str] = ""
  cached: ClassVar[bool] = True

  @classmethod
  @abc.abstractmethod
  def build(cls, settings: OracleSettings, learner) -> "Oracle":
    """The oracle of the evaluation's numbers; ``learner``: the evaluator's (family, agent)."""

  @property
  @abc.abstractmethod
  def budget(self) -> dict:
    """What is computed, as the cache key's part: kind and budget."""

  @abc.abstractmethod
  def __call__(self, family, psis: jax.Array, eval_key: jax.Array, desc: str | None = None):
    """psis [G, k] -> (v [G], curve [C, G]) from ``rollout.evaluation_starts(env, eval_key, episodes)``;
    ``desc`` names its progress bar (tasks done of G; default its label)."""


ORACLES: dict[str, type[Oracle]] = {}


def register(cls: type[Oracle]) -> type[Oracle]:
  """Register an oracle class under its ``name`` (usable as ``eval.oracle``); returns the class."""
  ORACLES[cls.name] = cls
  return cls


def build_oracles(names, settings: OracleSettings, learner) -> tuple[Oracle, ...]:
  """The registered oracles ``names`` (each once, in order) built from the evaluation's numbers."""
  unknown = [n for n in names if n not in ORACLES]
  if unknown:
    raise ValueError(f"eval.oracle: unknown value {unknown[0]!r}; allowed: {sorted(ORACLES)}")
  return tuple(ORACLES[n].build(settings, learner) for n in dict.fromkeys(names))
