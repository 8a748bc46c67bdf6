"""Nothing learns from the steps after a termination: a buffer whose post-termination steps are
poisoned (a jump of 1000 in every stored field) trains the model, the normalisers, the value net and
the policy to exactly the parameters a clean buffer gives."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax import replay
from admrl_jax.dynamics import DynamicsModel
from admrl_jax.trpo import TRPO
from admrl_jax.types import Transition, alive_mask

N, T, DS, DA, K = 12, 8, 3, 2, 2


def _buffers():
  """(clean, poisoned) trajectory buffers of N episodes of T steps; most terminate early.

  Clean post-termination steps repeat the terminal observation with zero c, f (as rollout.rollout
  stores them); poisoned ones add 1000 to obs, next_obs, action, c and f there.
  """
  ks = jax.random.split(jax.random.key(0), 4)
  obs = jax.random.normal(ks[0], (N, T, DS))
  next_obs = obs + 0.1 * jax.random.normal(ks[1], (N, T, DS))
  action = jax.random.normal(ks[2], (N, T, DA))
  end = jnp.array([1, 2, 3, 5, 7, T, 0, 4, T, 6, 2, T])  # index of the terminating step (T: none)
  t = jnp.arange(T)
  done = (t[None, :] >= end[:, None]).astype(jnp.float32)   # 1 at the terminating step and after
  after = (t[None, :] > end[:, None])                        # strictly after: frozen in a real buffer
  c = jax.random.normal(ks[3], (N, T))
  f = jnp.stack([c, -c], -1)
  frozen = jnp.take_along_axis(next_obs, jnp.minimum(end, T - 1)[:, None, None], axis=1)
  clean = Transition(jnp.where(after[..., None], frozen, obs), action,
                     jnp.where(after[..., None], frozen, next_obs), jnp.where(after, 0.0, c),
                     jnp.where(after[..., None], 0.0, f), done)
  poison = lambda x: x + 1000.0 * after.reshape(after.shape + (1,) * (x.ndim - 2))
  poisoned = clean.replace(obs=poison(clean.obs), next_obs=poison(clean.next_obs),
                           action=poison(clean.action), c=poison(clean.c), f=poison(clean.f))
  assert float(jnp.sum(after)) > 10   # the poison is really there
  as_buffer = lambda tr: replay.add(replay.init_buffer(N, T, DS, DA, K), tr)
  return as_buffer(clean), as_buffer(poisoned)


@pytest.mark.parametrize("loss_horizon", [1, 2])
def test_model_fit_and_normalisers_ignore_post_termination_steps(loss_horizon):
  clean, poisoned = _buffers()
  model = DynamicsModel(DS, DA, hidden=(16, 16), batch_size=32, loss_horizon=loss_horizon)
  key = jax.random.key(1)

  def fit(buffer):
    state = model.update_normalisers(model.init(jax.random.key(2)), buffer.data)
    state, loss = jax.jit(model.fit, static_argnums=3)(state, buffer, key, 30)
    return state, loss

  (s_clean, l_clean), (s_poison, l_poison) = fit(clean), fit(poisoned)
  np.testing.assert_array_equal(np.asarray(l_clean), np.asarray(l_poison))
  for a, b in zip(jax.tree.leaves((s_clean.params, s_clean.norms)), jax.tree.leaves((s_poison.params, s_poison.norms))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_fit_windows_start_on_steps_before_a_termination():
  clean, _ = _buffers()
  window, mask = replay.sample_windows(clean, jax.random.key(3), 512, 2)
  alive = alive_mask(clean.data.done)
  assert window.obs.shape == (512, 2, DS) and mask.shape == (512, 2)
  assert np.all(np.asarray(mask[:, 0]) == 1.0)           # every window's first step is a real step
  assert np.asarray(mask).sum() < mask.size                # and a window may run past a termination
  assert float(alive.sum()) < alive.size


def test_value_fit_and_policy_update_ignore_post_termination_steps():
  clean, poisoned = _buffers()
  agent = TRPO(DS, DA, policy_hidden=(8,), value_hidden=(8,), value_minibatches=4)
  reward = lambda tr: tr.c + tr.f[..., 0]

  def update(buffer):
    tr = buffer.data
    return jax.jit(agent.update)(agent.init(jax.random.key(4)), tr, reward(tr), jax.random.key(5))

  (a_clean, m_clean), (a_poison, m_poison) = update(clean), update(poisoned)
  for a, b in zip(jax.tree.leaves((a_clean, m_clean)), jax.tree.leaves((a_poison, m_poison))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
