"""The implicit task gradient on the analytic family's dynamics, against finite differences of the gap.

The policy class is an open-loop action sequence a = tanh(theta) from a fixed start state, so both
inner problems (on a misspecified "learned" model and on the true dynamics) are solved exactly by
Newton's method, and the gap L(psi) = V(theta*(psi)) - V(theta_hat(psi)) can be differenced.
The tracking reward is squared here so that the Hessians exist everywhere.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import enable_x64

from admrl_jax.envs.point_mass import PointMassEnv
from admrl_jax.task_gradient import SolverConfig, implicit_task_gradient

HORIZON = 8


def _return(env, theta, psi):
  def body(s, a):
    s2, tr = env.step(s, a)
    return s2, tr.c - jnp.sum((tr.f - psi) ** 2)

  _, r = jax.lax.scan(body, jnp.zeros(4), jnp.tanh(theta.reshape(HORIZON, 2)))
  return jnp.sum(r) - 0.05 * jnp.sum(theta**2)  # keeps the optimum off tanh's flat tails


@functools.cache
def _solver(objective):
  """A jitted (psi, theta0) -> argmax_theta objective: Adam into the basin, then Newton steps."""
  opt = optax.adam(0.05)

  @jax.jit
  def solve(psi, theta0):
    def adam_step(carry, _):
      theta, state = carry
      updates, state = opt.update(-jax.grad(objective)(theta, psi), state)
      return (optax.apply_updates(theta, updates), state), None

    (theta, _), _ = jax.lax.scan(adam_step, (theta0, opt.init(theta0)), None, length=1500)

    def newton(theta, _):
      g = jax.grad(objective)(theta, psi)
      return theta - jnp.linalg.solve(jax.hessian(objective)(theta, psi), g), None

    theta, _ = jax.lax.scan(newton, theta, None, length=8)
    return theta, jax.grad(objective)(theta, psi), jax.hessian(objective)(theta, psi)

  return solve


def _argmax(objective, psi, theta0):
  theta, g, h = _solver(objective)(psi, theta0)
  assert float(jnp.linalg.norm(g)) < 1e-8
  assert float(jnp.max(jnp.linalg.eigvalsh(h))) < 0
  return theta


@pytest.mark.parametrize("method", ["normal", "direct"])
def test_implicit_gradient_matches_finite_differences_on_point_mass(method):
  with enable_x64():
    true_env = PointMassEnv(horizon=HORIZON)
    model_env = PointMassEnv(horizon=HORIZON, b2=0.15, kappa=0.0, b3=0.0, gain=4.0)  # misspecified
    v_true = jax.jit(lambda th, q: _return(true_env, th, q))
    v_model = jax.jit(lambda th, q: _return(model_env, th, q))
    theta_init = jnp.zeros(2 * HORIZON, jnp.float64)

    def solves(psi):
      return _argmax(v_model, psi, theta_init), _argmax(v_true, psi, theta_init)

    def gap(psi):
      hat, star = solves(psi)
      return v_true(star, psi) - v_true(hat, psi)

    psi = jnp.array([0.6, -0.4], jnp.float64)
    hat, star = solves(psi)
    h = jax.hessian(v_model)(hat, psi)
    jac = jax.jacfwd(jax.grad(v_model), argnums=1)(hat, psi)
    p = jax.grad(v_true)(hat, psi)
    grad, info = implicit_task_gradient(
        lambda v: h @ v, jac, p,
        envelope_star=jax.grad(v_true, argnums=1)(star, psi),
        envelope_hat=jax.grad(v_true, argnums=1)(hat, psi),
        cfg=SolverConfig(method=method, damping=1e-10, iters=200, tol=1e-14))

    eps = 1e-5
    fd = np.array([(gap(psi + eps * e) - gap(psi - eps * e)) / (2 * eps) for e in jnp.eye(2)])
    assert float(gap(psi)) > 0.1  # the model is wrong enough for the gap to matter
    print(f"point mass [{method}]: |grad - fd| / |fd| = "
          f"{np.linalg.norm(np.asarray(grad) - fd) / np.linalg.norm(fd):.2e}")   # shown with pytest -s
    np.testing.assert_allclose(np.asarray(grad), fd, rtol=1e-4, atol=1e-6)
    assert float(info.cg_residual) < 1e-6
    # dropping the implicit term (the naive "envelope only" gradient) is measurably wrong
    naive = np.asarray(info.envelope_star - info.envelope_hat)
    assert np.linalg.norm(naive - fd) > 1e-2 * np.linalg.norm(fd)
