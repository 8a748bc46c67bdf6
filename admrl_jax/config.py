"""Turn an ml-collections config into the static objects of the library.

The fields, their defaults, meanings and single-field checks live in ``schema`` (one typed source of
truth); ``validate`` adds the checks across fields, and ``build`` constructs every object by keyword
from the typed config.
"""
from __future__ import annotations

import dataclasses

from admrl_jax import sharding
from admrl_jax.adapt import Learner
from admrl_jax.dynamics import DynamicsModel
from admrl_jax.envs import make_family
from admrl_jax.evaluation import Evaluator
from admrl_jax.methods import REGISTRY as METHODS, make_method
from admrl_jax.meta_rl import MetaRLLoop
from admrl_jax.minimax import OuterLoop, episode_counts
from admrl_jax.oracles import policy, trajectory
from admrl_jax.schema import ConfigError, check_fields, typed  # noqa: F401  (ConfigError: re-exported)
from admrl_jax.task_gradient import SolverConfig, TaskGradientEstimator
from admrl_jax.trpo import TRPO


def validate(config) -> None:
  """Raise ConfigError naming the first bad field and its allowed values; otherwise return."""
  check_fields(config)
  if bool(config.task.lo) != bool(config.task.hi):
    raise ConfigError("task.lo, task.hi: give both bounds of the task box or neither, "
                      f"got lo={tuple(config.task.lo)} hi={tuple(config.task.hi)}")
  try:  # backend, task box and psi dimension against the family
    family = make_family(config.family, config.backend, tuple(config.task.lo), tuple(config.task.hi))
  except ValueError as err:
    raise ConfigError(str(err)) from None
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
  if config.model.loss_horizon > family.env.horizon:
    raise ConfigError("model.loss_horizon: must not exceed the family's horizon")
  if is_model_free(config.method):
    if config.devices != 1:
      raise ConfigError(f"devices: the model-free baseline {config.method!r} runs on one device, got {config.devices}")
    try:   # the learner's own checks across its fields (e.g. pearl.tasks_per_iteration <= pearl.task_slots)
      METHODS[config.method].make_learner(family, **dict(config[config.method]))
    except ValueError as err:
      raise ConfigError(str(err)) from None
  budgets = tuple(config.eval.few_shot_episodes)
  if any(b <= a for a, b in zip(budgets, budgets[1:])):
    raise ConfigError(f"eval.few_shot_episodes: budgets must increase (each continues from the one before), "
                      f"got {budgets}")
  new = [b - a for a, b in zip((0,) + budgets, budgets)]
  rounds = config.eval.few_shot_rounds
  if not is_model_free(config.method) and any(n % rounds for n in new):
    allowed = [r for r in range(1, min(new) + 1) if all(n % r == 0 for n in new)]
    raise ConfigError(f"eval.few_shot_rounds: must divide every few-shot budget's new real episodes {new} "
                      f"(eval.few_shot_episodes {budgets}); allowed: {allowed}, got {rounds}")
  if not is_model_free(config.method):
    try:   # the method's own checks across fields (e.g. adversary.replay_size >= loop.num_tasks for plr)
      task_proposal(typed(config), family.box)
    except ValueError as err:
      raise ConfigError(str(err)) from None
    episode_counts(config.loop.real_episodes, config.loop.slbo_stages, config.task_gradient.p_episodes)
  if config.eval.oracle == "mpc" and not config.eval.mpc_samples:
    raise ConfigError("eval.oracle: 'mpc' needs candidate plans, eval.mpc_samples > 0")
  steps = {"trajectory": trajectory.CURVE_EVERY, "policy": policy.CURVE_EVERY}
  budgets = [("eval.oracle_iters", config.eval.oracle_iters, config.eval.oracle),
             ("eval.planner_iters", config.eval.planner_iters, "trajectory")]   # the planner: the trajectory optimiser
  for field, iters, oracle in budgets:
    if oracle in steps and iters % steps[oracle]:   # planner_iters 0: the oracle's budget
      raise ConfigError(f"{field}: the {oracle} optimiser runs in blocks of {steps[oracle]} steps (a point of its "
                        f"curve each); must be a positive multiple of {steps[oracle]}, got {iters}")


