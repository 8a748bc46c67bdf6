"""The task-proposal interface of the outer loop, and its registry.

A method decides which K tasks psi [K, k] the outer iteration trains on. The outer step
(``minimax.OuterLoop.step``) calls, each iteration:

  psi = method.propose(state_psi, key)            # the tasks of this iteration
  ... adapt on the model, collect real data, refit the model ...
  grad, info = task gradient at psi               # only if method.uses_task_gradient
  state_psi = method.update(psi, grad, info)      # what the next iteration's propose starts from

``state_psi`` [K, k] is carried in ``MetaState.psi``; ``init`` gives its first value. Fields
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
from typing import ClassVar

import jax
import jax.numpy as jnp

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
    """The first iteration's state psi [K, k]: uniform on the box, task 0 at w = first_task_unit."""
    psi = self.box.sample_uniform(key, self.num_tasks)
    return psi.at[0].set(self.box.from_unit(jnp.full(self.box.dim, self.first_task_unit)))

  @abc.abstractmethod
  def propose(self, psi: jax.Array, key: jax.Array) -> jax.Array:
    """The tasks [K, k] of this iteration, from the carried state psi [K, k]."""

  def update(self, psi: jax.Array, grad: jax.Array | None, info) -> jax.Array:
    """The next state from this iteration's tasks psi [K, k] and (if used) their task gradient."""
    return psi
