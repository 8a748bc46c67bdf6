"""The model link's measurement (``admrl_jax.model_error``): open-loop errors against closed forms on a
linear system, the alive masking, the binning of trajectories into task cells and the reference draw."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax import model_error
from admrl_jax.types import Transition


def linear_trajectories(n: int, T: int, done_at: dict | None = None) -> Transition:
  """x' = x + a on 2-D states (features f = x'), random actions; done_at {trajectory: step}."""
  rng = np.random.default_rng(0)
  actions = rng.normal(size=(n, T, 2))
  x0 = rng.normal(size=(n, 2))
  states = np.concatenate([x0[:, None], x0[:, None] + np.cumsum(actions, axis=1)], axis=1)   # [n, T+1, 2]
  done = np.zeros((n, T))
  for i, t in (done_at or {}).items():
    done[i, t:] = 1.0
  return Transition(jnp.asarray(states[:, :-1]), jnp.asarray(actions), jnp.asarray(states[:, 1:]),
                    jnp.zeros((n, T)), jnp.asarray(states[:, 1:]), jnp.asarray(done))


def test_exact_model_has_zero_error_and_a_biased_one_grows_linearly():
  traj = linear_trajectories(3, 12)
  scale = jnp.asarray([0.5, 2.0])
  exact = lambda obs, action: obs + action
  errors, valid = model_error.open_loop_errors(exact, traj, scale, (1, 4), stride=2)
  assert errors.shape == valid.shape == (2, 3, 6)
  assert np.asarray(valid).sum() == 6 * 3 + 5 * 3          # h = 1: every start; h = 4: starts 0, 2, ..., 8
  np.testing.assert_allclose(np.asarray(errors)[np.asarray(valid)], 0.0, atol=1e-5)   # float32 sums
  b = jnp.asarray([0.1, -0.3])
  biased = lambda obs, action: obs + action + b
  errors, valid = model_error.open_loop_errors(biased, traj, scale, (1, 4), stride=2)
  per_step = np.sqrt(np.mean((np.asarray(b) / np.asarray(scale)) ** 2))       # RMS of b / scale
  np.testing.assert_allclose(np.asarray(errors)[0][np.asarray(valid)[0]], per_step, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(errors)[1][np.asarray(valid)[1]], 4 * per_step, rtol=1e-5)


def test_a_start_counts_only_while_the_episode_lives_through_its_horizon():
  traj = linear_trajectories(2, 10, done_at={1: 5})      # trajectory 1 terminates at step 5 (alive through 5)
  _, valid = model_error.open_loop_errors(lambda o, a: o + a, traj, jnp.ones(2), (1, 3), stride=1)
  valid = np.asarray(valid)
  np.testing.assert_array_equal(valid[0, 0], np.ones(10, bool))
  np.testing.assert_array_equal(valid[1, 0], np.arange(10) + 3 <= 10)            # t + h <= T
  np.testing.assert_array_equal(valid[0, 1], np.arange(10) <= 5)                 # steps t .. t: alive through 5
  np.testing.assert_array_equal(valid[1, 1], np.arange(10) + 2 <= 5)             # steps t .. t+2 alive


def test_mean_features_average_the_alive_steps_only():
  traj = linear_trajectories(2, 6, done_at={0: 2})
  f = np.asarray(traj.f)
  means = model_error.mean_features(traj)
  np.testing.assert_allclose(means[0], f[0, :3].mean(axis=0))     # steps 0, 1, 2 (the termination counts)
  np.testing.assert_allclose(means[1], f[1].mean(axis=0))


def test_cells_of_the_nearest_centre_within_a_half_width_else_none():
  centers = np.asarray([[x, y] for x in (-1.0, 0.0, 1.0) for y in (0.0, 1.0)])
  half = model_error.grid_half_width(centers)
  np.testing.assert_allclose(half, [0.5, 0.5])
  points = np.asarray([[-0.9, 0.1], [0.4, 0.9], [1.6, 0.0], [0.0, np.nan], [1.5, 1.5]])
  np.testing.assert_array_equal(model_error.cells_of(points, centers, half), [0, 3, -1, -1, 5])
  with pytest.raises(ValueError, match="dimension 1"):
    model_error.grid_half_width(np.asarray([[0.0, 1.0], [1.0, 1.0]]))


def test_step_scale_is_the_alive_steps_change_spread():
  traj = linear_trajectories(4, 8, done_at={2: 3})
  alive = np.ones((4, 8), bool)
  alive[2, 4:] = False
  np.testing.assert_allclose(model_error.step_scale(traj), np.asarray(traj.action)[alive].std(axis=0))


def test_reference_leaves_the_excluded_run_out_and_shares_the_rest():
  cells = np.asarray([0, 0, 0, 0, 1, 1, -1, 1, 0, 1])
  owners = np.asarray([0, 1, 2, 0, 1, 2, 0, 0, 2, 1])
  for exclude in (0, 1, 2):
    chosen = model_error.reference_indices(cells, owners, exclude, per_cell=2, n_cells=2)
    assert np.all(owners[chosen] != exclude) and np.all(cells[chosen] >= 0)
    assert all(np.sum(cells[chosen] == c) == min(2, np.sum((cells == c) & (owners != exclude))) for c in (0, 1))
  big = [set(model_error.reference_indices(cells, owners, e, per_cell=10, n_cells=2).tolist()) for e in (0, 1)]
  assert big[0] & {i for i in range(10) if owners[i] == 2} == big[1] & {i for i in range(10) if owners[i] == 2}
  np.testing.assert_array_equal(model_error.reference_indices(cells, owners, 0, 2, 2),
                                model_error.reference_indices(cells, owners, 0, 2, 2))


def test_cell_means_ignore_uncounted_starts_and_leave_empty_cells_nan():
  errors = np.asarray([[[1.0, 3.0], [5.0, 100.0], [7.0, 7.0]]])        # [1 horizon, 3 trajectories, 2 starts]
  valid = np.asarray([[[True, True], [True, False], [True, True]]])
  means = model_error.cell_means(errors, valid, np.asarray([0, 0, -1]), n_cells=2)
  np.testing.assert_allclose(means[0, 0], (1 + 3 + 5) / 3)
  assert np.isnan(means[0, 1])


def test_open_loop_errors_jit_with_a_model_predict():
  """A DynamicsModel's own predict runs through it (batched leading axes [n, S])."""
  from admrl_jax.dynamics import DynamicsModel
  model = DynamicsModel(obs_dim=2, action_dim=2, hidden=(8,))
  state = model.init(jax.random.key(0))
  traj = linear_trajectories(2, 6)
  predict = lambda o, a: model.predict(state.params, state.norms, o, a)
  errors, valid = jax.jit(model_error.open_loop_errors, static_argnums=(0, 3, 4))(predict, traj, jnp.ones(2), (1, 2), 3)
  assert errors.shape == (2, 2, 2) and bool(jnp.all(jnp.isfinite(errors)))