def task_proposal(c, box):
  """A typed config's model-based task proposal (``methods``; its own checks across fields raise ValueError)."""
  lp, adv = c.loop, c.adversary
  return make_method(c.method, box, lp.num_tasks, ascent_step=lp.ascent_step, gauss_std=lp.gauss_std,
                     step_rule=adv.step_rule, restart_patience=adv.restart_patience, search_beta=adv.search_beta,
                     search_bandwidth=adv.search_bandwidth, search_forget=adv.search_forget,
                     candidates=adv.search_candidates, memory_size=adv.search_memory,
                     search_signal=adv.search_signal, restart_from=adv.restart_from,
                     uniform_share=adv.uniform_share, replay_prob=adv.replay_prob,
                     replay_temperature=adv.replay_temperature, replay_staleness=adv.replay_staleness,
                     replay_min_fill=adv.replay_min_fill, replay_size=adv.replay_size)


def is_model_free(method: str) -> bool:
  """Whether ``method`` is a model-free baseline (its own learner and loop, ``meta_rl``)."""
  return method in METHODS and METHODS[method].loop_class is MetaRLLoop


def build(config, mesh=None) -> tuple[OuterLoop | MetaRLLoop, Evaluator]:
  """Validated config -> (outer loop, evaluator); ``mesh``: a 1-D mesh with a ``tasks`` axis.

  A model-free baseline's loop is ``MetaRLLoop`` around its learner (built from its config section);
  the evaluator (TRPO on the true dynamics: the floor, the policy oracle) is the same for every method."""
  validate(config)
  c = typed(config)
  family = make_family(c.family, c.backend, c.task.lo, c.task.hi)
  env, t, m, g, lp, e = family.env, c.trpo, c.model, c.task_gradient, c.loop, c.eval
  agent = TRPO(obs_dim=env.obs_dim, action_dim=env.action_dim, policy_hidden=t.policy_hidden,
               value_hidden=t.value_hidden, gamma=t.gamma, lam=t.lam, max_kl=t.max_kl, cg_iters=t.cg_iters,
               cg_damping=t.cg_damping, entropy_coef=t.entropy_coef, value_lr=t.value_lr,
               value_epochs=t.value_epochs, value_minibatches=t.value_minibatches)
  model = DynamicsModel(obs_dim=env.obs_dim, action_dim=env.action_dim, hidden=m.hidden,
                        learning_rate=m.learning_rate, weight_decay=m.weight_decay, grad_clip=m.grad_clip,
                        batch_size=m.batch_size, loss_horizon=m.loss_horizon, batch_sharding=sharding.split(mesh))
  learner = Learner(family=family, agent=agent, model=model, model_rollouts=t.model_rollouts,
                    trpo_updates=t.updates_per_round, fit_steps=m.fit_steps)
  solver = SolverConfig(method=g.solver, rhs=g.rhs, damping=g.damping, iters=g.cg_iters,
                        damping_scale=g.damping_scale)
  estimator = TaskGradientEstimator(agent=agent, family=family, model=model, rollouts=lp.gradient_rollouts,
                                    solver=solver, hessian=g.hessian, advantage=g.advantage,
                                    p_baseline=g.p_baseline, p_control_variate=g.p_control_variate,
                                    p_episodes=g.p_episodes, common_random_numbers=g.common_random_numbers)
  evaluator = Evaluator(learner=learner, adapt_updates=e.adapt_updates, n_episodes=e.episodes,
                        few_shot_rounds=e.few_shot_rounds, few_shot_share=e.few_shot_share)
  if is_model_free(c.method):
    meta_learner = METHODS[c.method].make_learner(family, **dataclasses.asdict(getattr(c, c.method)))
    method = make_method(c.method, family.box, meta_learner.tasks_per_iteration)
    return MetaRLLoop(meta_learner, method, mesh), evaluator
  method = task_proposal(c, family.box)
  loop = (method.loop_class or OuterLoop)(
      learner=learner, estimator=estimator, method=method, iterations=lp.iterations,
      warmup_rounds=lp.warmup_rounds, slbo_stages=lp.slbo_stages, stage_rounds=lp.stage_rounds,
      real_episodes=lp.real_episodes, initial_episodes=lp.initial_episodes, mesh=mesh)
  return loop, evaluator
