"""``TaskGradientEstimator`` end to end, on rollouts it draws itself, against a closed form.

A linear-Gaussian policy a = W s + b + sigma eps on linear dynamics s' = A s + B a (true) and
s' = A' s + B' a (the "learned" model), from a fixed start, with the reward r = -ctrl |a|^2 - |s' - psi|^2.
States and actions stay Gaussian, so the expected discounted return V(theta, psi) is a closed form
(moment propagation). As in the adaptation (TRPO's entropy bonus), the inner problems carry an entropy
bonus beta sum(log sigma), without which the optimal sigma is 0 and no maximum exists; it is linear in
theta, so it adds nothing to H or J. With theta_hat(psi) = argmax V_model + beta Ent and theta*(psi) =
argmax V_true + beta Ent, the gap L = max_theta (V_true + beta Ent) - V_true(theta_hat) has the gradient
    dL/dpsi = dV/dpsi(theta*) - dV/dpsi(theta_hat) + J^T H^-1 p       (checked by finite differences),
p = grad V_true(theta_hat): what the estimator computes.
Every estimated piece is a mean over independent draws; its tolerance is a z-test (4 standard
errors of that mean), and the biased forms must miss by more than 10 of them.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import enable_x64
from jax.flatten_util import ravel_pytree

from admrl_jax.dynamics import ModelState
from admrl_jax.rollout import real_rollouts
from admrl_jax.task_gradient import SolverConfig, TaskGradientEstimator
from admrl_jax.tasks import TaskBox, TaskFamily
from admrl_jax.trpo import TRPO
from admrl_jax.types import Transition

T, GAMMA, CTRL, BETA = 30, 0.99, 0.1, 1.0
S0 = (0.5, -0.3)
A_TRUE, B_TRUE = ((0.97, 0.05), (0.0, 0.95)), ((0.3, 0.0), (0.05, 0.25))
A_MODEL, B_MODEL = ((0.95, 0.0), (0.03, 0.97)), ((0.25, 0.05), (0.0, 0.3))
PSI = (0.4, -0.2)


@dataclasses.dataclass(frozen=True)
class LinearEnv:
  a: tuple
  b: tuple
  horizon: int = T
  obs_dim: int = 2
  action_dim: int = 2
  feature_dim: int = 2

  def reset(self, key):
    return jnp.asarray(S0)

  def observe(self, state):
    return state

  def features(self, obs, action, next_obs):
    return -CTRL * jnp.sum(action**2), next_obs

  def terminated(self, next_obs):
    return jnp.zeros((), next_obs.dtype)

  def step(self, state, action):
    nxt = jnp.asarray(self.a) @ state + jnp.asarray(self.b) @ action
    c, f = self.features(state, action, nxt)
    return nxt, Transition(state, action, nxt, c, f, self.terminated(nxt))


@dataclasses.dataclass(frozen=True)
class LinearModel:
  """A stand-in for DynamicsModel: predict(params, norms, obs, action) with params = (A', B')."""

  def predict(self, params, norms, obs, action):
    return params["a"] @ obs + params["b"] @ action


def quadratic_reward(c, f, psi):
  return c - jnp.sum((f - psi) ** 2, axis=-1)


AGENT = TRPO(2, 2, policy_hidden=(), value_hidden=(8,), gamma=GAMMA, lam=0.95)
FAMILY = TaskFamily("linear", TaskBox((-1.0, -1.0), (1.0, 1.0)), quadratic_reward, LinearEnv(A_TRUE, B_TRUE))


def closed_form_return(policy, psi, a, b):
  """Expected discounted return of the policy params on s' = a s + b a_t (moment propagation)."""
  a, b = jnp.asarray(a), jnp.asarray(b)
  kernel, bias = policy["params"]["MLP_0"]["Dense_0"]["kernel"], policy["params"]["MLP_0"]["Dense_0"]["bias"]
  w, var_eps = kernel.T, jnp.exp(2 * policy["params"]["log_std"])

  def body(carry, t):
    m, p = carry
    ma, va = w @ m + bias, w @ p @ w.T + jnp.diag(var_eps)
    ec = -CTRL * (jnp.sum(ma**2) + jnp.trace(va))
    m2 = a @ m + b @ ma
    cross = a @ p @ w.T @ b.T
    p2 = a @ p @ a.T + cross + cross.T + b @ va @ b.T
    r = ec - jnp.sum((m2 - psi) ** 2) - jnp.trace(p2)
    return (m2, p2), GAMMA**t * r

  _, rs = jax.lax.scan(body, (jnp.asarray(S0), jnp.zeros((2, 2))), jnp.arange(T))
  return jnp.sum(rs)


