"""Methods: how the outer loop picks its training tasks (``base.TaskProposal``), by name.

Adding a method: one module here with a ``@register("name")`` class, and its import line below.
"""
from admrl_jax.methods.base import REGISTRY, Feedback, TaskProposal, make_method, register  # noqa: F401
from admrl_jax.methods import admrl, gap_search, gaussian, model_free, task_replay, uniform  # noqa: F401 (registration)


def names() -> tuple[str, ...]:
  """The registered method names (``config.method``)."""
  return tuple(REGISTRY)
