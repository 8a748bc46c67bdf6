"""The config's one typed source of truth: every field once, with its type, default, meaning and check.

``default_config()`` builds the ml-collections ConfigDict that config files start from and the CLI
overrides (``admrl_jax/configs/default.py`` returns it); ``typed(config)`` turns a ConfigDict into
these frozen dataclasses by keyword (an unknown or missing field is an error naming it);
``check_fields(config)`` runs every field's own check, so validation never repeats the field list.
Checks across fields (the task box against the family, divisibility, ...) live in ``config.validate``.
Choices that come from registries (families, methods, oracles) are looked up when checked.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

import ml_collections


class ConfigError(ValueError):
  """A config field with a value outside its allowed set; the message names both."""


def _field(default, doc: str, check: Callable | None = None):
  """A field with its default (a section class: its defaults), meaning and check."""
  kw = {"default_factory": default} if isinstance(default, type) else {"default": default}
  return dataclasses.field(metadata={"doc": doc, "check": check}, **kw)


# Checks: value -> error text (without the field name), or None when the value is fine.
def _int(v):
  return isinstance(v, int) and not isinstance(v, bool)


def positive_int(v):
  return None if _int(v) and v > 0 else f"must be a positive integer, got {v!r}"


def non_negative_int(zero_means: str):
  return lambda v: None if _int(v) and v >= 0 else f"must be a non-negative integer (0: {zero_means}), got {v!r}"


def any_int(v):
  return None if _int(v) else f"must be an integer, got {v!r}"


def _number(v):
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def positive(v):
  return None if _number(v) and v > 0 else f"must be a positive number, got {v!r}"


def non_negative(v):
  return None if _number(v) and v >= 0 else f"must be a non-negative number, got {v!r}"


def unit_interval(v):
  return None if _number(v) and 0 < v <= 1 else f"must be in (0, 1], got {v!r}"


def widths(v):
  ok = isinstance(v, (tuple, list)) and len(v) > 0 and all(_int(x) and x > 0 for x in v)
  return None if ok else f"must be a non-empty tuple of positive integers (layer widths), got {v!r}"


def counts(v):
  ok = isinstance(v, (tuple, list)) and all(_int(x) and x > 0 for x in v)
  return None if ok else f"must be positive integers, got {v!r}"


def floats(v):
  ok = isinstance(v, (tuple, list)) and all(_number(x) for x in v)
  return None if ok else f"must be a tuple of numbers, got {v!r}"


def boolean(v):
  return None if isinstance(v, bool) else f"must be True or False, got {v!r}"


def any_number(v):
  return None if _number(v) else f"must be a number, got {v!r}"


def string(v):
  return None if isinstance(v, str) else f"must be a string, got {v!r}"


def one_of(allowed):
  """allowed: a list, or a function returning it (registries are read when checked)."""

  def check(v):
    names = list(allowed() if callable(allowed) else allowed)
    return None if v in names else f"unknown value {v!r}; allowed: {names}"

  return check


def _names(module: str, attr: str, sort: bool = False):
  """A registry's names, read when checked (importing the module at load time would be circular)."""
  return lambda: (sorted if sort else list)(getattr(importlib.import_module(module), attr))


@dataclasses.dataclass(frozen=True)
class Task:
  lo: tuple = _field((), "task box lower corner; () keeps the family's box (SPEC section 4)", floats)
  hi: tuple = _field((), "task box upper corner; give both or neither", floats)


@dataclasses.dataclass(frozen=True)
class Loop:
  iterations: int = _field(12, "outer iterations N (reference: 100)", positive_int)
  iterations_per_chunk: int = _field(2, "outer iterations scanned inside one jitted call", positive_int)
  num_tasks: int = _field(1, "K tasks per iteration, vmapped (reference: 1)", positive_int)
  warmup_rounds: int = _field(8, "zero-shot adaptation: rounds of [fit model; TRPO] (reference: 40)", positive_int)
  slbo_stages: int = _field(2, "real collections with refinement after warm-up (reference: 3)", positive_int)
  stage_rounds: int = _field(4, "rounds of [fit model; TRPO] per stage (reference: 20)", positive_int)
  real_episodes: int = _field(8, "real episodes per task per collection (reference: 10k steps)", positive_int)
  initial_episodes: int = _field(8, "real episodes of random actions before iteration 1, in all (not per task)",
                                 positive_int)
  gradient_rollouts: int = _field(64, "virtual episodes of theta_hat feeding H and J", positive_int)
  ascent_step: float = _field(0.3, "AdMRL step length in unit task coordinates w in [-1, 1]^k (traced)", positive)
  gauss_std: float = _field(1.0, "MB-Gauss: w ~ N(0, std^2) clipped to [-1, 1] (traced)", positive)


