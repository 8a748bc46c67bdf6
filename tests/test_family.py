"""The analytic family, task boxes, the oracle, the dynamics model and TRPO on the real system."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax import replay
from admrl_jax.dynamics import DynamicsModel
from admrl_jax.envs import make_family
from admrl_jax.oracles.trajectory import open_loop_return, trajectory_optimisation_oracle
from admrl_jax.oracles.zero_action import zero_action_returns
from admrl_jax.rollout import real_rollouts
from admrl_jax.tasks import TaskBox, TaskFamily
from admrl_jax.trpo import TRPO
from admrl_jax.types import Transition


@pytest.fixture(scope="module")
def family():
  return make_family("point_mass")


def test_unknown_family_names_allowed_values():
  with pytest.raises(ValueError, match=r"family: unknown value 'nope'; allowed: \['ant_2d', 'ant_3d', 'half_cheetah_2d', 'half_cheetah_linear', 'hopper_2d', 'humanoid_3d', 'point_mass', 'point_mass_corner', 'point_mass_pockets', 'walker_2d'\]"):
    make_family("nope")


def test_task_box_maps_projects_and_grids():
  box = TaskBox((-2.0, 1.0), (2.0, 3.0))
  psi = jnp.array([[0.0, 2.0], [2.0, 3.0], [-2.0, 1.0]])
  np.testing.assert_allclose(box.to_unit(psi), [[0, 0], [1, 1], [-1, -1]], atol=1e-6)
  np.testing.assert_allclose(box.from_unit(box.to_unit(psi)), psi, atol=1e-6)
  np.testing.assert_allclose(box.project(jnp.array([5.0, -5.0])), [2.0, 1.0])
  grid = box.grid(3)
  assert grid.shape == (9, 2)
  np.testing.assert_allclose(grid[0], [-2, 1]) and np.testing.assert_allclose(grid[-1], [2, 3])
  for sample in (box.sample_uniform(jax.random.key(0), 500), box.sample_gaussian(jax.random.key(1), 500)):
    assert sample.shape == (500, 2)
    assert bool(jnp.all((sample >= jnp.array(box.lo)) & (sample <= jnp.array(box.hi))))
  wide = box.widened(0.25)
  assert wide.lo == (-3.0, 0.5) and wide.hi == (3.0, 3.5)
  with pytest.raises(ValueError, match="lo < hi"):
    TaskBox((1.0,), (0.0,))


def test_reward_from_stored_features_matches_env(family):
  env = family.env
  traj = real_rollouts(env, lambda o, k: jax.random.uniform(k, (2,), minval=-1, maxval=1), jax.random.key(0), 4)
  psi = jnp.array([0.5, -1.0])
  direct = (env.alive - env.ctrl * jnp.sum(jnp.clip(traj.action, -1, 1) ** 2, -1)
            - jnp.abs(traj.next_obs[..., 0] - psi[0]) - jnp.abs(traj.next_obs[..., 1] - psi[1]))
  np.testing.assert_allclose(family.reward(traj.c, traj.f, psi), direct, rtol=1e-6)
  # consecutive steps chain: next_obs_t == obs_{t+1}
  np.testing.assert_allclose(traj.next_obs[:, :-1], traj.obs[:, 1:])


@pytest.mark.parametrize("name", ["point_mass", "point_mass_corner", "point_mass_pockets"])
def test_every_target_in_the_box_is_a_reachable_equilibrium(name):
  """For each velocity g of a 9 x 9 grid over the box there is an action |a_i| <= 0.9 holding
  v = g, u = a fixed (the corner regime turns the thrust, it does not weaken it)."""
  env = make_family(name).env
  for g in make_family(name).box.grid(9):
    # at equilibrium u = a and thrust = drag: solve gain R(angle(g)) a = drag(g) for a
    speed = jnp.linalg.norm(g)
    angle = env.thrust_angle(g, speed)
    rot = jnp.array([[jnp.cos(angle), -jnp.sin(angle)], [jnp.sin(angle), jnp.cos(angle)]])
    drag = (env.b1 + env.b2 * speed + env.b3 * jax.nn.relu(speed - env.v_turb)) * g
    a = jnp.linalg.solve(env.gain * rot, drag)
    assert float(jnp.max(jnp.abs(a))) <= 0.9, (g, a)
    s = jnp.concatenate([g, a])
    np.testing.assert_allclose(env.dynamics(s, a), s, atol=1e-5)


def test_corner_regime_turns_the_thrust_only_in_its_corner():
  """PointMass2D-Corner: at v = (1.8, 1.8) the thrust turns by a further ~90 degrees; at (1.8, 0),
  (0, 1.8), (-1.8, -1.8) and (0.6, 0.6) it turns as in PointMass2D (to 3e-3 rad)."""
  plain, corner = make_family("point_mass").env, make_family("point_mass_corner").env
  for v, extra in (((1.8, 1.8), np.pi / 2), ((1.8, 0.0), 0.0), ((0.0, 1.8), 0.0), ((-1.8, -1.8), 0.0),
                   ((0.6, 0.6), 0.0)):
    v = jnp.asarray(v)
    speed = jnp.linalg.norm(v)
    diff = float(corner.thrust_angle(v, speed) - plain.thrust_angle(v, speed))
    np.testing.assert_allclose(diff, extra, atol=3e-3)


def test_pockets_turn_the_thrust_only_in_their_two_pockets():
  """PointMass2D-Pockets: at both pocket centres the thrust turns by a further ~-90 degrees; at the
  corner regime's (1.8, 1.8), the box's corners, the centre and the grid tasks next to the pockets
  (2/3 away) it turns as in PointMass2D (to 3e-3 rad); each pocket holds one task of the 7 x 7 grid."""
  plain, pockets = make_family("point_mass").env, make_family("point_mass_pockets")
  outside = [(1.8, 1.8), (2.0, -2.0), (-2.0, 2.0), (-2.0, -2.0), (0.0, 0.0), (-2.0, 2.0 / 3.0), (-4.0 / 3.0, 0.0),
             (-2.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, -2.0 / 3.0), (4.0 / 3.0, -4.0 / 3.0)]
  for v, extra in [(c, -np.pi / 2) for c in pockets.env.pocket_centres] + [(v, 0.0) for v in outside]:
    v = jnp.asarray(v)
    speed = jnp.linalg.norm(v)
    diff = float(pockets.env.thrust_angle(v, speed) - plain.thrust_angle(v, speed))
    np.testing.assert_allclose(diff, extra, atol=3e-3)
  grid = np.asarray(pockets.box.grid(7))
  for centre in pockets.env.pocket_centres:
    assert np.sum(np.linalg.norm(grid - np.asarray(centre), axis=1) < pockets.env.pocket_radius) == 1


@pytest.mark.parametrize("name", ["point_mass", "point_mass_corner", "point_mass_pockets"])
def test_oracle_converges_and_beats_simple_controllers(name):
  family = make_family(name)
  psis = family.box.grid(2)
  v_star, curve = trajectory_optimisation_oracle(family, psis, jax.random.key(3), n_episodes=4, iters=1500)
  curve = np.asarray(curve)
  # flattened: the last fifth of the curve moved by less than 0.1% of the value
  assert np.all(np.abs(curve[-1] - curve[-len(curve) // 5]) < 1e-3 * np.abs(curve[-1]))
  # V* beats the best constant action (a crude controller) on the same episodes
  env = family.env
  starts = jax.vmap(env.reset)(jax.random.split(jax.random.key(3), 4))
  levels = jnp.linspace(-1, 1, 11)
  consts = jnp.stack(jnp.meshgrid(levels, levels), -1).reshape(-1, 2)

  @jax.jit
  def best_constant(psi):
    ret = lambda a, s0: open_loop_return(family, s0, jnp.tile(a, (env.horizon, 1)), psi)
    return jnp.max(jnp.mean(jax.vmap(lambda a: jax.vmap(lambda s0: ret(a, s0))(starts))(consts), axis=1))

  for i, psi in enumerate(psis):
    assert float(v_star[i]) >= float(best_constant(psi)) - 1e-3
  # the "do nothing" floor of the oracle tables: the zero action's return on the same episodes
  zero = zero_action_returns(family, psis, jax.random.key(3), 4)
  for i, psi in enumerate(psis):
    direct = jax.vmap(lambda s0: open_loop_return(family, s0, jnp.zeros((env.horizon, 2)), psi))(starts)
    np.testing.assert_allclose(zero[i], jnp.mean(direct), rtol=1e-5)
    assert float(v_star[i]) > float(zero[i])
  # corners are reachable: the mean per-step tracking loss is small (max return is alive * T)
  assert np.all(np.asarray(v_star) > 0.85 * env.alive * env.horizon)


def _random_data(env, key, n):
  uniform = lambda o, k: jax.random.uniform(k, (env.action_dim,), minval=-1, maxval=1)
  return real_rollouts(env, uniform, key, n)


def test_model_fits_dynamics_on_the_data_support(family):
  """Relative one-step error < 5% of the state change on held-out data from the same policy;
  larger off the support (fast, turbulent states the random policy never reaches)."""
  env = family.env
  model = DynamicsModel(env.obs_dim, env.action_dim, hidden=(128, 128), batch_size=128)
  state = model.init(jax.random.key(0))
  train = _random_data(env, jax.random.key(1), 64)
  buf = replay.add(replay.init_buffer(64, env.horizon, env.obs_dim, env.action_dim, env.feature_dim), train)
  state = model.update_normalisers(state, train)
  state, loss = jax.jit(model.fit, static_argnums=3)(state, buf, jax.random.key(2), 1500)

  def rel_error(data):
    pred = model.predict(state.params, state.norms, data.obs, data.action)
    err = jnp.linalg.norm(pred - data.next_obs, axis=-1)
    return float(jnp.mean(err) / jnp.mean(jnp.linalg.norm(data.next_obs - data.obs, axis=-1)))

  on_support = rel_error(_random_data(env, jax.random.key(9), 16))
  fast = real_rollouts(env, lambda o, k: jnp.array([0.85, 0.85]), jax.random.key(4), 4)
  off_support = rel_error(fast)
  assert on_support < 0.05, on_support
  assert off_support > 2 * on_support, (on_support, off_support)


def test_trpo_improves_return_and_respects_kl(family):
  env = family.env
  agent = TRPO(env.obs_dim, env.action_dim)
  psi = jnp.array([1.5, -1.0])

  def body(state, key):
    k_roll, k_upd = jax.random.split(key)
    traj = real_rollouts(env, agent.act_fn(state.policy), k_roll, 16)
    return agent.update(state, traj, family.reward(traj.c, traj.f, psi), k_upd)

  state0 = agent.init(jax.random.key(0))
  _, metrics = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, 40)))(state0, jax.random.key(1))
  returns = np.asarray(metrics["episode_return"])
  assert np.all(np.asarray(metrics["kl"]) <= agent.max_kl + 1e-7)
  assert np.mean(np.asarray(metrics["line_search_accepted"])) > 0.8
  assert returns[-5:].mean() > returns[:5].mean() + 30.0, (returns[:5], returns[-5:])


def test_test_task_sets_follow_the_spec():
  key = jax.random.key(0)
  assert TaskBox((-2.0, -2.0), (2.0, 2.0)).test_tasks(key, 7, (5, 5, 3), 256).shape == (49, 2)
  box3 = TaskBox((-3.0, -3.0, 0.4), (3.0, 3.0, 0.6))
  grid3 = np.asarray(box3.test_tasks(key, 7, (5, 5, 3), 256))
  assert grid3.shape == (75, 3) and sorted(set(grid3[:, 2].round(3))) == [0.4, 0.5, 0.6]
  box18 = TaskBox((-1.0,) * 18, (1.0,) * 18)
  tasks = np.asarray(box18.test_tasks(key, 7, (5, 5, 3), 256))
  assert tasks.shape == (256, 18) and np.all(np.abs(tasks) <= 1.0)
  assert np.sum(np.all(np.abs(tasks) == 1.0, axis=1)) == 128      # half on the box's corners


def test_oracle_table_finds_the_corners_and_centre_of_the_evaluation_grid():
  from admrl_jax.cli.oracle_table import corners_and_centre
  box = TaskBox((-2.0, 1.2), (2.0, 2.0))
  psis = np.asarray(box.grid(7))
  rows = corners_and_centre(box, psis)
  assert [label for label, _ in rows] == ["corner"] * 4 + ["centre"]
  assert {tuple(np.round(psis[i].astype(float), 4)) for _, i in rows[:4]} == {(-2.0, 1.2), (-2.0, 2.0), (2.0, 1.2), (2.0, 2.0)}
  assert np.allclose(psis[rows[4][1]], (0.0, 1.6), atol=1e-6)
  assert [label for label, _ in corners_and_centre(box, np.asarray(box.grid(4)))] == ["corner"] * 4  # no centre


def test_oracle_table_corner_set_holds_every_corner_up_to_eight_then_eight_distinct_ones():
  from admrl_jax.cli.oracle_table import box_corners_and_centre, corners_and_centre
  key = jax.random.key(0)
  for lo, hi, n_corners in [((-2.0, 1.2), (2.0, 2.0), 4), ((-1.0, -1.0, 0.0), (1.0, 1.0, 1.0), 8),
                            ((-1.0,) * 18, (1.0,) * 18, 8)]:
    box = TaskBox(lo, hi)
    psis = box_corners_and_centre(box, key)
    assert psis.shape == (n_corners + 1, len(lo))
    assert len({tuple(p) for p in psis}) == n_corners + 1                    # distinct
    rows = corners_and_centre(box, psis)                                     # the table labels them all
    assert [label for label, _ in rows] == ["corner"] * n_corners + ["centre"]


def test_policy_oracle_improves_on_its_start_and_takes_the_best_policy_it_went_through():
  """The policy oracle (TRPO on the true system per task, vmapped): the curve has one column per
  task and rises; V* is the best of the policies' mean-action returns (initial one included) and the
  final policy's sampled-action return."""
  from admrl_jax.config import build
  from admrl_jax.evaluation import Evaluator
  from admrl_jax.evaluation_protocol import EvaluationProtocol
  from admrl_jax.oracles.policy import policy_optimisation_oracle
  from tests.tiny_config import get_config
  config = get_config()
  config.eval.oracle = "policy"
  _, evaluator = build(config)
  oracle = EvaluationProtocol.from_config(config, evaluator).oracles[0]   # the config's numbers reach it
  assert (oracle.name, oracle.iters, oracle.episodes_per_update) == ("policy", 100, config.eval.oracle_episodes)
  learner = oracle.learner
  assert (learner.agent.gamma, learner.agent.lam) == (config.eval.oracle_gamma, config.eval.oracle_lam)
  psis = jnp.asarray([[1.0, -1.0], [0.0, 0.5]])
  v_star, curve = jax.jit(lambda p: policy_optimisation_oracle(learner, p, jax.random.key(1), jax.random.key(0),
                                                               n_eval_episodes=4, iters=40, episodes=8))(psis)
  assert curve.shape == (4, 2) and v_star.shape == (2,)
  assert np.all(np.isfinite(v_star)) and np.all(np.isfinite(curve))
  assert np.all(curve[-1] > curve[0] + 5.0), curve      # returns are about -150 before training
  # V* is at least the return of the untrained policy, the floor any learner starts from
  untrained = learner.agent.init(jax.random.key(5))
  start = [float(Evaluator(learner, n_episodes=4).policy_return(untrained, p, jax.random.key(0))) for p in psis]
  assert np.all(v_star > np.asarray(start)), (v_star, start)
  # with no update, V* is exactly max(mean-action, sampled-action return) of the initial policy, and
  # with updates never below the initial policy's mean-action return (about doing nothing)
  v0, curve0 = policy_optimisation_oracle(learner, psis, jax.random.key(1), jax.random.key(0), 4, iters=0, episodes=8)
  assert curve0.shape == (0, 2)
  evaluator4 = Evaluator(learner, n_episodes=4)
  for i, (psi, k, v) in enumerate(zip(psis, jax.random.split(jax.random.key(1), 2), v0)):
    k_init, _, k_act = jax.random.split(k, 3)
    state = learner.agent.init(k_init)
    mean_action = evaluator4.policy_return(state, psi, jax.random.key(0))
    sampled = evaluator4.policy_return(state, psi, jax.random.key(0), action_key=k_act, repeats=4)
    assert float(mean_action) != float(sampled)
    np.testing.assert_allclose(v, max(float(mean_action), float(sampled)), rtol=1e-5)
    assert float(v_star[i]) >= float(mean_action) - 1e-3       # the same initial policy (same key)


