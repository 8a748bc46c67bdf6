"""Configs of the Brax task families at two scales; the per-family files call ``brax_config``.

cpu:   a whole AdMRL run (training, 7 x 7 or 5 x 5 x 3 evaluation, policy oracle) sized for the
       2-core CPU this project is developed on. Measured on Hopper2D (docs/results.md): 53 minutes
       with the in-box and OOD oracles computed (27 + 15 min of it), about 12 minutes once they
       are cached; families with slower physics (walker, ant, cheetah) take longer;
paper: the reference's budgets (SPEC section 3): N = 100, 40 warm-up rounds, 3 stages of 20 rounds,
       10k real transitions per collection, a 2 x 1000 model, 20 TRPO updates of 50 rollouts.
The model-free baselines (``--config.method=multitask|maml|pearl``, ``baselines``) get their sections
here too: at cpu scale the defaults (sized on PointMass2D) with the longer horizon's discount and replay;
at paper scale the budgets of their papers (MAML-TRPO: Finn et al. 2017's locomotion settings; PEARL:
Rakelly et al. 2019's; multitask: brax.training's PPO locomotion settings, at our episode length).
Grids (SPEC section 5): 7 x 7 in 2-D, 5 x 5 x 3 in 3-D (``eval.grid_points`` per dimension is
the 2-D count; 3-D families use ``eval.grid_points_3d``), a few hundred random and boundary
directions in 18-D (``eval.random_tasks``). OOD: the box widened by 25 % per side.
"""
from admrl_jax.configs.default import get_config as default_config

# Backend per family: the fastest on this CPU in experiments/measure_backends.py (docs/results.md).
BACKEND = {"hopper_2d": "positional", "walker_2d": "positional", "ant_2d": "mjx", "ant_3d": "mjx",
           "half_cheetah_2d": "positional", "half_cheetah_linear": "positional", "humanoid_3d": "mjx"}

# MPC oracle plan length in env steps: 0.32 s for Hopper2D (dt 0.008 s; 0.48 s found no more), 0.8 s
# for Walker2D (at 0.32 s its plans did not see falls coming: 633-978 at the corners, below doing
# nothing), about 1 s / 0.45 s for the ants and cheetahs (dt 0.05 s) / humanoid (docs/results.md).
MPC_PLAN_HORIZON = {"hopper_2d": 40, "walker_2d": 100, "ant_2d": 20, "ant_3d": 20, "half_cheetah_2d": 20,
                    "half_cheetah_linear": 20, "humanoid_3d": 30}

# MPC oracle perturbation knots (every this many steps, linear between; 1: per-step noise). One-start
# probes (docs/results.md): Hopper (2, 1.2) 1689 per-step, 1721 with knots every 5 steps (40 ms);
# Walker (2, 1.8) 1404 with knots every 10 (80 ms), against 1162 per-step in the corner table (the
# corner tables with knots: Walker +99..+237 at every corner, Hopper -21..+96). Ant2D keeps per-step
# noise: its corner table with knots every 4 steps (0.2 s) scored 667 / 700 / 669 / 779 against
# 759 / 760 / 764 / 590 per-step (two per-step draws: corners' means 718 and 747; knots 704), no
# clear difference. Ant3D, the cheetahs and the humanoid were not probed and keep per-step noise.
MPC_KNOT_EVERY = {"hopper_2d": 5, "walker_2d": 10, "ant_2d": 1, "ant_3d": 1, "half_cheetah_2d": 1,
                  "half_cheetah_linear": 1, "humanoid_3d": 1}