def probability(v):
  return None if _number(v) and 0 <= v <= 1 else f"must be in [0, 1], got {v!r}"


@dataclasses.dataclass(frozen=True)
class Adversary:
  step_rule: str = _field("normalised", "admrl: normalised (w += step g/|g|) | raw (the reference: w += step g)",
                          one_of(_names("admrl_jax.methods.admrl", "STEP_RULES")))
  restart_patience: int = _field(0, "admrl: restart an adversary when its net move over this many iterations is "
                                 "below one ascent step (where: adversary.restart_from)", non_negative_int("never"))
  restart_from: str = _field("uniform", "admrl with restart_patience > 0: where a stalled adversary restarts: uniform "
                             "(a uniformly drawn task) | replay_top (the highest-scoring of the last "
                             "adversary.replay_size trained tasks, by adversary.search_signal; taken out of that "
                             "memory, so it is scored afresh)",
                             one_of(_names("admrl_jax.methods.admrl", "RESTART_FROM")))
  uniform_share: float = _field(0.0, "admrl: a mixture, the expected share of each iteration's K tasks drawn "
                                "uniformly from the box (K = 1: with this probability); the adversaries they replace "
                                "wait; 0: none", probability)
  search_signal: str = _field("gap", "gap_search, plr and admrl's replay_top: the score of a trained task: gap (the "
                              "in-loop gap estimate) | model_error (|theta_hat's model-predicted return - its real "
                              "return|)", one_of(_names("admrl_jax.methods.base", "SIGNALS")))
  replay_prob: float = _field(0.5, "plr: p, the probability that an iteration replays buffer tasks instead of "
                              "drawing fresh uniform ones", probability)
  replay_temperature: float = _field(0.3, "plr: beta of the rank prioritisation, weights (1 / rank)^(1 / beta)",
                                     positive)
  replay_staleness: float = _field(0.3, "plr: rho, the staleness distribution's weight in the replay distribution",
                                   probability)
  replay_min_fill: float = _field(0.25, "plr: no replay before the buffer holds this share of adversary.replay_size "
                                  "tasks (and at least loop.num_tasks)", probability)
  replay_size: int = _field(32, "plr: tasks in the replay buffer (at least loop.num_tasks); admrl's replay_top: the "
                            "last trained tasks remembered", positive_int)
  search_beta: float = _field(1.0, "gap_search: weight of the confidence bonus (traced)", non_negative)
  search_bandwidth: float = _field(0.25, "gap_search: kernel width in unit task coordinates (traced)", positive)
  search_forget: float = _field(25.0, "gap_search: outer iterations over which a gap estimate fades by e (traced)",
                                positive)
  search_candidates: int = _field(256, "gap_search: uniformly drawn tasks scored per proposal", positive_int)
  search_memory: int = _field(128, "gap_search: most recent (task, gap estimate) pairs remembered", positive_int)


@dataclasses.dataclass(frozen=True)
class Model:
  hidden: tuple = _field((128, 128), "dynamics MLP widths (reference: 1000, 1000)", widths)
  learning_rate: float = _field(1e-3, "Adam(W) step size (traced)", positive)
  weight_decay: float = _field(1e-5, "decoupled weight decay (traced)", non_negative)
  grad_clip: float = _field(2.0, "global gradient-norm clip (traced)", positive)
  batch_size: int = _field(128, "windows per fit step", positive_int)
  loss_horizon: int = _field(2, "steps the model is rolled in its loss (1 = SLBO one-step loss)", positive_int)
  fit_steps: int = _field(40, "fit steps per round (reference: 100)", positive_int)


@dataclasses.dataclass(frozen=True)
class Trpo:
  policy_hidden: tuple = _field((32, 32), "Gaussian policy MLP, tanh", widths)
  value_hidden: tuple = _field((64, 64), "value MLP, tanh", widths)
  updates_per_round: int = _field(10, "TRPO updates per round (reference: 20)", positive_int)
  model_rollouts: int = _field(32, "virtual episodes per TRPO update (reference: 50)", positive_int)
  gamma: float = _field(0.99, "discount (traced)", unit_interval)
  lam: float = _field(0.95, "GAE lambda (traced)", unit_interval)
  max_kl: float = _field(0.01, "trust region (traced)", positive)
  cg_iters: int = _field(10, "CG iterations for the natural gradient", positive_int)
  cg_damping: float = _field(0.1, "Fisher damping (traced)", non_negative)
  entropy_coef: float = _field(0.005, "entropy bonus (traced)", non_negative)
  value_lr: float = _field(1e-3, "value-fit Adam step size (traced)", positive)
  value_epochs: int = _field(2, "value-fit epochs per update", positive_int)
  value_minibatches: int = _field(4, "value-fit minibatches per epoch", positive_int)


