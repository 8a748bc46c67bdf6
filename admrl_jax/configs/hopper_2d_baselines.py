"""Hopper2D, the model-free baselines (multitask, maml, pearl) beside the study of ``hopper_2d_study.py``
(the same test sets, evaluation episodes, V* tables and cache), with the few-shot budgets of the paper's
comparison: 2k / 4k / 6k real samples of the test task (10 / 20 / 30 episodes at T = 200).

Budget (the study protocol in docs/results.md): 10x the model-based methods' real samples, the checkpoint
at 1x kept. A model-based run collects at most 481 600 real steps (8 initial episodes, then 100
iterations of 24 episodes of at most 200 steps; AdMRL seed 0 used 475 370: real steps count the steps
before a fall). Each baseline's outer iterations are set from its steps per iteration at full-length
episodes, so it never uses more than the model-based maximum by the 1x checkpoint:

  method     steps per iteration (at most)       1x checkpoint      10x (iterations)
  multitask  16 tasks x 2 episodes x 200 = 6.4k  75 (480 000)       750 (4.80 M)
  maml       20 x 10 x 2 x 200 = 80k             6 (480 000)        60 (4.80 M)
  pearl      4 x 2 x 200 = 1.6k                  301 (481 600)      3010 (4.82 M)

Checkpoints every 1x with keep_period 1x keep every multiple of it (``experiments.study_curves``: the gap
against real samples); a run's real steps (alive steps) are in its metrics. Run each method with its own
iterations and checkpoint period, e.g.

  python -m experiments.study --study=hopper_2d_n100 --config=experiments/configs/hopper_2d_baselines.py \\
      --methods=maml --seeds=0,1,2 --config.loop.iterations=60 --config.loop.iterations_per_chunk=6 \\
      --config.checkpoint.every=6 --config.checkpoint.keep_period=6 --commit

The defaults below are multitask's.
"""
from admrl_jax.configs.hopper_2d_study import get_config as study_config

ONE_X = {"multitask": 75, "maml": 6, "pearl": 301}   # outer iterations at the model-based real-sample budget


def get_config():
  c = study_config()
  c.method = "multitask"
  c.loop.iterations = 10 * ONE_X["multitask"]
  c.loop.iterations_per_chunk = 25
  c.eval.few_shot_episodes = (10, 20, 30)
  c.checkpoint.every = ONE_X["multitask"]
  c.checkpoint.keep = 1
  c.checkpoint.keep_period = ONE_X["multitask"]
  return c
