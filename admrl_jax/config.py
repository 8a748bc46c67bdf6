"""Turn a (validated) ml-collections config into the static objects of the library."""
from __future__ import annotations

from admrl_jax import sharding
from admrl_jax.adapt import Learner
from admrl_jax.dynamics import DynamicsModel
from admrl_jax.envs import FAMILIES, make_family
from admrl_jax.evaluation import Evaluator
from admrl_jax.logger import WANDB_MODES
from admrl_jax.minimax import METHODS, OuterLoop
from admrl_jax.task_gradient import (ADVANTAGES, DAMPING_SCALES, HESSIANS, RHS_FORMS, SOLVERS, SolverConfig,
                                     TaskGradientEstimator)
from admrl_jax.trpo import TRPO

_POSITIVE_INTS = [
    "loop.iterations", "loop.iterations_per_chunk", "loop.num_tasks", "loop.warmup_rounds",
    "loop.slbo_stages", "loop.initial_episodes", "loop.stage_rounds", "loop.real_episodes", "loop.gradient_rollouts",
    "model.batch_size", "model.loss_horizon", "model.fit_steps", "trpo.updates_per_round",
    "trpo.model_rollouts", "trpo.cg_iters", "trpo.value_epochs", "trpo.value_minibatches",
    "task_gradient.cg_iters", "eval.grid_points", "eval.adapt_updates", "eval.episodes",
    "eval.few_shot_rounds", "eval.oracle_iters", "eval.oracle_episodes", "eval.random_tasks",
    "eval.mpc_plan_horizon", "eval.mpc_knot_every", "eval.adapt_seeds", "devices", "checkpoint.every",
]
_NON_NEGATIVE_INTS = {"checkpoint.keep": "no limit", "checkpoint.keep_period": "none", "eval.mpc_samples": "off"}
_UNIT_INTERVAL = ["trpo.gamma", "trpo.lam", "eval.oracle_gamma", "eval.oracle_lam"]
_POSITIVE_FLOATS = ["model.learning_rate", "trpo.max_kl", "trpo.value_lr", "loop.ascent_step",
                    "loop.gauss_std", "task_gradient.damping", "eval.mpc_sigma"]


class ConfigError(ValueError):
  """A config field with a value outside its allowed set; the message names both."""


def _get(config, dotted: str):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


