"""Prioritised task replay (``plr``): its replay distribution in closed form, the sampler against it, the
buffer's insertion rule, and two outer iterations of the tiny config."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax.config import build
from admrl_jax.methods import Feedback, make_method
from admrl_jax.tasks import TaskBox
from tests.conftest import assert_memory_round_trips, tiny_config

BOX = TaskBox((-2.0, 0.0), (2.0, 1.0))


def _memory():
  """Six slots, five tasks (slot 4 empty), at iteration 10."""
  psi = BOX.from_unit(jnp.linspace(-0.9, 0.9, 12).reshape(6, 2))
  return {"psi": psi, "score": jnp.array([3.0, -1.0, 7.0, 0.5, 0.0, 2.0]),
          "seen": jnp.array([4, 9, 1, 7, -1, 9], jnp.int32), "now": jnp.array(10, jnp.int32)}


def _closed_form(beta, rho):
  """(1 - rho) (1/rank)^(1/beta) / Z + rho (now - seen) / sum: ranks by score 2, 5, 1, 4, -, 3."""
  rank = np.array([2, 5, 1, 4, np.inf, 3])
  h = (1.0 / rank) ** (1.0 / beta)
  stale = np.array([6, 1, 9, 3, 0, 1], float)
  return (1 - rho) * h / h.sum() + rho * stale / stale.sum()


def test_plr_replay_distribution_is_rank_prioritisation_mixed_with_staleness():
  """P_replay matches the closed form, with beta and rho traced; K = 1 draws from it: a replay with
  probability p (never before the buffer's minimum fill), each slot as often as P_replay says, the drawn
  task taken out of the buffer; a fresh task is a uniform draw, not a buffer task."""
  m = make_method("plr", BOX, 1, replay_size=6, replay_prob=0.7, replay_temperature=0.5, replay_staleness=0.3,
                  replay_min_fill=0.5)
  memory = _memory()
  np.testing.assert_allclose(m.replay_distribution(memory), _closed_form(0.5, 0.3), rtol=1e-5, atol=1e-7)
  traced = jax.jit(lambda b, r: dataclasses.replace(m, replay_temperature=b, replay_staleness=r)
                   .replay_distribution(memory))
  np.testing.assert_allclose(traced(0.2, 0.6), _closed_form(0.2, 0.6), rtol=1e-5, atol=1e-7)

  n = 40000
  draw = jax.jit(jax.vmap(lambda k, fill: dataclasses.replace(m, replay_min_fill=fill).next_tasks(memory, k),
                          in_axes=(0, None)))
  psi, after = draw(jax.random.split(jax.random.key(0), n), 0.5)
  match = np.all(np.asarray(psi)[:, 0, None, :] == np.asarray(memory["psi"])[None], axis=-1)   # [n, M]
  replayed = match.any(axis=1)
  assert abs(replayed.mean() - 0.7) < 0.01                          # sigma 0.0023
  freq = match[replayed].mean(axis=0)
  p = _closed_form(0.5, 0.3)
  np.testing.assert_array_less(np.abs(freq - p), 4 * np.sqrt(p * (1 - p) / replayed.sum()) + 1e-9)
  taken = np.asarray(after["seen"]) == -1                           # the drawn slot leaves the buffer
  np.testing.assert_array_equal(taken[replayed], match[replayed] | (np.asarray(memory["seen"]) == -1))
  np.testing.assert_array_equal(np.asarray(after["seen"])[~replayed], np.tile(memory["seen"], ((~replayed).sum(), 1)))
  fresh = BOX.to_unit(psi[~replayed, 0])
  assert np.all(np.abs(fresh) <= 1) and np.all(np.abs(np.mean(fresh, axis=0)) < 0.03)
  psi, _ = draw(jax.random.split(jax.random.key(1), 1000), 0.9)    # 5 of 6 slots filled: not ready
  assert not np.any(np.all(np.asarray(psi)[:, 0, None, :] == np.asarray(memory["psi"])[None], axis=-1))


def test_plr_replays_k_distinct_tasks_and_vmaps_over_seeds():
  """K = 3: a replay draws 3 distinct buffer tasks; the update vmapped over 4 seeds equals each seed's own."""
  m = make_method("plr", BOX, 3, replay_size=6, replay_prob=1.0, replay_min_fill=0.0)
  psi, _ = jax.jit(jax.vmap(m.next_tasks, in_axes=(None, 0)))(_memory(), jax.random.split(jax.random.key(2), 200))
  slots = np.argmax(np.all(np.asarray(psi)[:, :, None, :] == np.asarray(_memory()["psi"])[None, None], axis=-1), -1)
  assert all(len(set(s)) == 3 and 4 not in s for s in slots)

  seeds = 4
  memories = jax.tree.map(lambda x: jnp.stack([x] * seeds), _memory())
  psis = BOX.sample_uniform(jax.random.key(3), 3 * seeds).reshape(seeds, 3, 2)
  feedback = Feedback(jax.random.normal(jax.random.key(4), (seeds, 3)), jnp.zeros((seeds, 3)), None, None,
                      jax.random.split(jax.random.key(5), seeds))
  together = jax.jit(jax.vmap(m.update))(psis, memories, feedback)
  update = jax.jit(m.update)
  for s in range(seeds):
    alone = update(psis[s], _memory(), jax.tree.map(lambda x: x[s], feedback))
    for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(together)):
      np.testing.assert_allclose(a, b[s], rtol=1e-6)