def brax_config(family: str, scale: str):
  if scale not in ("cpu", "paper"):
    raise ValueError(f"scale: unknown value {scale!r}; allowed: ['cpu', 'paper']")
  c = default_config()
  c.family = family
  c.backend = BACKEND[family]
  c.eval.oracle = "policy"
  c.eval.mpc_plan_horizon = MPC_PLAN_HORIZON[family]
  c.eval.mpc_knot_every = MPC_KNOT_EVERY[family]
  c.model.loss_horizon = 2
  c.eval.ood = True                   # both scales evaluate the OOD set (the default job skips it)
  if scale == "cpu":
    c.loop.iterations = 10
    c.loop.iterations_per_chunk = 1
    c.loop.warmup_rounds = 10
    c.loop.slbo_stages = 2
    c.loop.stage_rounds = 5
    c.loop.real_episodes = 8          # 1600 real steps per collection at T = 200
    c.loop.initial_episodes = 8
    c.loop.gradient_rollouts = 32
    c.model.hidden = (256, 256)
    c.model.fit_steps = 50
    c.trpo.updates_per_round = 10
    c.trpo.model_rollouts = 32
    c.eval.adapt_updates = 60
    c.eval.episodes = 4
    c.eval.adapt_seeds = 1            # one adaptation seed per task: three would triple the evaluation here
    c.eval.oracle_iters = 200         # TRPO updates of the policy oracle per test task
    c.eval.oracle_episodes = 16
    c.eval.mpc_samples = 0            # MPC oracle off on a grid here (hours on 2 cores); corners: oracle_table
    c.checkpoint.every = 1
    baselines(c, "cpu")
  else:
    c.loop.iterations = 100
    c.loop.iterations_per_chunk = 1
    c.loop.warmup_rounds = 40
    c.loop.slbo_stages = 3
    c.loop.stage_rounds = 20
    c.loop.real_episodes = 50         # 10k real transitions per collection at T = 200
    c.loop.initial_episodes = 50
    c.loop.gradient_rollouts = 128
    c.loop.ascent_step = 0.1
    c.model.hidden = (1000, 1000)
    c.model.batch_size = 256
    c.model.fit_steps = 100
    c.trpo.updates_per_round = 20
    c.trpo.model_rollouts = 50
    c.trpo.value_epochs = 5
    c.task_gradient.cg_iters = 200
    c.eval.adapt_updates = 200
    c.eval.adapt_seeds = 3
    c.eval.episodes = 10
    c.eval.few_shot_episodes = (10, 20, 30)   # 2k / 4k / 6k real samples at T = 200
    c.eval.few_shot_rounds = 2                # 5 new episodes per round
    c.eval.oracle_iters = 1000
    c.eval.oracle_episodes = 50
    c.eval.mpc_samples = 256          # V* = max(policy oracle, MPC, zero action): an accelerator's job
                                      # (Ant2D corners: 632 / 747 / 783 at 64 / 128 / 256 plans)
    c.checkpoint.every = 5
    c.checkpoint.keep_period = 25
    baselines(c, "paper")
  return c


def baselines(c, scale: str) -> None:
  """The model-free baselines' sections for a Brax family (T = 200 or more) at ``scale``."""
  c.multitask.discounting = 0.99
  c.pearl.gamma = 0.99
  c.pearl.slot_capacity = 2 * c.pearl.episodes_per_task * 200   # the last two iterations' episodes of a task
  if scale == "paper":
    c.multitask.tasks_per_iteration = 64     # brax PPO locomotion: many envs, small minibatches, 4 epochs
    c.multitask.episodes_per_task = 1
    c.multitask.minibatches = 8
    c.multitask.learning_rate = 3e-4
    c.multitask.policy_hidden = (256, 256)
    c.multitask.value_hidden = (256, 256)
    c.maml.tasks_per_iteration = 40          # Finn et al. 2017, locomotion: meta-batch 40, 20 episodes per task,
    c.maml.inner_episodes = 20               # one inner step of 0.1, TRPO meta-step, policy 2 x 100
    c.maml.inner_lr = 0.1
    c.maml.policy_hidden = (100, 100)
    c.pearl.tasks_per_iteration = 5          # Rakelly et al. 2019: 5 tasks sampled per iteration, 2000 updates
    c.pearl.gradient_steps = 2000            # per iteration, meta-batch 16, 256 transitions, 3 x 300 networks,
    c.pearl.meta_batch = 16                  # latent 5, KL weight 0.1, reward scale 5
    c.pearl.batch_size = 256
    c.pearl.context_size = 100
    c.pearl.hidden = (300, 300, 300)
    c.pearl.encoder_hidden = (200, 200, 200)
    c.pearl.latent_dim = 5
    c.pearl.kl_lambda = 0.1
    c.pearl.reward_scale = 5.0
    c.pearl.task_slots = 100
    c.pearl.slot_capacity = 4000