def validate(config) -> None:
  """Raise ConfigError naming the first bad field and its allowed values; otherwise return."""
  choices = {"family": sorted(FAMILIES), "method": list(METHODS),
             "task_gradient.solver": list(SOLVERS), "task_gradient.rhs": list(RHS_FORMS),
             "task_gradient.hessian": list(HESSIANS), "task_gradient.advantage": list(ADVANTAGES),
             "task_gradient.damping_scale": list(DAMPING_SCALES),
             "logging.wandb": list(WANDB_MODES), "eval.oracle": ["trajectory", "policy"],
             "eval.floor": ["auto", "on", "off"], "eval.model_planner": ["auto", "on", "off"]}
  for field, allowed in choices.items():
    if _get(config, field) not in allowed:
      raise ConfigError(f"{field}: unknown value {_get(config, field)!r}; allowed: {allowed}")
  if bool(config.task.lo) != bool(config.task.hi):
    raise ConfigError("task.lo, task.hi: give both bounds of the task box or neither, "
                      f"got lo={tuple(config.task.lo)} hi={tuple(config.task.hi)}")
  try:  # backend, task box and psi dimension against the family
    make_family(config.family, config.backend, tuple(config.task.lo), tuple(config.task.hi))
  except ValueError as err:
    raise ConfigError(str(err)) from None
  for field in _POSITIVE_INTS:
    value = _get(config, field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
      raise ConfigError(f"{field}: must be a positive integer, got {value!r}")
  for field, zero_means in _NON_NEGATIVE_INTS.items():
    value = _get(config, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise ConfigError(f"{field}: must be a non-negative integer (0: {zero_means}), got {value!r}")
  for field in _POSITIVE_FLOATS:
    value = _get(config, field)
    if not isinstance(value, (int, float)) or not value > 0:
      raise ConfigError(f"{field}: must be a positive number, got {value!r}")
  for field in _UNIT_INTERVAL:
    value = _get(config, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
      raise ConfigError(f"{field}: must be in (0, 1], got {value!r}")
  if config.loop.iterations % config.loop.iterations_per_chunk:
    raise ConfigError(f"loop.iterations_per_chunk: must divide loop.iterations={config.loop.iterations}, "
                      f"got {config.loop.iterations_per_chunk}")
  if config.checkpoint.every % config.loop.iterations_per_chunk:
    raise ConfigError(f"checkpoint.every: must be a multiple of loop.iterations_per_chunk="
                      f"{config.loop.iterations_per_chunk}, got {config.checkpoint.every}")
  if config.loop.num_tasks % config.devices:
    raise ConfigError(f"devices: must divide loop.num_tasks={config.loop.num_tasks} (tasks are split over "
                      f"devices), got {config.devices}")
  if config.model.batch_size % config.devices:
    raise ConfigError(f"model.batch_size: must be a multiple of devices={config.devices} (the fit batch is "
                      f"split over devices), got {config.model.batch_size}")
  if config.model.loss_horizon > make_family(config.family).env.horizon:
    raise ConfigError("model.loss_horizon: must not exceed the family's horizon")
  if any((not isinstance(e, int)) or e <= 0 for e in config.eval.few_shot_episodes):
    raise ConfigError(f"eval.few_shot_episodes: must be positive integers, got {config.eval.few_shot_episodes!r}")


def build(config, mesh=None) -> tuple[OuterLoop, Evaluator]:
  """Validated config -> (outer loop, evaluator); ``mesh``: a 1-D mesh with a ``tasks`` axis."""
  validate(config)
  family = make_family(config.family, config.backend, tuple(config.task.lo), tuple(config.task.hi))
  env = family.env
  t = config.trpo
  agent = TRPO(env.obs_dim, env.action_dim, tuple(t.policy_hidden), tuple(t.value_hidden), t.gamma,
               t.lam, t.max_kl, t.cg_iters, t.cg_damping, entropy_coef=t.entropy_coef,
               value_lr=t.value_lr, value_epochs=t.value_epochs, value_minibatches=t.value_minibatches)
  m = config.model
  model = DynamicsModel(env.obs_dim, env.action_dim, tuple(m.hidden), m.learning_rate, m.weight_decay,
                        m.grad_clip, m.batch_size, m.loss_horizon,
                        batch_sharding=sharding.split(mesh))
  learner = Learner(family, agent, model, t.model_rollouts, t.updates_per_round, m.fit_steps)
  g = config.task_gradient
  solver = SolverConfig(method=g.solver, rhs=g.rhs, damping=g.damping, iters=g.cg_iters,
                        damping_scale=g.damping_scale)
  estimator = TaskGradientEstimator(agent=agent, family=family, model=model, rollouts=config.loop.gradient_rollouts,
                                    solver=solver, hessian=g.hessian, advantage=g.advantage)
  lp = config.loop
  loop = OuterLoop(learner, estimator, method=config.method, num_tasks=lp.num_tasks, iterations=lp.iterations,
                   warmup_rounds=lp.warmup_rounds, slbo_stages=lp.slbo_stages, stage_rounds=lp.stage_rounds,
                   real_episodes=lp.real_episodes, ascent_step=lp.ascent_step, gauss_std=lp.gauss_std,
                   initial_episodes=lp.initial_episodes, mesh=mesh)
  e = config.eval
  evaluator = Evaluator(learner, e.adapt_updates, e.episodes, e.few_shot_rounds)
  return loop, evaluator