@functools.cache
def _problem():
  """theta_hat, theta* (flat, float64), unravel, the exact H, J, p, envelope terms and gap gradient."""
  policy0 = AGENT.init(jax.random.key(0)).policy
  flat0, unravel = ravel_pytree(jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), policy0))
  v_model = jax.jit(lambda th, q: closed_form_return(unravel(th), q, A_MODEL, B_MODEL))
  v_true = jax.jit(lambda th, q: closed_form_return(unravel(th), q, A_TRUE, B_TRUE))
  entropy = lambda th: BETA * jnp.sum(unravel(th)["params"]["log_std"])
  soft_model = jax.jit(lambda th, q: v_model(th, q) + entropy(th))
  soft_true = jax.jit(lambda th, q: v_true(th, q) + entropy(th))

  def argmax(v, psi):
    opt = optax.adam(0.02)

    def adam(carry, _):
      th, s = carry
      u, s = opt.update(-jax.grad(v)(th, psi), s)
      return (optax.apply_updates(th, u), s), None

    (th, _), _ = jax.lax.scan(adam, (flat0, opt.init(flat0)), None, length=3000)
    for _ in range(10):
      th = th - jnp.linalg.solve(jax.hessian(v)(th, psi), jax.grad(v)(th, psi))
    assert float(jnp.linalg.norm(jax.grad(v)(th, psi))) < 1e-9
    assert float(jnp.max(jnp.linalg.eigvalsh(jax.hessian(v)(th, psi)))) < 0   # a strict maximum
    return th

  def gap(psi):
    return soft_true(argmax(soft_true, psi), psi) - v_true(argmax(soft_model, psi), psi)

  psi = jnp.asarray(PSI, jnp.float64)
  hat, star = argmax(soft_model, psi), argmax(soft_true, psi)
  h = jax.hessian(v_model)(hat, psi)
  jac = jax.jacfwd(jax.grad(v_model), argnums=1)(hat, psi)
  p = jax.grad(v_true)(hat, psi)
  env_star, env_hat = jax.grad(v_true, argnums=1)(star, psi), jax.grad(v_true, argnums=1)(hat, psi)
  grad = env_star - env_hat + jac.T @ jnp.linalg.solve(h, p)
  eps = 1e-4
  fd = np.array([(gap(psi + eps * e) - gap(psi - eps * e)) / (2 * eps) for e in jnp.eye(2)])
  return dict(hat=hat, star=star, unravel=unravel, h=h, jac=jac, p=p, env_star=env_star, env_hat=env_hat,
              grad=grad, fd=fd, return_gap=float(v_true(star, psi) - v_true(hat, psi)))


def _estimator(hessian="pathwise", advantage="return", rollouts=256):
  solver = SolverConfig(method="direct", damping=1e-6, iters=100, tol=1e-12, damping_scale="relative")
  return TaskGradientEstimator(AGENT, FAMILY, LinearModel(), rollouts, solver, hessian, advantage)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _draws(hessian, advantage, rollouts, n_draws, whole):
  """n_draws independent estimates (key 7, so calls share their rollouts): the pieces J, H (as a
  matrix, H applied to the identity), p and the envelope terms; or, ``whole``, the task gradient."""
  q = _problem()
  est = _estimator(hessian, advantage, rollouts)
  base = AGENT.init(jax.random.key(1))
  as64 = lambda tree: jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), tree)
  hat = as64(base).replace(policy=q["unravel"](q["hat"]))
  star_policy = q["unravel"](q["star"])
  model = ModelState({"a": jnp.asarray(A_MODEL), "b": jnp.asarray(B_MODEL)}, (), None)
  psi = jnp.asarray(PSI)

  def one(key):
    k_model, k_hat, k_star = jax.random.split(key, 3)
    real_hat = real_rollouts(FAMILY.env, AGENT.act_fn(hat.policy), k_hat, rollouts)
    real_star = real_rollouts(FAMILY.env, AGENT.act_fn(star_policy), k_star, rollouts)
    if whole:
      return est(hat, psi, model, k_model, real_hat, real_star)[0]
    jac, hvp, p, _ = est.terms(hat, psi, model, k_model, real_hat)
    h = jax.vmap(hvp, out_axes=1)(jnp.eye(q["hat"].shape[0]))
    return dict(jac=jac, h=h, p=p, env_star=est.discounted_value_grad(real_star, psi),
                env_hat=est.discounted_value_grad(real_hat, psi))

  return jax.vmap(one)(jax.random.split(jax.random.key(7), n_draws))


