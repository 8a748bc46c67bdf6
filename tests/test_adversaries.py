"""The adversaries' search rules: step rules, restarts, spread starts, the gap search, and the gap
search inside the real outer step (memory carried and checkpointed)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax.config import build
from admrl_jax.methods import Feedback, make_method
from admrl_jax.tasks import TaskBox
from tests.conftest import assert_memory_round_trips, tiny_config

BOX = TaskBox((-2.0, 0.0), (2.0, 1.0))   # unequal sides: unit coordinates matter


def _feedback(grad, gap=None, key=0, model_error=None):
  gap = jnp.zeros(grad.shape[0]) if gap is None else gap
  model_error = jnp.zeros(grad.shape[0]) if model_error is None else model_error
  return Feedback(gap, model_error, grad, None, jax.random.key(key))


def test_normalised_step_has_the_step_length_and_raw_step_scales_with_the_gradient():
  psi = jnp.array([[0.0, 0.5]])
  grad = jnp.array([[0.5, 0.0]])                # g_w = grad * (hi - lo) / 2 = (1.0, 0.0)
  for rule, expected_move in (("normalised", 0.2), ("raw", 0.2 * 1.0)):
    m = make_method("admrl", BOX, 1, ascent_step=0.2, step_rule=rule)
    new, _ = m.update(psi, m.init_memory(), _feedback(grad))
    np.testing.assert_allclose(BOX.to_unit(new) - BOX.to_unit(psi), [[expected_move, 0.0]], atol=1e-6)
  # a gradient 10x longer: the normalised move is unchanged, the raw one 10x longer (then clipped to the box)
  for rule, expected_move in (("normalised", 0.02), ("raw", 0.2)):
    m = make_method("admrl", BOX, 1, ascent_step=0.02, step_rule=rule)
    new, _ = m.update(psi, m.init_memory(), _feedback(10 * grad))
    np.testing.assert_allclose(BOX.to_unit(new)[0, 0] - BOX.to_unit(psi)[0, 0], expected_move, atol=1e-6)
  with pytest.raises(ValueError, match=r"adversary.step_rule: unknown value 'adam'; allowed: \['normalised', 'raw'\]"):
    make_method("admrl", BOX, 1, step_rule="adam")


def test_random_walk_takes_the_adversary_s_steps_in_random_directions():
  """The control walk: every move is ascent_step long (inside the box), directions differ per key and
  per task, and no task gradient is asked for."""
  m = make_method("random_walk", BOX, 3, ascent_step=0.1)
  assert not m.uses_task_gradient
  psi = BOX.from_unit(jnp.zeros((3, 2)))
  moves = []
  for i in range(2):
    new, _ = m.update(psi, m.init_memory(), Feedback(jnp.zeros(3), jnp.zeros(3), None, None, jax.random.key(i)))
    moves.append(np.asarray(BOX.to_unit(new)))
  np.testing.assert_allclose(np.linalg.norm(moves[0], axis=-1), 0.1, rtol=1e-5)
  assert not np.allclose(moves[0], moves[1]) and not np.allclose(moves[0][0], moves[0][1])


def test_a_stalled_adversary_restarts_and_a_moving_one_does_not():
  """Two adversaries: one pushed into the corner (it stops there), one moving freely along w_0.
  With patience 3 the cornered one restarts at a fresh task after 3 iterations; the other never."""
  m = make_method("admrl", BOX, 2, ascent_step=0.1, restart_patience=3)
  psi = BOX.from_unit(jnp.array([[0.95, 0.95], [-0.9, 0.0]]))
  grad = jnp.array([[1.0, 4.0], [1.0, 0.0]])     # g_w = (2, 2) and (2, 0)
  memory = m.init_memory()
  path = []
  for i in range(5):
    psi, memory = m.update(psi, memory, _feedback(grad, key=i))
    path.append(np.asarray(BOX.to_unit(psi)))
  path = np.stack(path)
  np.testing.assert_allclose(path[1, 0], [1.0, 1.0])          # stuck at the corner ...
  assert not np.allclose(path[2, 0], [1.0, 1.0])               # ... restarted after 3 iterations
  np.testing.assert_array_equal(np.asarray(memory["restarts"]), [1, 0])
  np.testing.assert_allclose(path[:, 1, 0], -0.9 + 0.1 * np.arange(1, 6), atol=1e-5)   # never restarted


def test_k_adversaries_start_spread_over_the_box():
  """K = 4: one start in each quarter of every axis (a Latin hypercube); K = 1: the reference's task."""
  m = make_method("admrl", BOX, 4)
  w = np.asarray(BOX.to_unit(m.init(jax.random.key(3))))
  for axis in range(2):
    np.testing.assert_array_equal(np.sort(np.floor((w[:, axis] + 1) / 0.5)), [0, 1, 2, 3])
  np.testing.assert_allclose(BOX.to_unit(make_method("admrl", BOX, 1).init(jax.random.key(3))), [[0.3, 0.3]],
                             atol=1e-6)


