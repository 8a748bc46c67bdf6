"""The model-free meta-RL baselines as methods (SPEC section 5): ``multitask``, ``maml`` and ``pearl``.

Each draws its K training tasks uniformly from the box (MB-Unif's proposal) and brings its own
training step: ``loop_class`` is ``meta_rl.MetaRLLoop`` around the learner named here, built by
``config.build`` from the config section of the same name (``multitask``, ``maml``, ``pearl``).
The learner's module is imported when it is built, so the registry stays light.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import ClassVar

from admrl_jax.meta_rl.base import MetaRLLoop
from admrl_jax.methods.base import register
from admrl_jax.methods.uniform import Uniform


@dataclasses.dataclass(frozen=True)
class ModelFree(Uniform):
  """Uniform tasks for a model-free learner ``learner_path`` ("module:Class")."""

  loop_class: ClassVar[type] = MetaRLLoop
  learner_path: ClassVar[str] = ""

  @classmethod
  def make_learner(cls, family, **fields):
    """The learner of this method for ``family`` with its config section's fields."""
    module, name = cls.learner_path.split(":")
    return getattr(importlib.import_module(module), name)(family=family, **fields)


@register("multitask")
@dataclasses.dataclass(frozen=True)
class MultiTask(ModelFree):
  """A task-conditioned policy (psi in its observation) trained by PPO on uniform tasks."""

  learner_path: ClassVar[str] = "admrl_jax.meta_rl.multitask:MultiTaskPPO"


@register("maml")
@dataclasses.dataclass(frozen=True)
class MAML(ModelFree):
  """MAML with TRPO meta-updates (Finn et al. 2017)."""

  learner_path: ClassVar[str] = "admrl_jax.meta_rl.maml:MAMLTRPO"


@register("pearl")
@dataclasses.dataclass(frozen=True)
class PEARL(ModelFree):
  """PEARL: SAC with a probabilistic context encoder (Rakelly et al. 2019)."""

  learner_path: ClassVar[str] = "admrl_jax.meta_rl.pearl:PEARL"
