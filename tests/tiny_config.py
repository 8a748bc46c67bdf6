"""A tiny config that exercises every stage of the outer loop quickly (also a --config file)."""
from admrl_jax.configs.default import get_config as default_config


def get_config(method: str = "admrl"):
  c = default_config()
  c.method = method
  c.loop.iterations = 2
  c.loop.iterations_per_chunk = 1
  c.loop.num_tasks = 2
  c.loop.warmup_rounds = 2
  c.loop.slbo_stages = 2
  c.loop.stage_rounds = 1
  c.loop.real_episodes = 2
  c.loop.initial_episodes = 4
  c.loop.gradient_rollouts = 8
  c.model.hidden = (32, 32)
  c.model.fit_steps = 5
  c.model.batch_size = 32
  c.trpo.updates_per_round = 2
  c.trpo.model_rollouts = 8
  c.task_gradient.cg_iters = 10
  c.eval.grid_points = 2
  c.eval.adapt_updates = 3
  c.eval.episodes = 2
  c.eval.few_shot_episodes = (1,)
  c.eval.few_shot_rounds = 1
  c.eval.oracle_iters = 100
  c.eval.oracle_cache = ""
  c.eval.ood = True                # the OOD set's path is tested too (the default job skips it)
  c.eval.adapt_seeds = 1           # the floor, the planner and seed averaging: tests/test_evaluation_protocol.py
  c.eval.floor = "off"
  c.eval.model_planner = "off"
  c.checkpoint.every = 1
  c.checkpoint.keep_period = 0
  c.logging.wandb = "disabled"
  return c
