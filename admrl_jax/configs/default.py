"""Default configuration: AdMRL on the analytic PointMass2D family at CPU scale.

Every field is commented; variants import this module and override fields.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.family = "point_mass"          # task family: see admrl_jax.envs.FAMILIES
  c.method = "admrl"               # admrl (adversarial tasks) | unif (MB-Unif) | gauss (MB-Gauss)
  c.seed = 0                       # one seed drives everything (typed PRNG keys split per consumer)
  c.workdir = "runs"               # run directories are created under this folder
  c.backend = "jax"                # physics backend of the family's env: see admrl_jax.envs.BACKENDS
  c.devices = 1                    # devices along the mesh's task axis; K tasks are split over them

  c.task = ml_collections.ConfigDict()
  c.task.lo = ()                   # task box lower corner; () keeps the family's box (SPEC section 4)
  c.task.hi = ()                   # task box upper corner; give both or neither

  c.loop = ml_collections.ConfigDict()
  c.loop.iterations = 12           # outer iterations N (reference: 100)
  c.loop.iterations_per_chunk = 2  # outer iterations scanned inside one jitted call
  c.loop.num_tasks = 1             # K tasks per iteration, vmapped (reference: 1)
  c.loop.warmup_rounds = 8         # zero-shot adaptation: rounds of [fit model; TRPO] (reference: 40)
  c.loop.slbo_stages = 2           # real collections with refinement after warm-up (reference: 3)
  c.loop.stage_rounds = 4          # rounds of [fit model; TRPO] per stage (reference: 20)
  c.loop.real_episodes = 8         # real episodes per task per collection (reference: 10k steps)
  c.loop.initial_episodes = 8      # real episodes of random actions before iteration 1
  c.loop.gradient_rollouts = 64    # virtual episodes of theta_hat feeding H and J
  c.loop.ascent_step = 0.3         # AdMRL step length in unit task coordinates w in [-1, 1]^k
  c.loop.gauss_std = 1.0           # MB-Gauss: w ~ N(0, std^2) clipped to [-1, 1]

  c.model = ml_collections.ConfigDict()
  c.model.hidden = (128, 128)      # dynamics MLP widths (reference: 1000, 1000)
  c.model.learning_rate = 1e-3     # Adam(W) step size
  c.model.weight_decay = 1e-5      # decoupled weight decay
  c.model.grad_clip = 2.0          # global gradient-norm clip
  c.model.batch_size = 128         # windows per fit step
  c.model.loss_horizon = 2         # steps the model is rolled in its loss (1 = SLBO one-step loss)
  c.model.fit_steps = 40           # fit steps per round (reference: 100)

  c.trpo = ml_collections.ConfigDict()
  c.trpo.policy_hidden = (32, 32)  # Gaussian policy MLP, tanh
  c.trpo.value_hidden = (64, 64)   # value MLP, tanh
  c.trpo.updates_per_round = 10    # TRPO updates per round (reference: 20)
  c.trpo.model_rollouts = 32       # virtual episodes per TRPO update (reference: 50)
  c.trpo.gamma = 0.99              # discount
  c.trpo.lam = 0.95                # GAE lambda
  c.trpo.max_kl = 0.01             # trust region
  c.trpo.cg_iters = 10             # CG iterations for the natural gradient
  c.trpo.cg_damping = 0.1          # Fisher damping
  c.trpo.entropy_coef = 0.005      # entropy bonus
  c.trpo.value_lr = 1e-3           # value-fit Adam step size
  c.trpo.value_epochs = 2          # value-fit epochs per update
  c.trpo.value_minibatches = 4     # value-fit minibatches per epoch

  c.task_gradient = ml_collections.ConfigDict()
  c.task_gradient.solver = "normal"  # normal (reference's damped normal equations) | direct
  c.task_gradient.rhs = "adjoint"    # adjoint (one solve) | columns (k solves, vmapped)
  c.task_gradient.hessian = "pathwise"  # H: pathwise (through the model rollout) | exact (score function,
                                       # DiCE's second derivative) | lvc (the reference's per-step form)
  c.task_gradient.advantage = "return"  # weights of J, H, p: return (lambda = 1, unbiased) | gae (reference)
  c.task_gradient.damping_scale = "relative"  # relative: damping x ||H||^2 / n (normal) or x ||H|| (direct)
                                       # | absolute (the reference's 0.1 was set for its surrogate's scale)
  c.task_gradient.damping = 0.1      # lambda of the damped system (see damping_scale)
  c.task_gradient.cg_iters = 20      # CG iterations (reference: 200); at the relative damping CG reaches
                                   # float32's floor by 20 (docs/benchmarks.md, figure 3)

  c.eval = ml_collections.ConfigDict()
  c.eval.grid_points = 7           # test grid points per task dimension in 2-D (7 x 7)
  c.eval.grid_points_3d = (5, 5, 3)  # test grid of 3-D task boxes (SPEC section 5)
  c.eval.random_tasks = 256        # test tasks in higher dimensions: half uniform, half corners
  c.eval.adapt_updates = 80        # zero-shot TRPO updates on the final model per test task
  c.eval.adapt_seeds = 3           # adaptation seeds per test task: its return is their mean, their std
                                   # is reported (eval.csv return_std; summary adapt_seed_std_mean/max)
  c.eval.floor = "auto"            # adaptation floor: the same adaptation (budget, seeds) on the true
                                   # dynamics, cached; auto: on for analytic families (point_mass), off
                                   # for Brax (there it costs the simulator at the full budget) | on | off
  c.eval.model_planner = "auto"    # model planner: the trajectory oracle's optimiser (eval.oracle_iters
                                   # Adam steps) through the learned model, plans run on the true system;
                                   # auto: on for deterministic differentiable families (point_mass) | on | off
  c.eval.episodes = 8              # evaluation episodes per task (mean action)
  c.eval.few_shot_episodes = ()    # few-shot budgets in real episodes per task, e.g. (2, 4)
  c.eval.few_shot_rounds = 4       # SLBO rounds after each few-shot batch
  c.eval.ood_fraction = 0.25       # OOD box: the box widened by this fraction per side
  c.eval.oracle = "trajectory"     # V* oracle: trajectory (optimisation through smooth true dynamics)
                                   # | policy (TRPO on the true env per task; Brax families)
  c.eval.oracle_iters = 1500       # oracle steps: trajectory-optimisation steps, or TRPO updates
  c.eval.oracle_episodes = 16      # policy oracle: real episodes per TRPO update
  c.eval.oracle_gamma = 0.995      # policy oracle: discount (adaptation's trpo.gamma is shorter-sighted)
  c.eval.oracle_lam = 0.99         # policy oracle: GAE lambda
  c.eval.mpc_samples = 0           # MPC oracle (predictive sampling on the true env): candidate plans
                                   # per control step; 0: off. V* = max(oracle, MPC, zero action)
  c.eval.mpc_plan_horizon = 20     # MPC oracle: plan length in env steps
  c.eval.mpc_sigma = 0.5           # MPC oracle: std of the plan perturbations (actions in [-1, 1])
  c.eval.mpc_knot_every = 1        # MPC oracle: perturbation knots every this many steps, linear between
  c.eval.oracle_cache = "runs/oracle_cache"  # V* cache folder, shared by all runs ("" disables)
  c.eval.seed = 0                  # evaluation start states and oracle: one seed for every run

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every = 2           # outer iterations between orbax checkpoints (multiple of the chunk)
  c.checkpoint.keep = 2            # latest checkpoints kept (0: all)
  c.checkpoint.keep_period = 4     # checkpoints at multiples of this iteration are kept too (0: none)

  c.logging = ml_collections.ConfigDict()
  c.logging.wandb = "offline"      # offline (no network; `wandb sync` later) | online | disabled
  c.logging.project = "admrl-jax"  # wandb project
  return c
