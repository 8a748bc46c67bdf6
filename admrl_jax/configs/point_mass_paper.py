"""PointMass2D at the reference's scale (SPEC section 3): its loop budgets and model size.

Tens of minutes per outer iteration on 2 CPU cores; meant for an accelerator or a sweep host.
"""
from admrl_jax.configs.default import get_config as default_config


def get_config():
  c = default_config()
  c.loop.iterations = 100           # reference: N = 100 outer iterations
  c.loop.iterations_per_chunk = 5
  c.loop.warmup_rounds = 40         # reference: 40 zero-shot rounds
  c.loop.slbo_stages = 3            # reference: 3 real collections with refinement
  c.loop.stage_rounds = 20          # reference: 20 rounds per stage
  c.loop.real_episodes = 200        # reference: 10k real transitions per collection (T = 50)
  c.loop.gradient_rollouts = 128
  c.loop.ascent_step = 0.1
  c.model.hidden = (1000, 1000)     # reference: 2 x 1000 dynamics MLP
  c.model.fit_steps = 100           # reference: 100 fit steps per round
  c.model.batch_size = 256          # reference: batch 256, one-step loss
  c.model.loss_horizon = 1
  c.trpo.updates_per_round = 20     # reference: 20 TRPO updates per round
  c.trpo.model_rollouts = 200       # reference: 10k virtual samples per TRPO update (T = 50)
  c.trpo.value_epochs = 5           # reference: 5 value epochs
  c.task_gradient.cg_iters = 200    # reference: 200 CG iterations
  c.eval.grid_points = 9
  c.eval.adapt_updates = 200
  c.eval.adapt_seeds = 3            # the full protocol: 3 adaptation seeds per task, and the OOD set
  c.eval.ood = True
  c.eval.few_shot_episodes = (4, 20)
  c.checkpoint.every = 5
  c.checkpoint.keep_period = 25
  return c