@dataclasses.dataclass(frozen=True)
class TaskGradient:
  solver: str = _field("normal", "normal (reference's damped normal equations) | direct",
                       one_of(_names("admrl_jax.task_gradient", "SOLVERS")))
  rhs: str = _field("adjoint", "adjoint (one solve) | columns (k solves, vmapped)",
                    one_of(_names("admrl_jax.task_gradient", "RHS_FORMS")))
  hessian: str = _field("pathwise", "H: pathwise (through the model rollout) | exact (score function, DiCE's "
                        "second derivative) | lvc (the reference's per-step form)",
                        one_of(_names("admrl_jax.task_gradient", "HESSIANS")))
  advantage: str = _field("return", "weights of J, H, p: return (lambda = 1, unbiased) | gae (reference)",
                          one_of(_names("admrl_jax.task_gradient", "ADVANTAGES")))
  damping_scale: str = _field("relative", "relative: damping x ||H||^2 / n (normal) or x ||H|| (direct) | absolute "
                              "(the reference's 0.1 was set for its surrogate's scale)",
                              one_of(_names("admrl_jax.task_gradient", "DAMPING_SCALES")))
  damping: float = _field(0.1, "lambda of the damped system (see damping_scale; traced)", positive)
  cg_iters: int = _field(20, "CG iterations (reference: 200); at the relative damping CG reaches float32's "
                         "floor by 20 (docs/benchmarks.md, figure 3)", positive_int)
  p_baseline: str = _field("value", "baseline of p's score-function estimate (p = grad_theta V on theta_hat's real "
                           "episodes): value (the learner's value net) | value_loo (plus, per time step, the mean of "
                           "the other episodes' advantages: leave-one-out, unbiased) | loo (that leave-one-out mean of "
                           "the returns-to-go alone)", one_of(_names("admrl_jax.task_gradient", "P_BASELINES")))
  p_control_variate: str = _field("none", "none | model: p minus the same estimate on theta_hat's real episodes "
                                  "replayed on the model (their starts and action noise) plus grad Vhat (unbiased)",
                                  one_of(_names("admrl_jax.task_gradient", "P_CONTROL_VARIATES")))
  p_episodes: int = _field(0, "real episodes of theta_hat per task (stage 0's collection: p and dV/dpsi at "
                           "theta_hat); the later collections (SLBO stages 1.. and theta*'s batch) give them up "
                           "equally, so the iteration's (loop.slbo_stages + 1) x loop.real_episodes stay",
                           non_negative_int("loop.real_episodes"))
  common_random_numbers: bool = _field(False, "theta*'s real batch reuses the start states and action-noise keys of "
                                       "theta_hat's (stage 0's) first episodes", boolean)


