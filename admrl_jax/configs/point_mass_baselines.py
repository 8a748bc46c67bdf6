"""PointMass2D, the model-free baselines (multitask, maml, pearl) beside the study of
``point_mass_study.py`` (same test sets, evaluation episodes, V* oracle and cache), with the few-shot
budgets of the paper's comparison: 2k / 4k / 6k real samples of the test task (40 / 80 / 120 episodes
at T = 50), and checkpoints kept along training for the gap against real samples
(``experiments.study_curves``).

Run each method with its own budget of outer iterations (``--config.loop.iterations``; the real steps
per iteration are the learner's: multitask 16 tasks x 2 episodes = 1.6k, maml 20 x 10 x 2 = 20k, pearl
4 x 2 = 0.4k), e.g.

  python -m experiments.study --study=point_mass_n100 --config=experiments/configs/point_mass_baselines.py \\
      --methods=multitask --seeds=0,1,2 --config.loop.iterations=750 --commit
"""
from admrl_jax.configs.point_mass_study import get_config as study_config


def get_config():
  c = study_config()
  c.method = "multitask"
  c.loop.iterations = 750
  c.loop.iterations_per_chunk = 25
  c.eval.few_shot_episodes = (40, 80, 120)
  c.checkpoint.every = 25
  c.checkpoint.keep = 1
  c.checkpoint.keep_period = 75
  return c
