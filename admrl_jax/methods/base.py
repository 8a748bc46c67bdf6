"""The task-proposal interface of the outer loop, and its registry.

A method decides which K tasks psi [K, k] the outer iteration trains on. The outer step
(``minimax.OuterLoop.step``) calls, each iteration:

  psi = method.propose(state_psi, memory, key)              # the tasks of this iteration
  ... adapt on the model, collect real data, refit the model ...
  grad, info = task gradient at psi                          # only if method.uses_task_gradient
  state_psi, memory = method.update(psi, memory, Feedback(gap_estimate, model_error, grad, info, key))

``state_psi`` [K, k] is carried in ``MetaState.psi`` (``init`` gives its first value) and
``memory`` (a pytree of fixed shape, ``init_memory`` gives it; ``{}`` for methods without one) in
``MetaState.memory``: a method's history of tasks and gap estimates, or its stall counters. Fields
listed in ``traced_fields`` are hyper-parameters that do not change shapes: the outer step receives
them in the traced ``Hyperparams`` pytree (``admrl_jax.hyperparams``), so one compiled step serves
every value of them (and seeds or values vmapped side by side).

A method is one module in this package: a frozen dataclass subclassing ``TaskProposal``, decorated
with ``@register("name")``, plus its import line in ``methods/__init__.py``. A method with a
training step of its own (MAML, PEARL, a multi-task policy) sets ``loop_class`` to its own loop
(an ``OuterLoop`` subclass or any object with ``init``/``place``/``run_chunk``); ``config.build``
constructs that instead.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from admrl_jax.tasks import TaskBox

REGISTRY: dict[str, type] = {}


def register(name: str):
  """Class decorator: make a TaskProposal subclass available as ``config.method = name``."""

  def add(cls):
    if name in REGISTRY:
      raise ValueError(f"method {name!r} is registered twice ({REGISTRY[name].__name__}, {cls.__name__})")
    REGISTRY[name] = cls
    cls.name = name
    return cls

  return add


def make_method(name: str, box: TaskBox, num_tasks: int, **fields) -> "TaskProposal":
  """The registered method ``name``, with its hyper-parameter fields (unknown names are ignored)."""
  if name not in REGISTRY:
    raise ValueError(f"method: unknown value {name!r}; allowed: {sorted(REGISTRY)}")
  cls = REGISTRY[name]
  names = {f.name for f in dataclasses.fields(cls)}
  return cls(box=box, num_tasks=num_tasks, **{k: v for k, v in fields.items() if k in names})


@struct.dataclass
class Feedback:
  """What one outer iteration tells the method about the tasks psi [K, k] it trained on."""

  gap_estimate: jax.Array     # [K] theta*'s real return minus theta_hat's (the in-loop gap estimate)
  model_error: jax.Array      # [K] theta_hat's return predicted by the warm-up model minus its real return
  grad: jax.Array | None      # [K, k] the implicit task gradient (None unless uses_task_gradient)
  info: Any                   # the estimator's diagnostics (None unless uses_task_gradient)
  key: jax.Array              # randomness for the update (restarts, ...)


SIGNALS = ("gap", "model_error")   # what a trained task scores (gap search, task replay, AdMRL's replay_top)


def task_score(feedback: Feedback, signal: str) -> jax.Array:
  """The score [K] of the tasks a Feedback is about: ``gap`` their in-loop gap estimates, ``model_error``
  |theta_hat's return predicted by the warm-up model - its real return|."""
  return feedback.gap_estimate if signal == "gap" else jnp.abs(feedback.model_error)


def check_choice(field: str, value: str, allowed) -> None:
  """ValueError naming the config field and its allowed values unless ``value`` is one of them."""
  if value not in allowed:
    raise ValueError(f"{field}: unknown value {value!r}; allowed: {list(allowed)}")


def latin_hypercube(key: jax.Array, n: int, dim: int) -> jax.Array:
  """n points [n, dim] in [-1, 1]^dim, one in each of n equal slices of every axis (spread out)."""
  k_perm, k_jitter = jax.random.split(key)
  perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(k_perm, dim)).T   # [n, dim]
  u = (perms + jax.random.uniform(k_jitter, (n, dim))) / n
  return 2.0 * u - 1.0


@dataclasses.dataclass(frozen=True)
class TaskProposal(abc.ABC):
  """Static description of a method's task proposal; its methods are pure functions."""

  box: TaskBox
  num_tasks: int
  first_task_unit: float = 0.3     # the reference's first task, w = 0.3 (task 0 of the first iteration)

  name: ClassVar[str] = ""
  uses_task_gradient: ClassVar[bool] = False
  traced_fields: ClassVar[tuple[str, ...]] = ()
  loop_class: ClassVar[type | None] = None   # None: the shared minimax.OuterLoop

  def init(self, key: jax.Array) -> jax.Array:
    """The first iteration's state psi [K, k]. One task: the reference's, w = first_task_unit in
    every coordinate. K > 1: spread over the box (a Latin hypercube: one task in each K-th of
    every axis), so K adversaries start apart."""
    if self.num_tasks == 1:
      return self.box.from_unit(jnp.full((1, self.box.dim), self.first_task_unit))
    return self.box.from_unit(latin_hypercube(key, self.num_tasks, self.box.dim))

  def init_memory(self):
    """The method's memory pytree (fixed shapes; carried in ``MetaState.memory``); none by default."""
    return {}

  @abc.abstractmethod
  def propose(self, psi: jax.Array, memory, key: jax.Array) -> jax.Array:
    """The tasks [K, k] of this iteration, from the carried state psi [K, k] and the memory."""

  def update(self, psi: jax.Array, memory, feedback: Feedback):
    """(next carried state [K, k], next memory) from this iteration's tasks psi [K, k] and what
    they gave (``Feedback``); by default the tasks are carried over and the memory kept."""
    return psi, memory