@dataclasses.dataclass(frozen=True)
class Eval:
  grid_points: int = _field(7, "test grid points per task dimension in 2-D (7 x 7)", positive_int)
  grid_points_3d: tuple = _field((5, 5, 3), "test grid of 3-D task boxes (SPEC section 5)", counts)
  random_tasks: int = _field(256, "test tasks in higher dimensions: half uniform, half corners", positive_int)
  adapt_updates: int = _field(80, "zero-shot TRPO updates on the final model per test task", positive_int)
  adapt_seeds: int = _field(1, "adaptation seeds per test task: its return is their mean, their std is reported "
                            "(eval.csv return_std; summary adapt_seed_std_mean/max); 3 triple the policy evaluator "
                            "and the floor", positive_int)
  floor: str = _field("auto", "adaptation floor: the same adaptation (budget, seeds) on the true dynamics, "
                      "cached; auto: on for analytic families (point_mass), off for Brax (there it costs the "
                      "simulator at the full budget) | on | off", one_of(["auto", "on", "off"]))
  model_planner: str = _field("auto", "model planner: an oracle's planner with the learned model as its simulator, "
                              "its actions run on the true system (its gap is the model's); auto and on: on for "
                              "every family (eval.planner_kind) | off", one_of(["auto", "on", "off"]))
  planner_kind: str = _field("auto", "model planner: trajectory (the trajectory oracle's Adam optimiser through the "
                             "model, eval.planner_iters steps) | mpc (the MPC oracle's predictive sampling, plans "
                             "scored by the model: eval.planner_samples plans of eval.mpc_plan_horizon steps, "
                             "eval.mpc_sigma, eval.mpc_knot_every) | auto: trajectory for the differentiable "
                             "analytic families, mpc for Brax", one_of(["auto", "trajectory", "mpc"]))
  planner_iters: int = _field(0, "trajectory model planner: Adam steps per plan; 0: eval.oracle_iters (the oracle's "
                              "own budget)", non_negative_int("eval.oracle_iters"))
  planner_samples: int = _field(64, "mpc model planner: candidate plans per control step", positive_int)
  episodes: int = _field(8, "evaluation episodes per task (mean action)", positive_int)
  few_shot_episodes: tuple = _field((), "few-shot budgets in real episodes per task, e.g. (2, 4)", counts)
  few_shot_rounds: int = _field(4, "few-shot: rounds per budget, each [collect its share of the budget's new real "
                                "episodes; refit the task's model; trpo.updates_per_round TRPO updates on it]; "
                                "must divide every budget's new episodes", positive_int)
  few_shot_share: float = _field(0.5, "few-shot: share of the refit's windows drawn from the test task's own "
                                 "episodes (the rest from the training buffer)", unit_interval)
  ood: bool = _field(False, "evaluate the OOD set too (V*, the policy evaluator, the floor and the planner on the "
                     "tasks of the box widened by eval.ood_fraction that lie outside it; the studies do)", boolean)
  ood_fraction: float = _field(0.25, "OOD box: the box widened by this fraction per side", positive)
  oracle: str = _field("trajectory", "V* oracle, by name (admrl_jax.oracles): trajectory (optimisation through "
                       "smooth true dynamics) | policy (TRPO on the true env per task; Brax families) | ...",
                       one_of(_names("admrl_jax.oracles", "ORACLES", sort=True)))
  oracle_iters: int = _field(1500, "oracle steps: trajectory-optimisation steps, or TRPO updates", positive_int)
  oracle_episodes: int = _field(16, "policy oracle: real episodes per TRPO update", positive_int)
  oracle_gamma: float = _field(0.995, "policy oracle: discount (adaptation's trpo.gamma is shorter-sighted)",
                               unit_interval)
  oracle_lam: float = _field(0.99, "policy oracle: GAE lambda", unit_interval)
  mpc_samples: int = _field(0, "MPC oracle (predictive sampling on the true env): candidate plans per control "
                            "step; 0: off. V* = max(oracle, MPC, zero action)", non_negative_int("off"))
  mpc_plan_horizon: int = _field(20, "MPC oracle: plan length in env steps", positive_int)
  mpc_sigma: float = _field(0.5, "MPC oracle: std of the plan perturbations (actions in [-1, 1])", positive)
  mpc_knot_every: int = _field(1, "MPC oracle: perturbation knots every this many steps, linear between",
                               positive_int)
  oracle_cache: str = _field("runs/oracle_cache", "V* cache folder, shared by all runs (\"\" disables)", string)
  seed: int = _field(0, "evaluation start states and oracle: one seed for every run", any_int)


@dataclasses.dataclass(frozen=True)
class Multitask:
  tasks_per_iteration: int = _field(16, "K: tasks drawn uniformly per PPO iteration", positive_int)
  episodes_per_task: int = _field(2, "real episodes of each task per iteration", positive_int)
  epochs: int = _field(4, "passes of minibatch updates over each batch", positive_int)
  minibatches: int = _field(4, "minibatches per pass (must divide tasks_per_iteration x episodes_per_task)",
                            positive_int)
  learning_rate: float = _field(1e-3, "Adam step size", positive)
  entropy_cost: float = _field(1e-3, "entropy bonus weight", non_negative)
  discounting: float = _field(0.97, "discount of GAE and the value targets", unit_interval)
  gae_lambda: float = _field(0.95, "GAE lambda", unit_interval)
  clipping_epsilon: float = _field(0.2, "PPO ratio clip", positive)
  reward_scaling: float = _field(0.1, "reward scale inside the loss", positive)
  vf_coefficient: float = _field(0.5, "value-loss weight", non_negative)
  max_grad_norm: float = _field(1.0, "global-norm gradient clip (0: none)", non_negative)
  policy_hidden: tuple = _field((64, 64), "policy MLP widths (swish, tanh-Gaussian head)", widths)
  value_hidden: tuple = _field((64, 64), "value MLP widths (swish)", widths)
  normalize_observations: bool = _field(True, "running mean/std normalisation of [obs, task]", boolean)
  finetune_updates: int = _field(10, "test time: PPO updates on the task's real episodes (few-shot budgets)",
                                 non_negative_int("the zero-shot policy at every budget"))
  finetune_learning_rate: float = _field(3e-4, "test time: Adam step size of those updates", positive)


