"""Two outer iterations of the tiny config with more real episodes for p at the same budget
(task_gradient.p_episodes=4: stage 0 collects 4 of each task's 3 x 2, stage 1 and theta*'s batch 1 each) and
common random numbers: finite, the same real steps as the default config, theta*'s episodes start where
theta_hat's first ones did."""
import numpy as np
import pytest

from tests.test_task_gradient_variance import collection_starts, run_tiny

pytestmark = pytest.mark.slow   # a compile of its own outer step (~30 s); runs in CI's slow pass


def test_tiny_run_with_p_episodes_keeps_the_real_sample_budget():
  loop, state, metrics = run_tiny(p_episodes=4, common_random_numbers=True)
  assert loop.episode_counts == (4, 1)
  horizon, K = loop.family.env.horizon, loop.num_tasks
  default_steps = horizon * (loop.initial_episodes + 2 * K * loop.collections_per_iteration * loop.real_episodes)
  assert int(state.real_steps) == default_steps == 1400         # the default tiny run's count (2 x 2 x 6 x 50 + 200)
  assert int(state.buffer.size) == state.buffer.capacity      # the same capacity, filled exactly
  assert np.asarray(metrics["real_steps"]).tolist() == [800, 1400]
  for iteration in range(2):
    hat, star = collection_starts(loop, state, iteration)
    assert hat.shape[1] == 4 and star.shape[1] == 1
    np.testing.assert_array_equal(star, hat[:, :1])
