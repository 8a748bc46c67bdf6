"""Hyper-parameters that do not change shapes, as a traced pytree beside the state.

The library's static objects (``TRPO``, ``DynamicsModel``, ``SolverConfig``, the method) keep every
field; ``Hyperparams`` holds the float-valued ones that shape no array and steer no Python branch.
The jitted outer step takes a ``Hyperparams`` argument and rebinds those fields to its (traced)
values before tracing the step (``bind``), so one compilation serves every value, and seeds or
values can be vmapped side by side (``experiments.sweep``). Learning rates reach optax the same way:
the optimiser is rebuilt inside the step from the traced value (optax transforms take array
hyper-parameters), so optimiser states hold no hyper-parameter and checkpoints keep their shape.

``FIELDS`` maps each field to its config path: ``from_config`` reads a config, ``bind`` writes.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import struct

# field -> (config path, the static object that holds it, its attribute there)
FIELDS = {
    "ascent_step": ("loop.ascent_step", "method", "ascent_step"),
    "gauss_std": ("loop.gauss_std", "method", "gauss_std"),
    "search_beta": ("adversary.search_beta", "method", "search_beta"),
    "search_bandwidth": ("adversary.search_bandwidth", "method", "search_bandwidth"),
    "search_forget": ("adversary.search_forget", "method", "search_forget"),
    "replay_prob": ("adversary.replay_prob", "method", "replay_prob"),
    "replay_temperature": ("adversary.replay_temperature", "method", "replay_temperature"),
    "replay_staleness": ("adversary.replay_staleness", "method", "replay_staleness"),
    "replay_min_fill": ("adversary.replay_min_fill", "method", "replay_min_fill"),
    "model_learning_rate": ("model.learning_rate", "model", "learning_rate"),
    "model_weight_decay": ("model.weight_decay", "model", "weight_decay"),
    "model_grad_clip": ("model.grad_clip", "model", "grad_clip"),
    "gamma": ("trpo.gamma", "agent", "gamma"),
    "lam": ("trpo.lam", "agent", "lam"),
    "max_kl": ("trpo.max_kl", "agent", "max_kl"),
    "cg_damping": ("trpo.cg_damping", "agent", "cg_damping"),
    "entropy_coef": ("trpo.entropy_coef", "agent", "entropy_coef"),
    "value_lr": ("trpo.value_lr", "agent", "value_lr"),
    "gradient_damping": ("task_gradient.damping", "solver", "damping"),
}


@struct.dataclass
class Hyperparams:
  """Scalars [] (or [S] with a leading sweep axis), float32; names as in ``FIELDS``."""

  ascent_step: jnp.ndarray
  gauss_std: jnp.ndarray
  search_beta: jnp.ndarray
  search_bandwidth: jnp.ndarray
  search_forget: jnp.ndarray
  replay_prob: jnp.ndarray
  replay_temperature: jnp.ndarray
  replay_staleness: jnp.ndarray
  replay_min_fill: jnp.ndarray
  model_learning_rate: jnp.ndarray
  model_weight_decay: jnp.ndarray
  model_grad_clip: jnp.ndarray
  gamma: jnp.ndarray
  lam: jnp.ndarray
  max_kl: jnp.ndarray
  cg_damping: jnp.ndarray
  entropy_coef: jnp.ndarray
  value_lr: jnp.ndarray
  gradient_damping: jnp.ndarray


def from_config(config) -> Hyperparams:
  """The config's values as a Hyperparams of float32 scalars."""

  def get(path):
    node = config
    for part in path.split("."):
      node = node[part]
    return jnp.asarray(node, jnp.float32)

  return Hyperparams(**{name: get(path) for name, (path, _, _) in FIELDS.items()})


def stack(hps: list[Hyperparams]) -> Hyperparams:
  """[Hyperparams of scalars] -> one Hyperparams with a leading axis [S]."""
  return Hyperparams(**{name: jnp.stack([getattr(h, name) for h in hps]) for name in FIELDS})


def bind(loop, hp: Hyperparams):
  """``loop`` (an OuterLoop) with every field of ``FIELDS`` replaced by hp's (traced) value.

  The agent and the model are shared by the learner and the task-gradient estimator: both get the
  same rebound objects. A method without a field (MB-Unif has no ascent step) ignores it.
  """
  values = {owner: {} for _, owner, _ in FIELDS.values()}
  for name, (_, owner, attr) in FIELDS.items():
    values[owner][attr] = getattr(hp, name)
  est = loop.estimator
  method_fields = {f.name for f in dataclasses.fields(loop.method)}
  method = dataclasses.replace(loop.method, **{k: v for k, v in values["method"].items() if k in method_fields})
  agent = dataclasses.replace(loop.learner.agent, **values["agent"])
  model = dataclasses.replace(loop.learner.model, **values["model"])
  solver = dataclasses.replace(est.solver, **values["solver"])
  learner = dataclasses.replace(loop.learner, agent=agent, model=model)
  estimator = dataclasses.replace(est, agent=agent, model=model, solver=solver)
  return dataclasses.replace(loop, learner=learner, estimator=estimator, method=method)