@dataclasses.dataclass(frozen=True)
class Maml:
  tasks_per_iteration: int = _field(20, "K: tasks per meta-update (the meta-batch)", positive_int)
  inner_episodes: int = _field(10, "real episodes per task before the inner step, and again after it", positive_int)
  inner_lr: float = _field(0.5, "inner policy-gradient step size", positive)
  inner_steps: int = _field(1, "inner gradient steps", positive_int)
  inner_objective: str = _field("vpg", "vpg (Finn et al.: mean log pi x A) | lvc (ProMP: mean pi / pi_old x A)",
                                one_of(["vpg", "lvc"]))
  max_kl: float = _field(0.01, "trust region of the post-update policies' mean KL", positive)
  cg_iters: int = _field(10, "CG iterations of the natural direction", positive_int)
  cg_damping: float = _field(0.01, "Fisher damping", non_negative)
  line_search_steps: int = _field(15, "backtracking steps", positive_int)
  backtrack_ratio: float = _field(0.8, "line-search shrink factor", unit_interval)
  policy_hidden: tuple = _field((64, 64), "policy MLP widths (tanh)", widths)
  init_log_std: float = _field(0.0, "initial log std of the Gaussian policy", any_number)
  gamma: float = _field(0.99, "discount", unit_interval)
  lam: float = _field(1.0, "GAE lambda on the linear feature baseline (1: returns-to-go minus baseline)",
                      unit_interval)
  baseline_reg: float = _field(1e-5, "relative ridge of the linear baseline's regression", non_negative)


@dataclasses.dataclass(frozen=True)
class Pearl:
  tasks_per_iteration: int = _field(4, "K: tasks collected per iteration (slots written; at most task_slots)",
                                    positive_int)
  episodes_per_task: int = _field(2, "real episodes per task per iteration (the first with z from the prior)",
                                  positive_int)
  task_slots: int = _field(64, "tasks kept in the replay ring", positive_int)
  slot_capacity: int = _field(100, "transitions kept per task slot", positive_int)
  latent_dim: int = _field(4, "size of z", positive_int)
  hidden: tuple = _field((64, 64), "actor and critic MLP widths (relu)", widths)
  encoder_hidden: tuple = _field((64, 64), "context-encoder MLP widths (relu)", widths)
  actor_lr: float = _field(3e-4, "actor Adam step size", positive)
  critic_lr: float = _field(3e-4, "critic Adam step size", positive)
  encoder_lr: float = _field(3e-4, "encoder Adam step size", positive)
  alpha_lr: float = _field(3e-4, "temperature Adam step size", positive)
  init_alpha: float = _field(1.0, "initial entropy temperature (above SAC's usual 0.1: exploration that reveals "
                             "psi's direction)", positive)
  target_entropy: float = _field(0.0, "the temperature's entropy target (SAC's usual: -action_dim)", any_number)
  gamma: float = _field(0.9, "discount", unit_interval)
  tau: float = _field(0.005, "Polyak rate of the target critics", unit_interval)
  kl_lambda: float = _field(0.03, "weight of KL(q(z|c) || N(0, I))", non_negative)
  batch_size: int = _field(64, "SAC transitions per task in a meta-batch", positive_int)
  context_size: int = _field(64, "context transitions per task in a meta-batch", positive_int)
  meta_batch: int = _field(8, "tasks (slots) per gradient step", positive_int)
  gradient_steps: int = _field(64, "SAC and encoder updates per iteration", positive_int)
  reward_scale: float = _field(1.0, "reward scale in the critic's target", positive)


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  every: int = _field(2, "outer iterations between orbax checkpoints (multiple of the chunk)", positive_int)
  keep: int = _field(2, "latest checkpoints kept (0: all)", non_negative_int("no limit"))
  keep_period: int = _field(4, "checkpoints at multiples of this iteration are kept too (0: none)",
                            non_negative_int("none"))