def test_mpc_plan_noise_is_normal_at_its_knots_and_linear_between():
  from admrl_jax.oracles.mpc import plan_noise
  key = jax.random.key(0)
  per_step = plan_noise(key, 4000, 10, 3, 0.5, knot_every=1)
  np.testing.assert_allclose(per_step, 0.5 * jax.random.normal(key, (4000, 11, 3))[:, :10], rtol=1e-6)
  noise = np.asarray(plan_noise(key, 4000, 10, 3, 0.5, knot_every=4))    # knots at steps 0, 4, 8 (and 12)
  assert noise.shape == (4000, 10, 3)
  np.testing.assert_allclose(np.std(noise[:, [0, 4, 8]], axis=0), 0.5, rtol=0.06)
  knots = np.asarray(0.5 * jax.random.normal(key, (4000, 4, 3)))        # the last one past the plan's end
  np.testing.assert_allclose(noise[:, [0, 4, 8]], knots[:, :3], atol=1e-6)
  for t in [1, 3, 6, 9]:
    w = (t % 4) / 4
    np.testing.assert_allclose(noise[:, t], (1 - w) * knots[:, t // 4] + w * knots[:, t // 4 + 1], atol=1e-5)


def test_mpc_oracle_is_a_real_policy_below_the_exact_optimum(family):
  """Predictive sampling on the true dynamics: its return is that of the actions it executed (a
  policy that exists, so a lower bound on V*), it does not exceed the exact trajectory optimum, and
  it recovers most of the way from doing nothing to that optimum at the corners."""
  from admrl_jax.oracles.mpc import mpc_episode, sampling_mpc_oracle
  from admrl_jax.rollout import evaluation_starts
  psis = jnp.array([[-2.0, -2.0], [2.0, -2.0], [0.5, 1.0]])
  key = jax.random.key(3)
  v_mpc, per_start = jax.jit(lambda p: sampling_mpc_oracle(family, p, key, 2, plan_horizon=20, samples=64,
                                                           sigma=0.5))(psis)
  assert per_start.shape == (2, 3)
  np.testing.assert_allclose(v_mpc, per_start.mean(axis=0), rtol=1e-6)
  s0 = jax.tree.map(lambda x: x[0], evaluation_starts(family.env, key, 2))
  ret, traj = jax.jit(lambda p: mpc_episode(family, p, s0, jax.random.key(5), 20, 64, 0.5))(psis[0])
  np.testing.assert_allclose(ret, open_loop_return(family, s0, traj.action, psis[0]), rtol=1e-5)
  v_exact, _ = trajectory_optimisation_oracle(family, psis, key, n_episodes=2, iters=1500)
  zero = zero_action_returns(family, psis, key, 2)
  assert np.all(np.asarray(v_mpc) <= np.asarray(v_exact) + 1e-3 * np.abs(np.asarray(v_exact)))
  assert np.all(np.asarray(v_mpc - zero) >= 0.7 * np.asarray(v_exact - zero))


@dataclasses.dataclass(frozen=True)
class _FallingEnv:
  """A 1-D toy env that terminates at its third step; after that its physics blows up (NaN features).
  Its feature is ``feature`` while alive."""

  feature: float = 0.0
  horizon, obs_dim, action_dim = 6, 1, 1

  def reset(self, key):
    return jnp.zeros(1)

  def observe(self, state):
    return state

  def step(self, state, action):
    nxt = state + 1.0
    blown = nxt[0] > 3.0
    c = jnp.where(blown, jnp.nan, 1.0 + 0.0 * action[0])
    f = jnp.where(blown, jnp.inf, self.feature) * jnp.ones(1)
    return nxt, Transition(state, action, jnp.where(blown, jnp.nan, nxt), c, f, (nxt[0] >= 3.0).astype(jnp.float32))


def test_one_masked_episode_scan_serves_rollouts_plans_mpc_and_the_zero_action():
  """Every return is the masked sum of ``rollout.episode_scan``: three alive steps (the terminating
  one included) count, and the NaN physics after the fall reaches no return (open-loop plans and MPC
  multiplied rewards by their own alive flag before, so a blow-up after a fall made them NaN)."""
  from admrl_jax.adapt import episode_returns
  from admrl_jax.oracles.mpc import mpc_episode, mpc_features
  from admrl_jax.rollout import rollout
  env = _FallingEnv()
  fam = TaskFamily("falling", TaskBox((-1.0,), (1.0,)), lambda c, f, psi: c - jnp.sum(jnp.abs(f - psi), axis=-1), env)
  psi, s0 = jnp.zeros(1), env.reset(None)
  traj = rollout(env.step, env.observe, lambda obs, k: jnp.zeros(1), s0, jax.random.key(0), env.horizon)
  np.testing.assert_array_equal(traj.done, [0, 0, 1, 1, 1, 1])
  np.testing.assert_array_equal(traj.c, [1, 1, 1, 0, 0, 0])            # masked steps: zero c, f
  assert float(episode_returns(fam, traj, psi)) == 3.0
  assert float(open_loop_return(fam, s0, jnp.zeros((env.horizon, 1)), psi)) == 3.0
  ret, traj = jax.jit(lambda p: mpc_episode(fam, p, s0, jax.random.key(1), 2, 4, 0.5))(psi)
  assert float(ret) == 3.0 and traj.action.shape == (env.horizon, 1)
  raised = dataclasses.replace(env, feature=2.0)            # f = 2 while alive: the mean over alive steps is 2
  fam2 = TaskFamily("falling", fam.box, fam.reward, raised)
  mean_f, alive = mpc_features(fam2, psi, jax.random.key(1), 2, 4, 0.5)   # (over all T steps it would be 1)
  assert float(alive) == 3.0 and float(mean_f[0]) == 2.0
  np.testing.assert_array_equal(zero_action_returns(fam, psi[None], jax.random.key(2), 2), [3.0])
