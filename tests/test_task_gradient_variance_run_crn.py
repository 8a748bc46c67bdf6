"""Two outer iterations of the tiny config with common random numbers (task_gradient.common_random_numbers):
finite, and in every iteration theta*'s real episodes start where theta_hat's (stage 0's) did, task by task."""
import numpy as np
import pytest

from tests.test_task_gradient_variance import collection_starts, run_tiny

pytestmark = pytest.mark.slow   # a compile of its own outer step (~30 s); runs in CI's slow pass


def test_tiny_run_with_common_random_numbers_shares_the_start_states():
  loop, state, _ = run_tiny(common_random_numbers=True)
  assert loop.episode_counts == (loop.real_episodes, loop.real_episodes)
  for iteration in range(2):
    hat, star = collection_starts(loop, state, iteration)
    np.testing.assert_array_equal(star, hat)
    assert np.unique(hat[..., :2].reshape(-1, 2), axis=0).shape[0] == hat.shape[0] * hat.shape[1]  # distinct starts
