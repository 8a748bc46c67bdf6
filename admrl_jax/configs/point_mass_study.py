"""PointMass2D at the study's scale (issue "The paper's claim, tested"): the paper's N = 100 outer
iterations, with an inner budget and an evaluation a 2-core CPU affords for 5 seeds x 4 methods.

Against the default (``point_mass_cpu``): 4 warm-up rounds and 2 rounds per SLBO stage (8 and 4),
5 TRPO updates per round over 16 model episodes (10 over 32), so a task's policy gets 40 TRPO
updates per iteration; the evaluation adapts for the same 40 updates with one adaptation seed
(curves flatten by 40: docs/results.md) and plans through the model for 500 Adam steps. The V*
oracle keeps its full budget (1500 steps) and is shared by every run through the cache.
"""
from admrl_jax.configs.default import get_config as default_config


def get_config():
  c = default_config()
  c.loop.iterations = 100
  c.loop.iterations_per_chunk = 10
  c.loop.warmup_rounds = 4
  c.loop.stage_rounds = 2
  c.trpo.updates_per_round = 5
  c.trpo.model_rollouts = 16
  c.eval.adapt_updates = 40
  c.eval.adapt_seeds = 1
  c.eval.ood = True                  # the study's protocol: the OOD set too (the default job skips it)
  c.eval.planner_iters = 500
  c.checkpoint.every = 10
  c.checkpoint.keep = 1
  c.checkpoint.keep_period = 20      # the models at iterations 20, 40, ..., 100 stay: gap against real samples
  c.logging.wandb = "disabled"
  return c
