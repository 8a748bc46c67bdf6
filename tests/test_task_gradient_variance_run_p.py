"""Two outer iterations of the tiny config with p's variance reductions on (task_gradient.p_baseline=value_loo,
task_gradient.p_control_variate=model): the task gradient and its terms are finite (the analytic checks:
tests/test_task_gradient_variance.py)."""
import numpy as np
import pytest

from tests.test_task_gradient_variance import run_tiny

pytestmark = pytest.mark.slow   # a compile of its own outer step (~30 s); runs in CI's slow pass


def test_tiny_run_with_the_leave_one_out_baseline_and_the_model_control_variate():
  loop, state, metrics = run_tiny(p_baseline="value_loo", p_control_variate="model")
  assert loop.estimator.p_baseline == "value_loo" and loop.estimator.p_control_variate == "model"
  assert np.abs(np.asarray(metrics["implicit_term"])).max() > 0   # the solve ran on a nonzero p