def _z(draws, exact):
  """Largest |mean - exact| in units of the mean's standard error, over the entries."""
  draws, exact = np.asarray(draws), np.asarray(exact)
  se = draws.std(0, ddof=1) / np.sqrt(draws.shape[0])
  return float(np.max(np.abs(draws.mean(0) - exact) / np.maximum(se, 1e-12 * np.abs(exact).max())))


def test_closed_form_gap_gradient_matches_finite_differences():
  with enable_x64():
    q = _problem()
    assert q["return_gap"] > 0.02                   # the model is wrong enough to matter (0.035)
    np.testing.assert_allclose(np.asarray(q["grad"]), q["fd"], rtol=1e-5, atol=1e-7)
    naive = np.asarray(q["env_star"] - q["env_hat"])
    assert np.linalg.norm(naive - q["fd"]) > 0.1 * np.linalg.norm(q["fd"])   # the implicit term matters


def test_estimated_pieces_are_unbiased_and_the_reference_forms_are_not():
  with enable_x64():
    q = _problem()
    d = _draws("pathwise", "return", 256, 32, False)
    for name in ("jac", "h", "p", "env_star", "env_hat"):
      assert _z(d[name], q[name]) < 4.5, name
    exact = _draws("exact", "return", 256, 32, False)["h"]
    lvc = _draws("lvc", "return", 256, 32, False)["h"]
    assert _z(exact, q["h"]) < 4.5                    # the whole score-function Hessian: unbiased
    # LVC keeps same-step outer products only; its bias (the mean of the cross-time terms) is below
    # what 32 x 256 episodes resolve here, so it is reported, not asserted
    lvc_z = _z(lvc, q["h"])
    gae = _draws("pathwise", "gae", 256, 32, False)["jac"]
    # GAE's psi-derivative is truncated to ~1 / (1 - gamma lambda) = 17 of T = 30 steps: J is biased
    # (about 4 % here); on the same rollouts the difference from the return form is not noise
    assert _z(gae, q["jac"]) > 6
    assert _z(np.asarray(gae) - np.asarray(d["jac"]), np.zeros_like(q["jac"])) > 10
    spread = lambda x: float(np.asarray(x).std(0).mean())
    print(f"per-entry std of H over draws: pathwise {spread(d['h']):.3g}, exact score function {spread(exact):.3g}, "
          f"LVC {spread(lvc):.3g} (its largest z against the exact H: {lvc_z:.1f}); mean |H| {float(np.abs(q['h']).mean()):.3g}; "
          f"GAE J's z {_z(gae, q['jac']):.1f}")


def test_whole_gradient_error_shrinks_as_samples_grow():
  """The pieces are unbiased, but the gradient solves with a noisy H (H^-1 of an estimate is biased) and
  its terms cancel (envelope difference -1.5, implicit term +1.6, sum 0.15 here): its mean over draws
  approaches the closed form only slowly. Measured: relative error 80 at 16 episodes per draw, 13 at 256."""
  with enable_x64():
    q = _problem()
    truth = np.asarray(q["grad"])
    errors = {}
    for n in (16, 256):
      d = np.asarray(_draws("pathwise", "return", n, 16, True))
      errors[n] = np.linalg.norm(d.mean(0) - truth) / np.linalg.norm(truth)
    print(f"relative error of the mean gradient over 16 draws, by rollouts per draw: {errors}")
    assert errors[256] < 0.5 * errors[16]