def _true_gap(w):
  """A gap map that is flat (5) except in the corner w > 0.6 (4 % of the box), where it is 30."""
  return 5.0 + 25.0 * jnp.all(w > 0.6, axis=-1)


@pytest.mark.parametrize("num_tasks", [1, 3])
def test_gap_search_first_spreads_then_returns_to_the_worst_corner(num_tasks):
  """On noisy estimates of a gap that is large only in a corner covering 4 % of the box, the gap
  search visits all four quadrants within its first 12 iterations and spends over a quarter of its
  proposals in that corner (a uniform proposal: 4 %; measured 33-37 % for K = 1, 56-60 % for K = 3). The K tasks of one iteration are distinct."""
  m = make_method("gap_search", BOX, num_tasks, search_beta=1.0, search_bandwidth=0.25, search_forget=25.0)
  memory, psi = m.init_memory(), m.init(jax.random.key(0))
  propose, update = jax.jit(m.propose), jax.jit(m.update)
  visits = []
  for i in range(60):
    key = jax.random.key(100 + i)
    psi = propose(psi, memory, key)
    w = BOX.to_unit(psi)
    noisy = _true_gap(w) + 2.0 * jax.random.normal(jax.random.fold_in(key, 1), (num_tasks,))
    psi, memory = update(psi, memory, _feedback(jnp.zeros_like(psi), noisy))
    visits.append(np.asarray(w))
    if num_tasks > 1:
      assert len({tuple(np.round(x, 5)) for x in np.asarray(w)}) == num_tasks
  visits = np.concatenate(visits)
  early = visits[:12 * num_tasks]
  assert len({(x > 0, y > 0) for x, y in early}) == 4
  assert np.mean(np.all(visits > 0.6, axis=-1)) > 1 / 4
  assert int(memory["count"]) == 60 * num_tasks
  assert np.all(np.abs(visits) <= 1.0)


def test_gap_search_remembers_the_signal_it_is_told_to():
  """search_signal=gap stores the gap estimates; model_error the model's absolute return error."""
  psi = BOX.from_unit(jnp.array([[0.1, 0.2], [-0.5, 0.5]]))
  gap, err = jnp.array([3.0, -1.0]), jnp.array([-7.0, 2.0])
  for signal, stored in (("gap", [3.0, -1.0]), ("model_error", [7.0, 2.0])):
    m = make_method("gap_search", BOX, 2, search_signal=signal)
    _, memory = m.update(psi, m.init_memory(), _feedback(jnp.zeros((2, 2)), gap, model_error=err))
    np.testing.assert_allclose(memory["gap"][:2], stored)
    np.testing.assert_allclose(memory["w"][:2], BOX.to_unit(psi), atol=1e-6)
  with pytest.raises(ValueError, match=r"adversary.search_signal: unknown value 'x'; allowed: \['gap', 'model_error'\]"):
    make_method("gap_search", BOX, 1, search_signal="x")


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_gap_search_runs_in_the_outer_step_and_its_memory_is_checkpointed(tmp_path):
  """Two outer iterations of the tiny config with the gap search: the memory holds the two
  iterations' tasks and gap estimates, the tasks lie in the box, and a checkpoint round-trips it."""
  config = tiny_config("gap_search")
  loop, _ = build(config)
  state = loop.init(jax.random.key(0))
  state, metrics = jax.jit(lambda s: loop.run_chunk(s, 2))(state)
  K = config.loop.num_tasks
  assert int(state.memory["count"]) == 2 * K and int(state.memory["now"]) == 2
  np.testing.assert_allclose(state.memory["gap"][:2 * K], np.asarray(metrics["gap_estimate"]).reshape(-1), rtol=1e-6)
  box = loop.family.box
  assert np.all((np.asarray(metrics["psi"]) >= np.asarray(box.lo)) & (np.asarray(metrics["psi"]) <= np.asarray(box.hi)))
  assert_memory_round_trips(loop, state, tmp_path)