def test_plr_buffer_keeps_tasks_by_its_insertion_rule():
  """A trained task takes an empty slot; in a full buffer it replaces the slot of least replay weight only if
  it scores higher; a non-finite score is never kept. Its staleness starts at 0, and model_error scores are
  the absolute error."""
  m = make_method("plr", BOX, 2, replay_size=6, replay_staleness=0.3, replay_temperature=0.5)
  memory = _memory()
  new = BOX.from_unit(jnp.array([[0.05, 0.05], [0.1, 0.1]]))
  after = m.offer(memory, new, jnp.array([jnp.nan, -5.0]))          # NaN kept nowhere; -5 takes empty slot 4
  np.testing.assert_array_equal(after["psi"][4], new[1])
  assert float(after["score"][4]) == -5.0 and int(after["seen"][4]) == 10
  np.testing.assert_array_equal(np.delete(np.asarray(after["psi"]), 4, 0), np.delete(np.asarray(memory["psi"]), 4, 0))

  full = {**memory, "seen": memory["seen"].at[4].set(9), "score": memory["score"].at[4].set(-3.0)}
  weakest = int(np.argmin(m.replay_distribution(full)))
  assert weakest == 4                                                # score -3 ranks last, seen a step ago
  low = m.offer(full, new[:1], jnp.array([-4.0]))
  high = m.offer(full, new[:1], jnp.array([-2.0]))
  for a, b in zip(jax.tree.leaves(low), jax.tree.leaves(full)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(high["psi"][4], new[0])
  assert float(high["score"][4]) == -2.0

  m1 = make_method("plr", BOX, 2, replay_size=6, search_signal="model_error", replay_prob=0.0)
  _, after = m1.update(new, m1.init_memory(), Feedback(jnp.zeros(2), jnp.array([-7.0, 2.0]), None, None,
                                                       jax.random.key(0)))
  np.testing.assert_allclose(after["score"][:2], [7.0, 2.0])
  np.testing.assert_array_equal(after["seen"], [1, 1, -1, -1, -1, -1])


def test_plr_rejects_bad_values():
  allowed = r"\['gap', 'model_error'\]"
  with pytest.raises(ValueError, match=rf"adversary.search_signal: unknown value 'x'; allowed: {allowed}"):
    make_method("plr", BOX, 1, search_signal="x")
  with pytest.raises(ValueError, match=r"adversary.replay_size: must be at least loop.num_tasks=4"):
    make_method("plr", BOX, 4, replay_size=3)


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_plr_runs_in_the_outer_step_and_replays_what_it_trained(tmp_path):
  """Two outer iterations of the tiny config (K = 2) with p = 1 and no minimum fill: the second iteration
  replays the first one's two tasks, every number is finite, and a checkpoint round-trips the buffer."""
  config = tiny_config("plr")
  config.adversary.replay_prob = 1.0
  config.adversary.replay_min_fill = 0.0
  config.adversary.replay_size = 4
  loop, _ = build(config)
  state = loop.init(jax.random.key(0))
  state, metrics = jax.jit(lambda s: loop.run_chunk(s, 2))(state)
  psi = np.asarray(metrics["psi"])
  assert {tuple(x) for x in psi[1]} == {tuple(x) for x in psi[0]}
  for name in ("gap_estimate", "return_hat", "return_star", "model_loss"):
    assert np.all(np.isfinite(np.asarray(metrics[name]))), name
  assert {tuple(x) for x in np.asarray(state.psi)} == {tuple(x) for x in psi[0]}   # and the third replays them again,
  assert int(state.memory["now"]) == 2 and not np.any(np.asarray(state.memory["seen"]) >= 0)   # drawn out till scored
  assert_memory_round_trips(loop, state, tmp_path)
