"""AdMRL's two coverage options: the mixture of walk and uniform tasks (``adversary.uniform_share``) and
restarts at the best remembered task (``adversary.restart_from=replay_top``), alone and in two outer
iterations of the tiny config."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax.config import build
from admrl_jax.methods import Feedback, make_method
from admrl_jax.schema import ConfigError, check_fields
from admrl_jax.tasks import TaskBox
from tests.conftest import assert_memory_round_trips, tiny_config

BOX = TaskBox((-2.0, 0.0), (2.0, 1.0))   # unequal sides: unit coordinates matter


def _feedback(grad, gap=None, key=0):
  gap = jnp.zeros(grad.shape[0]) if gap is None else jnp.asarray(gap, jnp.float32)
  return Feedback(gap, jnp.zeros(grad.shape[0]), grad, None, jax.random.key(key))


def test_mixture_trains_its_share_of_uniform_tasks_while_the_walk_waits():
  """K = 1, share 0.3, 300 iterations of a constant task gradient along w_0 (and the opposite one at the
  uniform tasks, which must be ignored): 0.3 of the tasks are uniform draws spread over the box, and the
  walk's own tasks advance by exactly one step each, as if the uniform iterations had not happened.
  K = 4, share 0.3: one or two uniform tasks per iteration, 1.2 on average, at any slot."""
  m = make_method("admrl", BOX, 1, ascent_step=0.005, uniform_share=0.3)
  update = jax.jit(m.update)
  psi, memory = BOX.from_unit(jnp.array([[-0.95, 0.2]])), m.init_memory()
  walk, uniform, was_uniform = [], [], np.zeros(1, bool)
  for i in range(300):
    (uniform if was_uniform[0] else walk).append(np.asarray(BOX.to_unit(psi))[0])
    grad = jnp.where(was_uniform[:, None], -1.0, 1.0) * jnp.array([[1.0, 0.0]])
    psi, memory = update(psi, memory, _feedback(grad, key=i))
    was_uniform = np.asarray(memory["uniform"])
  walk, uniform = np.array(walk), np.array(uniform)
  assert abs(len(uniform) / 300 - 0.3) < 0.08                      # sigma 0.026
  np.testing.assert_allclose(walk[:, 0], -0.95 + 0.005 * np.arange(len(walk)), atol=1e-4)
  np.testing.assert_allclose(walk[:, 1], 0.2, atol=1e-5)
  assert len({(x > 0, y > 0) for x, y in uniform}) == 4 and np.all(np.abs(uniform.mean(axis=0)) < 0.2)

  m4 = make_method("admrl", BOX, 4, uniform_share=0.3)
  slots = np.asarray(jax.vmap(lambda k: m4.mixture(k)[0])(jax.random.split(jax.random.key(0), 4000)))
  assert set(np.unique(slots.sum(axis=1))) == {1, 2}
  assert abs(slots.sum(axis=1).mean() - 1.2) < 0.03                 # sigma 0.006
  np.testing.assert_allclose(slots.mean(axis=0), 0.3, atol=0.03)


def test_replay_top_restarts_stalled_adversaries_at_the_best_remembered_tasks():
  """Two adversaries pushed into the corner stall after 2 iterations: the first restarts at the remembered
  task with the highest gap estimate, the second at the next one, and both leave the memory. With one
  stalled adversary (the other moving freely along w_0) it alone restarts, at the argmax."""
  m = make_method("admrl", BOX, 2, ascent_step=0.1, restart_patience=2, restart_from="replay_top", replay_size=4)
  start = jnp.array([[0.95, 0.95], [0.97, 0.93]])
  psi, memory = BOX.from_unit(start), m.init_memory()
  grad = jnp.array([[1.0, 4.0], [1.0, 4.0]])                       # g_w = (2, 2): into the corner (1, 1)
  for i, gap in enumerate(([5.0, 8.0], [1.0, 2.0])):
    psi, memory = m.update(psi, memory, _feedback(grad, gap, key=i))
  np.testing.assert_allclose(BOX.to_unit(psi), start[::-1], atol=1e-6)   # best (8), then second best (5)
  np.testing.assert_array_equal(memory["score"], [-np.inf, -np.inf, 1.0, 2.0])
  np.testing.assert_array_equal(memory["restarts"], [1, 1])

  start = jnp.array([[-0.9, 0.0], [0.97, 0.93]])
  psi, memory = BOX.from_unit(start), m.init_memory()
  grad = jnp.array([[1.0, 0.0], [1.0, 4.0]])
  for i, gap in enumerate(([9.0, 1.0], [2.0, 3.0])):
    psi, memory = m.update(psi, memory, _feedback(grad, gap, key=i))
  np.testing.assert_allclose(BOX.to_unit(psi), [[-0.7, 0.0], [-0.9, 0.0]], atol=1e-6)
  np.testing.assert_array_equal(memory["restarts"], [0, 1])


def test_options_off_leave_admrl_as_it_was_and_bad_values_name_their_field():
  """Without the options AdMRL's memory is the one its checkpoints hold; bad values are refused with the
  field's name and what is allowed."""
  assert set(make_method("admrl", BOX, 2, restart_patience=3).init_memory()) == {"anchor", "since", "restarts"}
  allowed = r"\['uniform', 'replay_top'\]"
  with pytest.raises(ValueError, match=rf"adversary.restart_from: unknown value 'x'; allowed: {allowed}"):
    make_method("admrl", BOX, 1, restart_patience=3, restart_from="x")
  with pytest.raises(ValueError, match=r"adversary.restart_from: 'replay_top' .* needs adversary.restart_patience > 0"):
    make_method("admrl", BOX, 1, restart_from="replay_top")
  for field, value, message in (("uniform_share", 1.5, "must be in [0, 1], got 1.5"),
                                ("replay_prob", -0.1, "must be in [0, 1], got -0.1"),
                                ("restart_from", "best", "unknown value 'best'; allowed: ['uniform', 'replay_top']"),
                                ("replay_size", 0, "must be a positive integer, got 0")):
    config = tiny_config()
    config.adversary[field] = value
    with pytest.raises(ConfigError, match=f"^adversary.{field}: {message}".replace("[", r"\[").replace("]", r"\]")):
      check_fields(config)


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_mixture_and_replay_top_run_in_the_outer_step(tmp_path):
  """Two outer iterations of the tiny config (K = 2) with share 0.5, patience 1 and replay_top on the model
  error: every number is finite, one of the two carried tasks is a uniform draw, each restart took one
  task out of the memory, and a checkpoint round-trips the memory."""
  config = tiny_config("admrl")
  config.adversary.uniform_share = 0.5
  config.adversary.restart_patience = 1
  config.adversary.restart_from = "replay_top"
  config.adversary.replay_size = 4
  config.adversary.search_signal = "model_error"
  loop, _ = build(config)
  state = loop.init(jax.random.key(0))
  state, metrics = jax.jit(lambda s: loop.run_chunk(s, 2))(state)
  for name in ("gap_estimate", "return_hat", "return_star", "task_gradient", "model_loss"):
    assert np.all(np.isfinite(np.asarray(metrics[name]))), name
  memory = jax.tree.map(np.asarray, state.memory)
  assert memory["uniform"].sum() == 1 and int(memory["count"]) == 4
  assert memory["restarts"].sum() >= 1 and np.sum(memory["score"] == -np.inf) == memory["restarts"].sum()
  box = loop.family.box
  for psi in (np.asarray(metrics["psi"]), np.asarray(state.psi)):
    assert np.all((psi >= np.asarray(box.lo)) & (psi <= np.asarray(box.hi)))
  assert_memory_round_trips(loop, state, tmp_path)
