"""Variance reduction of p, the real-return policy gradient at theta_hat (docs/results.md, "Gradient quality":
p's noise, amplified by the solve, sets the task gradient's direction), and the real batches behind it.

On the linear-Gaussian problem of tests/test_task_gradient_end_to_end.py (linear policy, linear true
dynamics, a slightly wrong linear "model", quadratic reward, T = 30), p = grad_theta V_true(theta) is a
closed form. Over 2000 independent draws of 8 real episodes (the shipped batch), each estimator's mean
must agree with it (a z-test: 4.5 standard errors of the mean, as in the end-to-end test), and its total
variance (trace of the covariance) must fall by a stated factor against the default estimator (value net
baseline, no control variate). Measured (1000 draws): the leave-one-out per-step baseline 3.2x (value_loo)
and 3.4x (loo), the model control variate 9.8x, both together 13.4x. Then the outer loop's real batches:
common random numbers share start states and action noise, and p_episodes keeps the iteration's total.
The tiny-config runs with each option: tests/test_task_gradient_variance_run_*.py (``run_tiny``).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64
from jax.flatten_util import ravel_pytree

from admrl_jax.config import ConfigError, build
from admrl_jax.dynamics import ModelState
from admrl_jax.rollout import real_rollouts
from admrl_jax.task_gradient import SolverConfig, TaskGradientEstimator, leave_one_out_mean
from tests.test_task_gradient_end_to_end import (A_MODEL, A_TRUE, AGENT, B_MODEL, B_TRUE, FAMILY, PSI, LinearModel,
                                                 closed_form_return)

EPISODES, DRAWS = 8, 1000
SOLVER = SolverConfig(method="direct", damping=1e-6, iters=5, tol=1e-12, damping_scale="relative")


def _policy():
  """A linear Gaussian policy away from any optimum (so p is far from 0), float64."""
  return {"params": {"MLP_0": {"Dense_0": {"kernel": jnp.array([[-0.3, 0.05], [0.1, -0.25]]),
                                           "bias": jnp.array([0.4, -0.2])}},
                     "log_std": jnp.log(jnp.array([0.5, 0.4]))}}


def _estimator(p_baseline="value", p_control_variate="none"):
  return TaskGradientEstimator(AGENT, FAMILY, LinearModel(), 32, SOLVER, "pathwise", "return",
                               p_baseline=p_baseline, p_control_variate=p_control_variate)


def _hat():
  base = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), AGENT.init(jax.random.key(1)))
  return base.replace(policy=_policy())   # its value net: the random init's (knows no time, as on PointMass)


def _model(a=A_MODEL, b=B_MODEL):
  return ModelState({"a": jnp.asarray(a), "b": jnp.asarray(b)}, (), None)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _p_draws(p_baseline, p_control_variate):
  """DRAWS independent estimates of p [DRAWS, n], each from EPISODES fresh real episodes (and, for the
  control variate, fresh virtual rollouts for grad Vhat); the same keys for every estimator."""
  est, hat, psi, model = _estimator(p_baseline, p_control_variate), _hat(), jnp.asarray(PSI), _model()

  def one(key):
    k_real, k_model = jax.random.split(key)
    real = real_rollouts(FAMILY.env, AGENT.act_fn(hat.policy), k_real, EPISODES)
    inner = est.inner_gradient(hat, psi, model, k_model)
    return est.p_estimate(hat, psi, model, real, inner)

  return jax.vmap(one)(jax.random.split(jax.random.key(3), DRAWS))


def _p_true():
  flat, unravel = ravel_pytree(_policy())
  return np.asarray(jax.grad(lambda th: closed_form_return(unravel(th), jnp.asarray(PSI), A_TRUE, B_TRUE))(flat))


def _z(draws, exact):
  se = draws.std(0, ddof=1) / np.sqrt(draws.shape[0])
  return float(np.max(np.abs(draws.mean(0) - exact) / se))


@pytest.mark.parametrize("p_baseline, p_control_variate, factor", [
    ("value_loo", "none", 2.5), ("loo", "none", 2.5), ("value", "model", 6.0), ("value_loo", "model", 9.0)])
def test_variance_reductions_keep_p_unbiased_and_lower_its_variance(p_baseline, p_control_variate, factor):
  with enable_x64():
    exact = _p_true()
    default = np.asarray(_p_draws("value", "none"))
    reduced = np.asarray(_p_draws(p_baseline, p_control_variate))
    assert _z(default, exact) < 4.5
    assert _z(reduced, exact) < 4.5, (p_baseline, p_control_variate)
    ratio = default.var(0).sum() / reduced.var(0).sum()
    print(f"p_baseline={p_baseline}, p_control_variate={p_control_variate}: variance / {ratio:.1f}, "
          f"z {_z(reduced, exact):.2f} (default's z {_z(default, exact):.2f})")   # pytest -s
    assert ratio > factor


def test_terms_p_is_p_estimate_and_the_control_variate_draws_its_own_rollouts():
  """By default terms() keeps its old expression of p, which p_estimate computes too; with the control
  variate, terms() adds grad Vhat from virtual rollouts apart from H's and J's (key folded with 1), so p
  stays independent of H and J, as without it."""
  with enable_x64():
    hat, psi, model = _hat(), jnp.asarray(PSI), _model()
    real = real_rollouts(FAMILY.env, AGENT.act_fn(hat.policy), jax.random.key(5), EPISODES)
    plain, cv = _estimator(), _estimator("value_loo", "model")

    @jax.jit
    def ps(key):
      inner = lambda k: cv.inner_gradient(hat, psi, model, k)
      return dict(terms=plain.terms(hat, psi, model, key, real)[2], estimate=plain.p_estimate(hat, psi, model, real),
                  cv_terms=cv.terms(hat, psi, model, key, real)[2],
                  cv_own=cv.p_estimate(hat, psi, model, real, inner(jax.random.fold_in(key, 1))),
                  cv_shared=cv.p_estimate(hat, psi, model, real, inner(key)))

    p = {name: np.asarray(x) for name, x in ps(jax.random.key(6)).items()}
    np.testing.assert_allclose(p["estimate"], p["terms"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p["cv_terms"], p["cv_own"], rtol=1e-9, atol=1e-9)
    assert np.abs(p["cv_terms"] - p["cv_shared"]).max() > 1e-6


def test_model_replay_reproduces_the_real_episodes_on_exact_dynamics():
  """With the true dynamics as the model, the replay of the real episodes' starts and action noise is the
  real batch itself, so the control variate cancels the real score term exactly: p = grad Vhat."""
  with enable_x64():
    est, hat, psi, exact_model = _estimator("value", "model"), _hat(), jnp.asarray(PSI), _model(A_TRUE, B_TRUE)
    real = real_rollouts(FAMILY.env, AGENT.act_fn(hat.policy), jax.random.key(5), EPISODES)
    replay = est.model_replay(exact_model, hat.policy, real)
    for name in ("obs", "action", "next_obs", "c", "f", "done"):
      np.testing.assert_allclose(np.asarray(getattr(replay, name)), np.asarray(getattr(real, name)), atol=1e-10,
                                 err_msg=name)
    inner = est.inner_gradient(hat, psi, exact_model, jax.random.key(6))
    np.testing.assert_allclose(np.asarray(est.p_estimate(hat, psi, exact_model, real, inner)), np.asarray(inner),
                               atol=1e-8)


def test_leave_one_out_mean_excludes_the_episode_and_the_dead_steps():
  x = jnp.array([[1.0, 2.0, 3.0], [5.0, 6.0, 7.0], [9.0, 10.0, 11.0]])
  mask = jnp.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
  expect = np.array([[7.0, 6.0, 0.0], [5.0, 2.0, 3.0], [3.0, 4.0, 3.0]])
  np.testing.assert_allclose(np.asarray(leave_one_out_mean(x, mask)), expect)


def _loop(**task_gradient):
  from tests.tiny_config import get_config
  c = get_config()
  for name, value in task_gradient.items():
    setattr(c.task_gradient, name, value)
  return build(c)[0]


def test_common_random_numbers_share_start_states_and_action_noise():
  """theta*'s batch draws theta_hat's first episodes' starts and action-noise keys: the same policy in both
  seats gives the same episodes; two policies, the same starts; without the option, other starts."""
  loop = _loop(common_random_numbers=True, p_episodes=4)   # tiny: 3 x 2 episodes, 4 to theta_hat's batch
  assert loop.episode_counts == (4, 1)
  init = loop.learner.agent.init
  hat, star = init(jax.random.key(1)), init(jax.random.key(2))
  k_hat, k_star = jax.random.key(3), jax.random.key(4)
  same_hat, same_star = loop.real_pair(hat, hat, k_hat, k_star)
  assert same_hat.c.shape[0] == 4 and same_star.c.shape[0] == 1
  for a, b in zip(jax.tree.leaves(same_star), jax.tree.leaves(same_hat)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b)[:1], rtol=1e-5, atol=1e-6)
  real_hat, real_star = loop.real_pair(hat, star, k_hat, k_star)
  np.testing.assert_array_equal(np.asarray(real_star.obs[:, 0]), np.asarray(real_hat.obs[:1, 0]))
  assert not np.array_equal(np.asarray(real_star.action), np.asarray(real_hat.action[:1]))   # other policy
  plain_hat, plain_star = _loop(p_episodes=4).real_pair(hat, star, k_hat, k_star)
  assert not np.array_equal(np.asarray(plain_star.obs[:, 0]), np.asarray(plain_hat.obs[:1, 0]))
  # a batch drawn as the first n of n episodes is Learner.real_batch: the same starts, the same noise
  # (the trajectories agree to float32 rounding: XLA may compile the two vmapped programs differently)
  for a, b in zip(jax.tree.leaves(loop.task_batch(hat, k_hat, 2, 2)),
                  jax.tree.leaves(loop.learner.real_batch(hat, k_hat, 2))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_p_episodes_keep_the_iterations_real_episodes_and_refuse_a_split_that_does_not_fit():
  default = _loop()
  total = default.collections_per_iteration * default.real_episodes
  assert default.episode_counts == (default.real_episodes, default.real_episodes)
  for p in (2, 4):
    n_hat, n_rest = _loop(p_episodes=p).episode_counts
    assert n_hat == p and n_hat + default.slbo_stages * n_rest == total
  with pytest.raises(ConfigError, match=r"^task_gradient.p_episodes: .*allowed: \[2, 4\], got 3"):
    _loop(p_episodes=3)
  with pytest.raises(ConfigError, match=r"^task_gradient.p_episodes: .*got 6"):
    _loop(p_episodes=6)   # nothing left for the later collections


def run_tiny(**task_gradient):
  """The tiny config with these task_gradient options, 2 outer iterations -> (loop, state, metrics);
  the metrics of the task gradient must be finite."""
  loop = _loop(**task_gradient)
  state = loop.init(jax.random.key(0))
  state, metrics = jax.jit(loop.run_chunk, static_argnums=1)(state, 2)
  for name in ("task_gradient", "implicit_term", "envelope_star", "envelope_hat", "gap_estimate", "cg_residual"):
    assert np.all(np.isfinite(np.asarray(metrics[name]))), name
  assert np.asarray(metrics["iteration"]).tolist() == [1, 2]
  return loop, state, metrics


def collection_starts(loop, state, iteration: int):
  """The start observations [K, E, ds] of the iteration's theta_hat batch (stage 0) and of theta*'s
  (the last collection), read back from the replay buffer (tasks in order, each task's episodes together)."""
  n_hat, n_rest = loop.episode_counts
  K = loop.num_tasks
  offset = loop.initial_episodes + iteration * K * (n_hat + loop.slbo_stages * n_rest)
  obs0 = np.asarray(state.buffer.data.obs[:, 0])
  hat = obs0[offset:offset + K * n_hat].reshape(K, n_hat, -1)
  star_at = offset + K * (n_hat + (loop.slbo_stages - 1) * n_rest)
  star = obs0[star_at:star_at + K * n_rest].reshape(K, n_rest, -1)
  return hat, star