@dataclasses.dataclass(frozen=True)
class Logging:
  wandb: str = _field("offline", "offline (no network; `wandb sync` later) | online | disabled",
                      one_of(_names("admrl_jax.logger", "WANDB_MODES")))
  project: str = _field("admrl-jax", "wandb project", string)


@dataclasses.dataclass(frozen=True)
class Config:
  family: str = _field("point_mass", "task family: see admrl_jax.envs.FAMILIES", one_of(_names("admrl_jax.envs", "FAMILIES", sort=True)))
  method: str = _field("admrl", "task proposal, by name (admrl_jax.methods): admrl (adversarial tasks) | unif "
                       "(MB-Unif) | gauss (MB-Gauss) | gap_search (an adversary on the measured gap estimates) | random_walk "
                       "(AdMRL's walk in random directions: the control of its gradient) | multitask | maml | pearl (model-free "
                       "baselines: admrl_jax.meta_rl, each with its config section)", one_of(_names("admrl_jax.methods", "REGISTRY", sort=True)))
  seed: int = _field(0, "one seed drives everything (typed PRNG keys split per consumer)", any_int)
  workdir: str = _field("runs", "run directories are created under this folder", string)
  backend: str = _field("jax", "physics backend of the family's env: see admrl_jax.envs.BACKENDS", string)
  devices: int = _field(1, "devices along the mesh's task axis; K tasks are split over them", positive_int)
  task: Task = _field(Task, "the task box")
  loop: Loop = _field(Loop, "the outer loop")
  adversary: Adversary = _field(Adversary, "the adversary's search rules (methods admrl, gap_search)")
  model: Model = _field(Model, "the dynamics model")
  trpo: Trpo = _field(Trpo, "TRPO, in adaptation")
  task_gradient: TaskGradient = _field(TaskGradient, "the implicit task gradient")
  multitask: Multitask = _field(Multitask, "method multitask: a psi-conditioned policy trained by PPO (brax.training)")
  maml: Maml = _field(Maml, "method maml: MAML with TRPO meta-updates")
  pearl: Pearl = _field(Pearl, "method pearl: SAC with a probabilistic context encoder")
  eval: Eval = _field(Eval, "the evaluation protocol")
  checkpoint: Checkpoint = _field(Checkpoint, "checkpoints")
  logging: Logging = _field(Logging, "metrics")


# Fields added since runs were first saved whose default is not what those runs did: a config.json that
# lacks one is read with the value that keeps its old protocol (``run_dir.load_config``).
SAVED_BEFORE_THE_FIELD = {"eval.ood": True}   # the OOD set was always evaluated before the field existed


def _is_section(f: dataclasses.Field) -> bool:
  return dataclasses.is_dataclass(f.default_factory) if f.default is dataclasses.MISSING else False


def default_config() -> ml_collections.ConfigDict:
  """The defaults of ``Config`` as an (unlocked) ml-collections ConfigDict."""

  def as_dict(obj):
    return {f.name: as_dict(getattr(obj, f.name)) if dataclasses.is_dataclass(getattr(obj, f.name))
            else getattr(obj, f.name) for f in dataclasses.fields(obj)}

  return ml_collections.ConfigDict(as_dict(Config()))


def check_fields(config) -> None:
  """Every field's own check; raise ConfigError naming the first bad field (``section.field``)."""
  for name, f, value in _walk(config):
    problem = f.metadata["check"](value) if f.metadata["check"] else None
    if problem:
      raise ConfigError(f"{name}: {problem}")


def _walk(config, cls=Config, prefix=""):
  """(dotted name, dataclass field, value) of every leaf field; unknown or missing names raise."""
  names = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(config.keys()) - names)
  if unknown:
    raise ConfigError(f"{prefix}{unknown[0]}: unknown field; allowed: {sorted(names)}")
  for f in dataclasses.fields(cls):
    if f.name not in config:
      raise ConfigError(f"{prefix}{f.name}: missing field")
    if _is_section(f):
      yield from _walk(config[f.name], f.default_factory, f"{prefix}{f.name}.")
    else:
      yield f"{prefix}{f.name}", f, config[f.name]


def typed(config) -> Config:
  """A checked ConfigDict -> ``Config`` (frozen dataclasses, built by keyword; lists become tuples)."""

  def build(cls, node):
    kw = {}
    for f in dataclasses.fields(cls):
      value = node[f.name]
      kw[f.name] = build(f.default_factory, value) if _is_section(f) else (
          tuple(value) if isinstance(value, list) else value)
    return cls(**kw)

  check_fields(config)
  return build(Config, config)
