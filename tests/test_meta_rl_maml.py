"""MAML-TRPO (admrl_jax.meta_rl.maml): the inner step and its meta-gradient against closed forms on a
linear-Gaussian policy, the Gauss-Newton Fisher against TRPO's Hessian-of-KL product, the alive-step
count, and a short meta-training run on PointMass2D through MetaRLLoop.run_chunk (jitted, no retrace)
after which the inner step raises the return and the adapted return has risen."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax.envs import make_family
from admrl_jax.meta_rl.base import MetaRLLoop, adapted_returns
from admrl_jax.meta_rl.maml import MAMLTRPO, gaussian_fisher, inner_update
from admrl_jax.methods.uniform import Uniform
from admrl_jax.networks import gaussian_kl, gaussian_log_prob
from admrl_jax.trpo import fisher_vector_product
from admrl_jax.types import Transition

SIGMA = 0.7


def _linear_problem(key, m=40, d=3):
  """A linear-Gaussian policy a ~ N(u . theta, SIGMA^2), u = (x, 1), on a random batch."""
  k1, k2, k3, k4 = jax.random.split(key, 4)
  x = jax.random.normal(k1, (m, d))
  u = jnp.concatenate([x, jnp.ones((m, 1))], axis=1)
  action = jax.random.normal(k2, (m, 1))
  adv = jax.random.normal(k3, (m,))
  mask = (jnp.arange(m) < m - 5).astype(jnp.float32)   # the last steps are dead and must not count
  theta = 0.3 * jax.random.normal(k4, (d + 1,))
  log_prob = lambda p, obs, a: gaussian_log_prob(obs @ p[:, None], jnp.log(SIGMA) * jnp.ones(1), a)
  return u, action, adv, mask, theta, log_prob


def test_inner_step_and_meta_gradient_match_closed_forms():
  u, action, adv, mask, theta, log_prob = _linear_problem(jax.random.key(0))
  lr, n = 0.4, jnp.sum(mask)

  def grad_closed(p):   # d/dp mean(log pi_p * A): sum(mask A (a - u.p) u) / (n sigma^2)
    return jnp.sum((mask * adv * (action[:, 0] - u @ p))[:, None] * u, axis=0) / (n * SIGMA**2)

  hess_vpg = -jnp.einsum("m,mi,mj->ij", mask * adv, u, u) / (n * SIGMA**2)
  score = (action[:, 0] - u @ theta)[:, None] * u / SIGMA**2
  hess_lvc = hess_vpg + jnp.einsum("m,mi,mj->ij", mask * adv, score, score) / n
  c = jnp.array([0.5, -1.0, 2.0, 0.25])   # the outer objective f(theta') = c . theta'

  @jax.jit
  def computed(p):
    out = {}
    for objective in ("vpg", "lvc"):
      adapt = lambda q, steps: inner_update(log_prob, q, u, action, adv, mask, lr, steps, objective)
      out[objective] = (adapt(p, 1), adapt(p, 2), jax.grad(lambda q: c @ adapt(q, 1))(p))
    return out

  out = computed(theta)
  step1 = theta + lr * grad_closed(theta)
  for objective, hess in (("vpg", hess_vpg), ("lvc", hess_lvc)):
    one, two, meta_grad = out[objective]
    np.testing.assert_allclose(one, step1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(meta_grad, c + lr * hess @ c, rtol=1e-4, atol=1e-5)   # (I + lr H)^T c
  # Two vpg steps on the same batch: the closed-form step applied twice.
  np.testing.assert_allclose(out["vpg"][1], step1 + lr * grad_closed(step1), rtol=1e-5, atol=1e-6)
  # The two objectives' meta-gradients differ (by lr * score outer product term): the test can tell them apart.
  assert float(jnp.linalg.norm(out["vpg"][2] - out["lvc"][2])) > 1e-2


def test_gauss_newton_fisher_equals_hessian_of_kl_through_inner_step():
  """gaussian_fisher (J^T M J of theta -> post-update policies) equals TRPO's product with the Hessian
  of the mean KL, both taken through the inner step, on two tasks with a learned log-std."""
  keys = jax.random.split(jax.random.key(1), 2)
  tasks = [_linear_problem(k, m=12) for k in keys]
  u = jnp.stack([t[0] for t in tasks])[:, None]         # [K=2, N=1, T=12, 4]
  action = jnp.stack([t[1] for t in tasks])[:, None]
  adv = jnp.stack([t[2] for t in tasks])[:, None]
  mask = jnp.stack([t[3] for t in tasks])[:, None]
  theta0 = jnp.concatenate([tasks[0][4], jnp.array([-0.3])])   # weights [4], log_std [1]
  log_prob = lambda p, obs, a: gaussian_log_prob(obs @ p[:4, None], p[4:], a)

  def dists(p):
    def one(o, a, ad, mk):
      q = inner_update(log_prob, p, o, a, ad, mk, 0.3, 1)
      return o @ q[:4, None], q[4:]
    return jax.vmap(one)(u, action, adv, mask)

  mean0, log_std0 = dists(theta0)
  n_valid = jnp.sum(mask, axis=(1, 2))

  def mean_kl(p):
    mean, log_std = dists(p)
    kl = gaussian_kl(mean0, log_std0[:, None, None], mean, log_std[:, None, None])
    return jnp.mean(jnp.sum(mask * kl, axis=(1, 2)) / n_valid)

  @jax.jit
  def both(v):
    _, jvp = jax.linearize(dists, theta0)
    fisher, quadratic = gaussian_fisher(jvp, jax.linear_transpose(jvp, theta0), log_std0, mask)
    return fisher(v), quadratic(v), fisher_vector_product(mean_kl, theta0, v, 0.0)

  for v in jnp.eye(5)[jnp.array([0, 3, 4])]:
    gn, quad, hess = both(v)
    np.testing.assert_allclose(gn, hess, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(quad, jnp.vdot(v, hess), rtol=1e-3, atol=1e-6)
  assert float(jnp.linalg.norm(gn)) > 1e-2


FAMILY = make_family("point_mass")
LEARNER = MAMLTRPO(FAMILY, tasks_per_iteration=8, inner_episodes=5, inner_lr=0.5, policy_hidden=(32, 32))
CHUNK = 5   # iterations per run_chunk; two chunks


def test_alive_steps_and_returns_on_a_terminated_batch():
  """Two tasks of 3 episodes x 6 steps; in task 0, episode 0 terminates at step 2 (3 alive steps) and
  episode 1 at its last step. Reward 1 - |f - psi|_1 per alive step, f = 0."""
  k, n, horizon = 2, 3, 6
  done = jnp.zeros((k, n, horizon)).at[0, 0, 2:].set(1.0).at[0, 1, 5].set(1.0)
  traj = Transition(obs=jnp.ones((k, n, horizon, 4)), action=jnp.zeros((k, n, horizon, 2)),
                    next_obs=jnp.ones((k, n, horizon, 4)), c=jnp.ones((k, n, horizon)),
                    f=jnp.zeros((k, n, horizon, 2)), done=done)
  psi = jnp.array([[0.0, 0.0], [0.25, -0.25]])
  batch, mean_return, steps = jax.jit(LEARNER.batch_of)(traj, psi)
  np.testing.assert_array_equal(steps, [3 + 6 + 6, 18])
  np.testing.assert_allclose(mean_return, [(3 + 6 + 6) / 3, 6 * 0.5], rtol=1e-6)
  assert float(jnp.abs(batch.adv[0, 0, 3:]).max()) == 0.0 and float(jnp.abs(batch.adv[0, 0, :3]).max()) > 0.0
  np.testing.assert_allclose(jnp.sum(batch.adv * batch.mask, axis=(1, 2)), 0.0, atol=1e-4)   # centred per task


@pytest.fixture(scope="module")
def trained():
  """Two chunks of meta-training through MetaRLLoop.run_chunk, and the paired evaluations."""
  loop = MetaRLLoop(LEARNER, Uniform(FAMILY.box, LEARNER.tasks_per_iteration))
  run = jax.jit(loop.run_chunk, static_argnums=1)
  state0 = loop.init(jax.random.key(0))
  state1, m1 = run(state0, CHUNK)
  state2, m2 = run(state1, CHUNK)
  metrics = jax.tree.map(lambda a, b: np.concatenate([a, b]), m1, m2)

  psis = FAMILY.box.grid(4)   # 16 test tasks
  adapt_keys = jax.random.split(jax.random.key(5), psis.shape[0])

  @jax.jit
  def evaluate(learner_state):   # the same tasks, adaptation and start-state keys for every policy
    zero = adapted_returns(LEARNER, learner_state, psis, adapt_keys, jax.random.key(6), 0, 4)
    adapted = adapted_returns(LEARNER, learner_state, psis, adapt_keys, jax.random.key(6), LEARNER.inner_episodes, 4)
    return zero, adapted

  return dict(run=run, state0=state0, state=state2, metrics=metrics,
              before=evaluate(state0.learner), after=evaluate(state2.learner))


def test_run_chunk_jits_once_and_counts_alive_steps(trained):
  assert trained["run"]._cache_size() == 1   # the second chunk reused the first's compilation
  m = trained["metrics"]
  per_iteration = 2 * LEARNER.tasks_per_iteration * LEARNER.inner_episodes * FAMILY.env.horizon   # no termination
  np.testing.assert_array_equal(m["iteration"], np.arange(1, 2 * CHUNK + 1))
  np.testing.assert_array_equal(m["real_steps"], per_iteration * np.arange(1, 2 * CHUNK + 1))
  assert int(trained["state"].real_steps) == 2 * CHUNK * per_iteration
  for name in ("pre_update_return", "post_update_return", "kl", "line_search_accepted"):
    assert m[name].shape == (2 * CHUNK,) and np.all(np.isfinite(m[name])), name
  assert np.mean(m["line_search_accepted"]) >= 0.8
  assert np.all(m["kl"] <= LEARNER.max_kl + 1e-6)


def test_inner_step_raises_the_return(trained):
  """After meta-training, the adapted mean-action policy beats theta's on the same 16 tasks, start
  states and keys by a clear margin (on average over tasks)."""
  zero, adapted = trained["after"]
  gain = float(jnp.mean(adapted - zero))
  # Observed over init seeds 0-4: 63 to 70 (theta's mean action scores ~67, the adapted one 130 to 137).
  assert gain > 30.0, (float(jnp.mean(zero)), float(jnp.mean(adapted)))


def test_meta_training_improves_the_adapted_return(trained):
  """The adapted return (evaluation, paired keys) and the training post-update return both rise."""
  # Observed over init seeds 0-4: evaluation +12 to +32 (105-120 -> 130-137); training post-update
  # return, iteration 0 -> mean of the last three, +33 to +49 (77-102 -> 125-138).
  (_, before), (_, after) = trained["before"], trained["after"]
  assert float(jnp.mean(after - before)) > 5.0, (float(jnp.mean(before)), float(jnp.mean(after)))
  post = trained["metrics"]["post_update_return"]
  assert np.mean(post[-3:]) > post[0] + 15.0, post
