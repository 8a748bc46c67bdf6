"""The numerical building blocks against hand computations and explicit matrices.

GAE against a written-out recursion; the TRPO Fisher-vector product and the REINFORCE
Hessian-vector product against Hessians materialised with ``jax.hessian`` on a tiny policy; the
REINFORCE Hessian estimate against the closed-form Hessian of a Gaussian bandit; conjugate
gradients against a dense solve; and the implicit task gradient against finite differences of the
gap on a quadratic problem whose inner argmaxes are exact.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from admrl_jax.linear_solve import conjugate_gradient
from admrl_jax.networks import gaussian_kl
from admrl_jax.task_gradient import SolverConfig, implicit_task_gradient, score_function_hvp
from admrl_jax.trpo import TRPO, TrustRegion, fisher_vector_product, gae
from admrl_jax.types import Transition


def _perturbed_policy(agent: TRPO, seed: int, scale: float = 0.5):
  """Flat policy parameters away from the initialisation (whose output layer is ~0.01 scale)."""
  k_init, k_noise = jax.random.split(jax.random.key(seed))
  flat, unravel = ravel_pytree(agent.init(k_init).policy)
  return flat + scale * jax.random.normal(k_noise, flat.shape), unravel


# 1. GAE ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dones", [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]],
                         ids=["no_termination", "termination_at_t1"])
def test_gae_matches_hand_recursion(dones):
  gamma, lam = 0.9, 0.8
  rewards = [1.0, -0.5, 2.0, 0.3]
  values = [0.2, 0.7, -0.4, 1.1]
  next_values = [0.6, -1.3, 0.9, 0.5]

  expected = [0.0] * 4
  acc = 0.0
  for t in reversed(range(4)):
    delta = rewards[t] + gamma * (1.0 - dones[t]) * next_values[t] - values[t]
    acc = delta + gamma * lam * (1.0 - dones[t]) * acc
    expected[t] = acc

  adv, targets = gae(*(jnp.array(x, jnp.float32) for x in (rewards, values, next_values, dones)),
                     gamma, lam)
  np.testing.assert_allclose(np.asarray(adv), expected, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(np.asarray(targets), np.add(expected, values), rtol=1e-6, atol=1e-6)
  if dones[1]:
    # the termination cuts the recursion: steps 0..1 see nothing of the rewards after step 1
    assert expected[1] == pytest.approx(rewards[1] - values[1])


# 2. Fisher-vector product -----------------------------------------------------------------------

@pytest.mark.parametrize("damping", [0.0, 0.1])
def test_fisher_vector_product_matches_kl_hessian(damping):
  agent = TRPO(obs_dim=2, action_dim=1, policy_hidden=(3,))
  flat0, unravel = _perturbed_policy(agent, seed=0)
  obs = jax.random.normal(jax.random.key(1), (6, 2))
  mean_old, log_std_old = agent.policy_net.apply(unravel(flat0), obs)

  def mean_kl(flat):
    mean, log_std = agent.policy_net.apply(unravel(flat), obs)
    return jnp.mean(gaussian_kl(mean_old, log_std_old, mean, log_std))

  hess = np.asarray(jax.jit(jax.hessian(mean_kl))(flat0))
  n = flat0.shape[0]
  assert hess.shape == (n, n) == (14, 14)
  np.testing.assert_allclose(hess, hess.T, atol=1e-6)
  eig = np.linalg.eigvalsh(0.5 * (hess + hess.T))
  assert eig.min() >= -1e-5, eig          # the KL Hessian at its minimum is the Fisher matrix
  assert eig.max() > 1e-2, eig            # and it is not trivially zero

  vs = jax.random.normal(jax.random.key(10), (3, n))
  fvps = jax.jit(jax.vmap(lambda v: fisher_vector_product(mean_kl, flat0, v, damping)))(vs)
  expected = np.asarray(vs) @ (hess + damping * np.eye(n)).T
  np.testing.assert_allclose(np.asarray(fvps), expected, rtol=1e-4, atol=1e-5)


def test_the_update_hooks_variants_agree_with_the_shipped_ones():
  """``benchmarks/trpo_variants.py`` overrides ``TRPO.fisher_product`` and ``line_search``: the Gauss-Newton
  product equals the KL's Hessian (explicit) times v at the update's point, and scoring every candidate at
  once picks the first acceptable one, as the shipped sequential search does (found here by brute force)."""
  from benchmarks.trpo_variants import VariantTRPO

  agent = TRPO(obs_dim=2, action_dim=1, policy_hidden=(3,), max_kl=0.01)
  flat0, unravel = _perturbed_policy(agent, seed=0)
  obs = jax.random.normal(jax.random.key(1), (6, 2))
  outputs = lambda flat: agent.policy_net.apply(unravel(flat), obs)
  mean_old, log_std_old = outputs(flat0)
  kl_of_outputs = lambda out: jnp.mean(gaussian_kl(mean_old, log_std_old, *out))
  mean_kl = lambda flat: kl_of_outputs(outputs(flat))
  target = flat0 + 0.3 * jax.random.normal(jax.random.key(2), flat0.shape)
  surrogate = lambda flat: -jnp.sum((flat - target) ** 2)
  region = TrustRegion(flat0, surrogate, mean_kl, outputs, kl_of_outputs)

  hess = np.asarray(jax.hessian(mean_kl)(flat0))
  v = jax.random.normal(jax.random.key(3), flat0.shape)
  for variant in (agent, VariantTRPO.of(agent, fvp="ggn")):
    np.testing.assert_allclose(np.asarray(variant.fisher_product(region)(v)),
                               hess @ np.asarray(v) + agent.cg_damping * np.asarray(v), rtol=1e-4, atol=1e-5)

  full_step = 8.0 * (target - flat0)   # too far: the first acceptable candidate is a few halvings in
  fractions = 0.5 ** np.arange(agent.line_search_steps)
  ok = [bool((surrogate(flat0 + f * full_step) > surrogate(flat0)) & (mean_kl(flat0 + f * full_step) <= 0.01))
        for f in fractions]
  first = ok.index(True)
  assert first >= 2, ok
  for variant in (agent, VariantTRPO.of(agent, search="vmap")):
    accepted, flat, kl, surr, tried = variant.line_search(region, surrogate(flat0), full_step)
    assert bool(accepted) and int(tried) == first + 1
    np.testing.assert_allclose(np.asarray(flat), np.asarray(flat0 + fractions[first] * full_step), rtol=1e-6)
    np.testing.assert_allclose([float(kl), float(surr)], [float(mean_kl(flat)), float(surrogate(flat))], rtol=1e-5)


# 3. REINFORCE Hessian-vector product on a tiny network ------------------------------------------

def test_reinforce_hvp_matches_explicit_matrix():
  agent = TRPO(obs_dim=2, action_dim=2, policy_hidden=(3,))
  flat, unravel = _perturbed_policy(agent, seed=2)
  k_obs, k_act, k_w = jax.random.split(jax.random.key(3), 3)
  num_traj, horizon = 2, 3
  obs = jax.random.normal(k_obs, (num_traj, horizon, 2))
  traj = Transition(obs=obs, action=jax.random.normal(k_act, (num_traj, horizon, 2)), next_obs=obs,
                    c=jnp.zeros((num_traj, horizon)), f=jnp.zeros((num_traj, horizon, 1)),
                    done=jnp.zeros((num_traj, horizon)))
  logp = lambda th: agent.log_prob(unravel(th), traj.obs, traj.action).reshape(-1)
  m = num_traj * horizon
  w = jax.random.normal(k_w, (m,))

  scores = np.asarray(jax.jit(jax.jacobian(logp))(flat))       # [M, n]
  hessians = np.asarray(jax.jit(jax.hessian(logp))(flat))      # [M, n, n]
  n = flat.shape[0]
  assert scores.shape == (m, n) and hessians.shape == (m, n, n)
  w_np = np.asarray(w)
  explicit = (np.einsum("i,ij,ik->jk", w_np, scores, scores)
              + np.einsum("i,ijk->jk", w_np, hessians))

  hvp = jax.jit(score_function_hvp(flat, logp, w, horizon, exact=False))
  columns = np.asarray(jax.jit(jax.vmap(hvp, out_axes=1))(jnp.eye(n)))
  scale = np.abs(explicit).max()
  np.testing.assert_allclose(columns, explicit, rtol=1e-4, atol=1e-5 * scale)
  np.testing.assert_allclose(columns, columns.T, atol=1e-5 * scale)
  v = jax.random.normal(jax.random.key(4), (n,))
  np.testing.assert_allclose(np.asarray(hvp(v)), explicit @ np.asarray(v), rtol=1e-4,
                             atol=1e-5 * scale * np.abs(v).sum())


# 4. REINFORCE Hessian of a Gaussian bandit ------------------------------------------------------

BANDIT_MU, BANDIT_SIGMA, BANDIT_TARGET = 0.5, 0.5, 1.0


def _bandit_log_prob(theta, a):
  """a [M] under N(mu, exp(log_sigma)^2), theta = (mu, log_sigma) -> [M]."""
  mu, log_sigma = theta[0], theta[1]
  return -0.5 * ((a - mu) * jnp.exp(-log_sigma)) ** 2 - log_sigma - 0.5 * jnp.log(2.0 * jnp.pi)


@functools.partial(jax.jit, static_argnums=2)
def _bandit_hessian_estimate(key, theta, num_samples: int):
  """The REINFORCE estimate [2, 2] of d2/dtheta2 E[-(a - c)^2] from num_samples actions."""
  a = theta[0] + jnp.exp(theta[1]) * jax.random.normal(key, (num_samples,))
  w = -(a - BANDIT_TARGET) ** 2 / a.shape[0]
  hvp = score_function_hvp(theta, lambda th: _bandit_log_prob(th, a), w, 1, exact=False)
  return jax.vmap(hvp, out_axes=1)(jnp.eye(2, dtype=theta.dtype))


def test_reinforce_hessian_converges_on_gaussian_bandit():
  theta = jnp.array([BANDIT_MU, np.log(BANDIT_SIGMA)], jnp.float32)
  # J(theta) = -((mu - c)^2 + exp(2 log_sigma)): d2J/dmu2 = -2, d2J/dlog_sigma2 = -4 sigma^2
  exact = np.diag([-2.0, -4.0 * BANDIT_SIGMA**2])

  def rel_errors(num_samples):
    errs = []
    for seed in range(4):
      est = _bandit_hessian_estimate(jax.random.key(seed), theta, num_samples)
      errs.append(np.linalg.norm(np.asarray(est) - exact) / np.linalg.norm(exact))
    return np.array(errs)

  err_small, err_mid, err_large = rel_errors(1_000), rel_errors(100_000), rel_errors(1_000_000)
  # the error falls like 1/sqrt(M): a factor ~10 from 1e3 to 1e5 samples
  assert err_small.mean() > 3.0 * err_mid.mean(), (err_small, err_mid)
  assert err_mid.mean() > 1.5 * err_large.mean(), (err_mid, err_large)
  # without a baseline the estimator is noisy (~5-8% at 1e5 samples); at 1e6 it is within 5%
  assert err_mid.mean() < 0.15, err_mid
  assert err_large.max() < 0.05, err_large


# 5. Conjugate gradients -------------------------------------------------------------------------

def test_conjugate_gradient_matches_dense_solve():
  n = 20
  k_a, k_b = jax.random.split(jax.random.key(5))
  m = jax.random.normal(k_a, (n, n))
  a = m @ m.T / n + 0.5 * jnp.eye(n)             # SPD, condition number ~10
  b = jax.random.normal(k_b, (n,))
  x_ref = np.linalg.solve(np.asarray(a, np.float64), np.asarray(b, np.float64))
  matvec = lambda v: a @ v

  def true_residual(x):
    return np.linalg.norm(np.asarray(b) - np.asarray(a) @ np.asarray(x)) / np.linalg.norm(b)

  x, residual = conjugate_gradient(matvec, b, iters=40)
  assert np.linalg.norm(np.asarray(x) - x_ref) / np.linalg.norm(x_ref) < 1e-4
  assert float(residual) < 1e-5 and true_residual(x) < 1e-5

  residuals = []
  for iters in (3, 8):
    x_few, res_few = conjugate_gradient(matvec, b, iters=iters)
    # the reported (recurrence) residual is the true relative residual of the returned iterate
    assert float(res_few) == pytest.approx(true_residual(x_few), rel=1e-3)
    residuals.append(float(res_few))
  assert residuals[0] > residuals[1] > 1e3 * float(residual)
  assert residuals[0] > 1e-2      # 3 iterations are far from converged

  # tol freezes the iteration once the residual is small enough
  x_tol, res_tol = conjugate_gradient(matvec, b, iters=40, tol=1e-2)
  assert 1e-5 < float(res_tol) < 1e-2
  assert float(res_tol) == pytest.approx(true_residual(x_tol), rel=1e-3)


# 6. The implicit task gradient on a quadratic problem -------------------------------------------

def _quadratic_problem(n=5, k=3, seed=6):
  """Random SPD A (model) and A2 (real), couplings B, B2 [n, k], linear term c [k]; float64."""
  rng = np.random.default_rng(seed)

  def spd(eigs):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(eigs) @ q.T

  return dict(A=spd(np.linspace(1.0, 3.0, n)), A2=spd(np.linspace(0.5, 2.5, n)),
              B=rng.normal(size=(n, k)), B2=rng.normal(size=(n, k)), c=rng.normal(size=k),
              psi=rng.normal(size=k))


def _gap(q, psi):
  """L(psi) = max_theta V(theta, psi) - V(theta_hat(psi), psi), all in float64 closed form."""
  def v_true(theta):
    return -0.5 * theta @ q["A2"] @ theta + theta @ q["B2"] @ psi + q["c"] @ psi
  theta_hat = np.linalg.solve(q["A"], q["B"] @ psi)
  theta_star = np.linalg.solve(q["A2"], q["B2"] @ psi)
  return v_true(theta_star) - v_true(theta_hat)


@pytest.mark.parametrize("rhs", ["adjoint", "columns"])
@pytest.mark.parametrize("method", ["normal", "direct"])
def test_implicit_task_gradient_matches_finite_differences_on_quadratic(method, rhs):
  q = _quadratic_problem()
  n, k = q["B"].shape
  psi = q["psi"]
  theta_hat = np.linalg.solve(q["A"], q["B"] @ psi)
  theta_star = np.linalg.solve(q["A2"], q["B2"] @ psi)
  p = -q["A2"] @ theta_hat + q["B2"] @ psi
  env_star = q["B2"].T @ theta_star + q["c"]
  env_hat = q["B2"].T @ theta_hat + q["c"]

  eps = 1e-3  # the gap is quadratic: central differences are exact up to rounding
  fd = np.array([(_gap(q, psi + eps * e) - _gap(q, psi - eps * e)) / (2 * eps) for e in np.eye(k)])
  assert _gap(q, psi) > 0.1 and np.linalg.norm(fd) > 0.1

  f32 = lambda x: jnp.asarray(x, jnp.float32)
  a32 = f32(q["A"])
  hvp = lambda v: -(a32 @ v)          # H = d2 Vhat / dtheta2 = -A
  args = (hvp, f32(q["B"]), f32(p), f32(env_star), f32(env_hat))

  cfg = SolverConfig(method=method, rhs=rhs, damping=1e-6, iters=100, tol=1e-12)
  grad, info = implicit_task_gradient(*args, cfg)
  print(f"quadratic [{method}/{rhs}]: |grad - fd| / |fd| = "
        f"{np.linalg.norm(np.asarray(grad) - fd) / np.linalg.norm(fd):.2e}")   # shown with pytest -s
  np.testing.assert_allclose(np.asarray(grad), fd, rtol=1e-3, atol=1e-4 * np.abs(fd).max())
  assert float(info.cg_residual) < 1e-4
  np.testing.assert_allclose(np.asarray(info.envelope_star - info.envelope_hat + info.implicit_term),
                             np.asarray(grad), rtol=1e-6, atol=1e-6)
  naive = env_star - env_hat      # dropping the implicit term is measurably wrong
  assert np.linalg.norm(naive - fd) > 0.1 * np.linalg.norm(fd)

  # With the reference damping 0.1 the result is J^T f(H) p for a function f of H (so both rhs
  # forms agree): f(H) = (H^2/n + d I)^{-1} H/n ("normal"), (-H + d I)^{-1} (-I) ("direct").
  d = 0.1
  h = -q["A"]
  if method == "normal":
    f_h = np.linalg.solve(h @ h / n + d * np.eye(n), h / n)
  else:
    f_h = np.linalg.solve(-h + d * np.eye(n), -np.eye(n))
  expected_damped = env_star - env_hat + q["B"].T @ f_h @ p
  damped = {}
  for form in ("adjoint", "columns"):
    cfg_d = SolverConfig(method=method, rhs=form, damping=d, iters=100, tol=1e-12)
    damped[form], info_d = implicit_task_gradient(*args, cfg_d)
    assert float(info_d.cg_residual) < 1e-4
  np.testing.assert_allclose(np.asarray(damped[rhs]), expected_damped, rtol=1e-4,
                             atol=1e-5 * np.abs(expected_damped).max())
  np.testing.assert_allclose(np.asarray(damped["adjoint"]), np.asarray(damped["columns"]),
                             rtol=1e-4, atol=1e-5 * np.abs(expected_damped).max())
  assert np.linalg.norm(np.asarray(damped[rhs]) - fd) > 1e-3 * np.linalg.norm(fd)  # damping biases