def test_buffer_tasks_follow_the_collection_order():
  psi = np.asarray([[[0.0], [1.0]], [[2.0], [3.0]]])         # 2 iterations x 2 tasks
  tasks = model_error.buffer_tasks(psi, initial=1, collections=(2, 1), size=1 + 6)   # one iteration filled
  np.testing.assert_array_equal(tasks[1:, 0], [0, 0, 1, 1, 0, 1])
  assert np.isnan(tasks[0, 0])
  np.testing.assert_array_equal(model_error.buffer_tasks(psi, 1, (2, 1), 13)[7:, 0], [2, 2, 3, 3, 2, 3])
  with pytest.raises(ValueError, match="at most 2 iterations"):
    model_error.buffer_tasks(psi, 1, (2, 1), 19)


def test_within_cell_spearman_removes_each_cells_level_and_tests_by_permutation():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(4, 30))
  level = 100.0 * rng.normal(size=30)                     # a per-cell difficulty, the same for every run
  rho, p = model_error.within_cell_spearman(x, 2 * x + level, permutations=500)
  assert rho > 0.99 and p < 0.01
  rho, p = model_error.within_cell_spearman(x, rng.normal(size=(4, 30)) + level, permutations=500)
  assert abs(rho) < 0.3 and p > 0.01
  y = x.copy()
  y[0, :28] = np.nan                                      # 2 cells left: refused
  with pytest.raises(ValueError, match="2 cells"):
    model_error.within_cell_spearman(x, y)
  assert all(np.isnan(model_error.within_cell_spearman(np.ones((3, 5)) + np.arange(5), x[:3, :5])))   # constant


def test_cell_shares_count_points_outside_every_cell_in_the_total_only():
  centers = np.asarray([[x, y] for x in (0.0, 1.0) for y in (0.0, 1.0)])
  points = np.asarray([[0.1, 0.0], [0.0, 0.9], [0.1, 0.1], [5.0, 5.0]])
  np.testing.assert_allclose(model_error.cell_shares(points, centers), [0.5, 0.25, 0.0, 0.0])
