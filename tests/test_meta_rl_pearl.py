"""PEARL: the product of Gaussians against closed forms, the tanh-Gaussian density, the slot ring, and
one short jitted run on PointMass2D (inside MetaRLLoop.run_chunk) that must compile once, count its real
steps, improve the adapted return and give a posterior that concentrates and carries psi."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax.envs import make_family
from admrl_jax.meta_rl.base import MetaRLLoop, adapted_returns
from admrl_jax.meta_rl.pearl import PEARL, product_of_gaussians, tanh_gaussian_sample
from admrl_jax.methods.uniform import Uniform
from admrl_jax.types import Transition

FAMILY = make_family("point_mass")
LEARNER = PEARL(FAMILY)          # the defaults: what the integrator gets
CHUNK, CHUNKS = 10, 2            # 20 train_steps in two jitted chunks
EVAL_TASKS = FAMILY.box.grid(4)  # 16 tasks, corners included
ADAPT_EPISODES = 2
PROBE_TASKS = 128                # half to fit the probe, half held out
CONTEXT_SIZES = (1, 10, 100)     # context transitions given to the posterior (100 = two episodes)


# ------------------------------------------------------------------------------------ analytic pieces

def test_product_of_gaussians_matches_closed_forms():
  # two 1-D factors: N(1, 4) N(3, 1) ∝ N(2.6, 0.8)
  mean, var = product_of_gaussians(jnp.array([[1.0], [3.0]]), jnp.array([[4.0], [1.0]]), jnp.ones(2))
  np.testing.assert_allclose(mean, [2.6], rtol=1e-6)
  np.testing.assert_allclose(var, [0.8], rtol=1e-6)

  # three 2-D factors (and a fourth masked out) against the moments of the product of the densities,
  # integrated numerically on a grid per dimension
  means = jnp.array([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5], [9.0, 9.0]])
  vars_ = jnp.array([[1.0, 0.2], [0.5, 2.0], [3.0, 0.7], [0.01, 0.01]])
  mean, var = product_of_gaussians(means, vars_, jnp.array([1.0, 1.0, 1.0, 0.0]))
  x = np.linspace(-10, 10, 200001)
  for d in range(2):
    log_p = sum(-0.5 * (x - float(means[i, d])) ** 2 / float(vars_[i, d]) for i in range(3))
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    m = (p * x).sum()
    np.testing.assert_allclose(mean[d], m, atol=1e-4)
    np.testing.assert_allclose(var[d], (p * (x - m) ** 2).sum(), rtol=1e-4)

  # no factor: the prior N(0, I)
  mean, var = product_of_gaussians(means, vars_, jnp.zeros(4))
  np.testing.assert_array_equal(mean, [0.0, 0.0])
  np.testing.assert_array_equal(var, [1.0, 1.0])


def test_tanh_gaussian_log_prob_is_the_change_of_variables():
  mean, log_std = jnp.array([0.3, -1.2]), jnp.array([-0.5, 0.4])
  eps = jax.random.normal(jax.random.key(0), (1000, 2))
  a, log_p = tanh_gaussian_sample(mean, log_std, eps)
  u = np.arctanh(np.clip(np.asarray(a, np.float64), -1 + 1e-12, 1 - 1e-12))
  ok = np.all(np.abs(np.asarray(a)) < 0.999, axis=-1)   # arctanh is ill-conditioned next to +-1
  std = np.exp(np.asarray(log_std, np.float64))
  expected = np.sum(-0.5 * ((u - np.asarray(mean)) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
                    - np.log(1 - np.asarray(a, np.float64) ** 2), axis=-1)
  assert ok.mean() > 0.9
  np.testing.assert_allclose(np.asarray(log_p)[ok], expected[ok], rtol=1e-3, atol=1e-3)


def test_slots_keep_the_last_alive_transitions_of_each_task_in_a_ring():
  """Termination: only alive steps are stored (compacted, the last N kept); K tasks fill K slots, the
  ring wraps onto the oldest."""
  learner = PEARL(FAMILY, tasks_per_iteration=2, episodes_per_task=2, task_slots=3, slot_capacity=5)
  slots = learner.init(jax.random.key(0)).slots
  K, E, T = 2, 2, 4
  step_id = jnp.arange(K * E * T, dtype=jnp.float32).reshape(K, E, T)           # a unique id per step
  done = jnp.zeros((K, E, T)).at[0, 0, 1].set(1.0).at[1, 1, 2].set(1.0)        # task 0 ep 0 ends at t=1
  obs = jnp.broadcast_to(step_id[..., None], (K, E, T, 4))
  traj = Transition(obs, jnp.zeros((K, E, T, 2)), obs + 0.5, jnp.zeros((K, E, T)), jnp.zeros((K, E, T, 2)), done)
  psi = jnp.array([[1.0, 1.0], [-1.0, 0.5]])
  slots = learner.write_slots(slots, traj, step_id, psi)
  # task 0 alive ids: 0 1 | 4 5 6 7 -> 6 alive, the last 5 kept; task 1: 8..11 | 12 13 14 -> 7 alive
  np.testing.assert_array_equal(slots.count, [5, 5, 0])
  np.testing.assert_array_equal(slots.reward[0], [1, 4, 5, 6, 7])
  np.testing.assert_array_equal(slots.reward[1], [10, 11, 12, 13, 14])
  np.testing.assert_array_equal(slots.obs[1, :, 0], [10, 11, 12, 13, 14])
  np.testing.assert_array_equal(slots.psi[:2], psi)
  assert int(slots.cursor) == 2
  # a second write fills slot 2 and wraps onto slot 0 (the oldest); a short task is padded, count 2
  done2 = jnp.zeros((K, E, T)).at[:, :, 0].set(1.0)
  traj2 = traj.replace(done=done2)
  slots = learner.write_slots(slots, traj2, step_id + 100, psi + 0.25)
  np.testing.assert_array_equal(slots.count, [2, 5, 2])
  np.testing.assert_array_equal(slots.reward[2, :2], [100, 104])
  np.testing.assert_array_equal(slots.reward[0], [108, 112, 0, 0, 0])
  np.testing.assert_array_equal(slots.reward[1], [10, 11, 12, 13, 14])        # untouched
  assert int(slots.cursor) == 1


def test_zero_episode_adaptation_acts_with_the_prior_mean():
  state = LEARNER.init(jax.random.key(0))
  obs = jnp.array([0.3, -0.2, 0.1, 0.0])
  act = LEARNER.adapted_policy(state, jnp.array([1.0, -1.0]), 0, jax.random.key(1))
  mean, _ = LEARNER.actor_net.apply(state.actor, obs, jnp.zeros(LEARNER.latent_dim))
  np.testing.assert_allclose(act(obs, jax.random.key(2)), jnp.tanh(mean), rtol=1e-6)
  np.testing.assert_array_equal(act(obs, jax.random.key(2)), act(obs, jax.random.key(3)))


# ------------------------------------------------------------------------------------- one short run

def _evaluate(learner_state, key):
  """Adapted return (ADAPT_EPISODES real episodes, then the posterior mean and the mean action) on
  EVAL_TASKS, and the posterior means / variances of PROBE_TASKS for each context size."""
  k_adapt, k_eval, k_tasks, k_collect = jax.random.split(key, 4)
  returns = adapted_returns(LEARNER, learner_state, EVAL_TASKS, jax.random.split(k_adapt, EVAL_TASKS.shape[0]),
                            k_eval, ADAPT_EPISODES, 2)
  psi = FAMILY.box.sample_uniform(k_tasks, PROBE_TASKS)
  _, _, context, mask = jax.vmap(LEARNER.collect, in_axes=(None, 0, 0, None))(
      learner_state, psi, jax.random.split(k_collect, PROBE_TASKS), ADAPT_EPISODES)
  posteriors = {}
  for n in CONTEXT_SIZES:
    first_n = mask * (jnp.arange(mask.shape[1]) < n)
    posteriors[n] = jax.vmap(LEARNER.posterior, in_axes=(None, 0, 0))(learner_state.encoder, context, first_n)
  return jnp.mean(returns), psi, posteriors


def _probe_error(z, psi):
  """Held-out error of a least-squares probe z -> psi (with intercept) fitted on the first half of the
  tasks: mean squared error on the second half over the variance of psi there (1 = no information)."""
  z, psi = np.asarray(z, np.float64), np.asarray(psi, np.float64)
  x = np.concatenate([z, np.ones((len(z), 1))], axis=1)
  half = len(z) // 2
  w, *_ = np.linalg.lstsq(x[:half], psi[:half], rcond=None)
  return float(np.mean((x[half:] @ w - psi[half:]) ** 2) / np.mean(np.var(psi[half:], axis=0)))


@pytest.fixture(scope="module")
def run():
  loop = MetaRLLoop(LEARNER, Uniform(FAMILY.box, LEARNER.tasks_per_iteration))
  traces = []

  def chunk(state):
    traces.append(1)   # runs only while tracing
    return loop.run_chunk(state, CHUNK)

  chunk = jax.jit(chunk)
  evaluate = jax.jit(_evaluate)
  state = loop.init(jax.random.key(0))
  before = evaluate(state.learner, jax.random.key(1))
  metrics = []
  for _ in range(CHUNKS):
    state, m = chunk(state)
    metrics.append(m)
  metrics = jax.tree.map(lambda *m: np.concatenate(m), *metrics)
  after = evaluate(state.learner, jax.random.key(1))
  return dict(state=state, metrics=metrics, traces=traces, before=before, after=after)


def test_train_step_jits_inside_the_loop_and_counts_alive_steps(run):
  assert len(run["traces"]) == 1                    # the second chunk compiled nothing
  m = run["metrics"]
  K, E, T = LEARNER.tasks_per_iteration, LEARNER.episodes_per_task, FAMILY.env.horizon
  np.testing.assert_array_equal(m["iteration"], np.arange(1, CHUNK * CHUNKS + 1))
  # PointMass2D never terminates: every collected step is alive
  np.testing.assert_array_equal(m["real_steps"], K * E * T * np.arange(1, CHUNK * CHUNKS + 1))
  assert int(run["state"].real_steps) == K * E * T * CHUNK * CHUNKS
  assert m["psi"].shape == (CHUNK * CHUNKS, K, 2)
  for name in ("episode_return", "q_loss", "policy_loss", "kl", "alpha"):
    assert m[name].shape == (CHUNK * CHUNKS,) and np.all(np.isfinite(m[name])), name
  assert np.all(m["alpha"] > 0)


def test_adapted_return_improves(run):
  """The adapted return on the 16 grid tasks: after 20 train_steps it beats the initial learner by more
  than 25, and beats the zero-action policy (50 (4 - |gx| - |gy|) averaged over the grid: 66.7), which
  needs the policy to act on what the posterior inferred about psi."""
  before, after = float(run["before"][0]), float(run["after"][0])
  zero_action = float(np.mean(50 * (4.0 - np.abs(np.asarray(EVAL_TASKS)).sum(-1))))
  print(f"adapted return before {before:.1f} after {after:.1f} (zero action {zero_action:.1f})")
  assert after > before + 25.0
  assert after > zero_action + 10.0


def test_posterior_concentrates_and_carries_psi(run):
  """With more context transitions of a task the posterior's variance shrinks, and a linear probe from
  the posterior mean predicts held-out tasks' psi better (``_probe_error``: 1 = no information)."""
  _, psi, posteriors = run["after"]
  std = {n: float(np.mean(np.sqrt(posteriors[n][1]))) for n in CONTEXT_SIZES}
  err = {n: _probe_error(posteriors[n][0], psi) for n in CONTEXT_SIZES}
  print(f"posterior std {std}  probe error {err}")
  assert std[1] > std[10] > std[100]
  assert err[100] < 0.7
  assert err[100] < err[1] - 0.3
