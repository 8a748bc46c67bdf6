"""The Brax task families: rewards from stored (c, f) against the SPEC's formulas on the raw physics
state, velocity features against finite differences of the torso position, termination thresholds,
model-side features equal to real-side ones, and psi as a traced argument (no recompilation)."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax.envs import make_family
from admrl_jax.rollout import model_step_fn
from admrl_jax.types import alive_mask

STEPS = 30
EPISODES = 4


def _spec_reward(name, z1, q1, qd1, action, psi, stats=None):
  """SPEC section 4's reward on the physics state after the step: the torso's world height z1
  (Brax's x.pos), generalised coordinates q1 and velocities qd1."""
  a, a_c = action, jnp.clip(action, -1.0, 1.0)
  if name in ("hopper_2d", "walker_2d"):
    return 10 - 0.001 * jnp.sum(a**2) - jnp.abs(qd1[0] - psi[0]) - 5 * jnp.abs(z1 - psi[1])
  if name == "half_cheetah_2d":
    return -0.1 * jnp.sum(a**2) - jnp.abs(qd1[0] - psi[0]) - jnp.abs(z1 - psi[1])
  if name == "ant_2d":
    return -jnp.abs(qd1[0] - psi[0]) - jnp.abs(qd1[1] - psi[1]) - 0.005 * jnp.sum(a_c**2) + 0.05 + 5
  if name == "ant_3d":
    return (-jnp.abs(qd1[0] - psi[0]) - jnp.abs(qd1[1] - psi[1]) - 30 * jnp.abs(z1 - psi[2])
            - 0.005 * jnp.sum(a_c**2) + 0.05 + 3)
  if name == "humanoid_3d":
    return (-jnp.abs(qd1[0] - psi[0]) - jnp.abs(qd1[1] - psi[1]) - 7.5 * jnp.abs(z1 - psi[2])
            + 5 - 0.1 * jnp.sum(a_c**2))
  if name == "half_cheetah_linear":
    s = (jnp.concatenate([q1, qd1]) - stats[0]) / stats[1]
    return -0.05 * jnp.sum(a_c**2) + jnp.dot(psi, s)
  raise ValueError(name)


def _rollout(family, key):
  """EPISODES x STEPS real steps with random actions in [-1.2, 1.2] (some clipped), keeping the
  physics state: (Transition [E, T], q0 [E, T, nq], q1, qd1, torso height z1 [E, T])."""
  env = family.env

  def one(k):
    k0, k1 = jax.random.split(k)

    def body(state, kk):
      action = jax.random.uniform(kk, (env.action_dim,), minval=-1.2, maxval=1.2)
      nxt, tr = env.step(state, action)
      ps, nps = state.pipeline_state, nxt.pipeline_state
      return nxt, (tr, ps.q, nps.q, nps.qd, nps.x.pos[0, 2])

    _, out = jax.lax.scan(body, env.reset(k0), jax.random.split(k1, STEPS))
    return out

  return jax.jit(jax.vmap(one))(jax.random.split(key, EPISODES))


FAMILY_NAMES = ["hopper_2d", "walker_2d", "ant_2d", "ant_3d", "half_cheetah_2d", "half_cheetah_linear",
                "humanoid_3d"]


@pytest.fixture(scope="module", params=FAMILY_NAMES)
def rolled(request):
  family = make_family(request.param)
  return request.param, family, _rollout(family, jax.random.key(0))


def test_reward_from_stored_c_f_equals_spec_reward_on_the_physics_state(rolled):
  name, family, (tr, q0, q1, qd1, z1) = rolled
  stats = None
  if name == "half_cheetah_linear":
    raw = json.load(open(__import__("admrl_jax.envs.brax_tasks", fromlist=["x"]).HALF_CHEETAH_LINEAR_STATS))
    stats = (jnp.asarray(raw["mean"]), jnp.asarray(raw["std"]))
  box = family.box
  for psi in (box.from_unit(jnp.full(box.dim, -0.7)), box.from_unit(jnp.linspace(-1.0, 1.0, box.dim))):
    from_features = family.reward(tr.c, tr.f, psi)
    spec = jax.vmap(jax.vmap(lambda a, b, c, d: _spec_reward(name, a, b, c, d, psi, stats)))(
        z1, q1, qd1, tr.action)
    np.testing.assert_allclose(np.asarray(from_features), np.asarray(spec), rtol=1e-5, atol=1e-4)


def test_velocity_feature_matches_finite_difference_of_torso_position(rolled):
  name, family, (tr, q0, q1, qd1, _) = rolled
  if name == "half_cheetah_linear":
    pytest.skip("its features are the whole standardised state, checked against (q, qd) above")
  dims = 1 if name in ("hopper_2d", "walker_2d", "half_cheetah_2d") else 2
  fd = np.asarray((q1[..., :dims] - q0[..., :dims]) / family.env.dt)   # torso x (and y) displacement / dt
  vel = np.asarray(tr.f[..., :dims])                                  # the velocity feature: qd after the step
  alive = np.asarray(alive_mask(tr.done), bool)
  both = alive[:, 1:] & alive[:, :-1]
  # the feature is the end-of-step velocity; the difference averages over the frame skip, which the
  # trapezoid of the velocities before and after the step matches (measured: 3-11 % of |dx/dt| for
  # hopper, walker, ant, humanoid; 30 % for halfcheetah, whose 50 ms step spans sharp accelerations)
  trapezoid = 0.5 * (vel[:, :-1] + vel[:, 1:])
  scale = np.abs(fd[:, 1:][both]).mean() + 0.05
  err = np.abs(trapezoid - fd[:, 1:])[both].mean()
  print(f"{name}: mean |trapezoid(v) - dx/dt| = {err:.3f}, mean |dx/dt| = {scale:.3f}")
  assert err < 0.4 * scale, (err, scale)
  assert np.corrcoef(trapezoid[both].ravel(), fd[:, 1:][both].ravel())[0, 1] > 0.9


def test_model_side_features_equal_real_side_on_the_same_transition(rolled):
  name, family, (tr, *_) = rolled
  env = family.env
  obs, action, next_obs = tr.obs[0, 3], tr.action[0, 3], tr.next_obs[0, 3]

  class PerfectModel:  # predicts the real next observation of this one transition
    def predict(self, params, norms, o, a):
      return next_obs

  model_obs, model_tr = model_step_fn(PerfectModel(), type("S", (), {"params": None, "norms": None}), env)(
      obs, action)
  np.testing.assert_array_equal(np.asarray(model_obs), np.asarray(next_obs))
  for field in ("c", "f", "done"):   # equal up to float rounding (eager here, jitted in the rollout)
    np.testing.assert_allclose(np.asarray(getattr(model_tr, field)), np.asarray(getattr(tr, field)[0, 3]),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,obs_index,threshold,above_is_done", [  # obs 0: height, 1: angle
    ("hopper_2d", 0, 0.7, False),     # height <= 0.7 ends the episode
    ("hopper_2d", 1, 0.2, True),      # |angle| >= 0.2
    ("hopper_2d", 1, -0.2, False),
    ("walker_2d", 0, 0.8, False),     # height outside (0.8, 2.0)
    ("walker_2d", 0, 2.0, True),
    ("walker_2d", 1, 1.0, True),      # angle outside (-1, 1)
    ("walker_2d", 1, -1.0, False),
    ("ant_2d", 0, 0.2, False),        # torso z outside [0.2, 1.0]
    ("ant_2d", 0, 1.0, True),
    ("ant_3d", 0, 0.2, False),
    ("humanoid_3d", 0, 0.8, False),   # torso z outside (0.8, 2.0)
    ("humanoid_3d", 0, 2.0, True),
])
def test_termination_at_thresholds(name, obs_index, threshold, above_is_done):
  env = make_family(name).env
  healthy = {"hopper_2d": (1.25, 0.0), "walker_2d": (1.25, 0.0), "ant_2d": (0.55, 0.0), "ant_3d": (0.55, 0.0),
             "humanoid_3d": (1.4, 0.0)}[name]
  to_obs = lambda value: value - env.height_offset if obs_index == 0 else value  # obs[0] = height - offset
  base = jnp.zeros(env.obs_dim).at[0].set(to_obs(healthy[0])).at[1].set(healthy[1])
  done = lambda x: float(env.terminated(base.at[obs_index].set(to_obs(x))))
  assert done(healthy[obs_index]) == 0.0
  eps = 1e-3
  outside, inside = (threshold + eps, threshold - eps) if above_is_done else (threshold - eps, threshold + eps)
  assert done(outside) == 1.0 and done(inside) == 0.0
  boundary_closed = {("ant_2d", 0.2), ("ant_2d", 1.0), ("ant_3d", 0.2)}   # [0.2, 1.0] is healthy
  assert done(threshold) == (0.0 if (name, threshold) in boundary_closed else 1.0)
  assert float(env.terminated(base.at[2].set(jnp.nan))) == 1.0          # non-finite state


def test_new_psi_recompiles_nothing():
  family = make_family("hopper_2d")

  @chex.assert_max_traces(n=1)   # a second trace (a new psi recompiling) raises
  def episode_return(psi, key):
    state = family.env.reset(key)
    _, tr = family.env.step(state, jnp.zeros(family.env.action_dim))
    return family.reward(tr.c, tr.f, psi)

  f = jax.jit(episode_return)
  values = [float(f(jnp.asarray(psi), jax.random.key(0))) for psi in ([0.0, 1.2], [2.0, 2.0], [-2.0, 1.5])]
  assert len(set(values)) == 3


def test_mjx_backend_resets_and_steps_ant_2d():
  """The configs run ant_2d, ant_3d and humanoid_3d on MJX (brax_family.BACKEND): one jitted
  reset and a few steps of ant_2d on it give finite observations, rewards and features, a healthy
  ant, and a state that moves. Compiled with XLA's expensive passes off (a quarter less compile time:
  about 35 s on 2 idle cores, 15 s from the tests' compilation cache)."""
  from admrl_jax.configs.brax_family import BACKEND
  assert BACKEND["ant_2d"] == "mjx"
  family = make_family("ant_2d", "mjx")
  env, steps = family.env, 5

  def episode(key):
    def body(state, k):
      return env.step(state, jax.random.uniform(k, (env.action_dim,), minval=-1.0, maxval=1.0))
    return jax.lax.scan(body, env.reset(key), jax.random.split(key, steps))[1]

  fast = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
  tr = jax.jit(episode).lower(jax.random.key(0)).compile(compiler_options=fast)(jax.random.key(0))
  # (not env.obs_dim: Brax computes it by an eager reset, 90 s of op-by-op compiles on MJX)
  chex.assert_rank(tr.obs, 2)
  chex.assert_equal_shape([tr.obs, tr.next_obs])
  chex.assert_shape((tr.obs[:, 0], tr.c, tr.done), (steps,))
  chex.assert_shape(tr.f, (steps, family.box.dim))
  reward = family.reward(tr.c, tr.f, family.box.from_unit(jnp.full(family.box.dim, 0.5)))
  for name, x in (("obs", tr.obs), ("next_obs", tr.next_obs), ("c", tr.c), ("f", tr.f), ("reward", reward)):
    assert np.all(np.isfinite(np.asarray(x))), name
  assert not np.any(np.asarray(tr.done))                                     # 5 steps: still upright
  np.testing.assert_array_equal(np.asarray(tr.obs[1:]), np.asarray(tr.next_obs[:-1]))
  assert np.max(np.abs(np.asarray(tr.next_obs[-1] - tr.obs[0]))) > 1e-3       # the physics moved it


@pytest.mark.slow   # a Brax training run and its model planner: 160 s (CI runs it with -m slow)
def test_tiny_admrl_run_on_hopper_completes(tmp_path):
  from admrl_jax.runner import train
  from tests.tiny_config import get_config
  c = get_config("admrl")
  c.family, c.backend = "hopper_2d", "positional"
  c.loop.num_tasks = 1
  c.eval.oracle = "policy"
  result = train(c, str(tmp_path), log=lambda *_: None)
  assert int(result.state.iteration) == 2
  assert len(result.history) == 2
  for row in result.history:
    assert np.all(np.isfinite(np.asarray(row["task_gradient"]))) and np.isfinite(row["cg_residual"]).all()
  box = make_family("hopper_2d").box
  psi = np.asarray(result.state.psi)
  assert np.all((psi >= np.asarray(box.lo)) & (psi <= np.asarray(box.hi)))
  # real steps: 4 random episodes + 2 iterations x 3 collections x 2 episodes, each at most 200 steps
  assert 0 < int(result.state.real_steps) <= (4 + 2 * 3 * 2) * 200
  # the Brax model planner (MPC through the learned model, run on the simulator): finite and deterministic
  from admrl_jax.oracles.planner import ModelPlanner
  planner = ModelPlanner("mpc", episodes=1, samples=4, plan_horizon=5, sigma=0.5, knot_every=5)
  tasks, key = jnp.asarray([[-2.0, 1.2], [2.0, 2.0]]), jax.random.key(0)
  real, _, _ = planner(result.evaluator.learner, result.state.model, tasks, key)
  again, _, _ = planner(result.evaluator.learner, result.state.model, tasks, key)
  assert np.all(np.isfinite(real)) and np.all(real > 0)
  np.testing.assert_array_equal(real, again)


@pytest.mark.slow   # four Brax builds: 27 s (CI runs it with -m slow)
def test_oracle_cache_key_is_the_same_for_every_build_of_a_family(tmp_path):
  """The V* cache must be found again by another process: its key holds no object address."""
  import dataclasses
  from admrl_jax.oracles.cache import oracle_cache_path
  psis, key, budget = jnp.asarray([[0.0, 1.2], [2.0, 2.0]]), jax.random.key(0), {"kind": "policy", "iters": 3}
  path = lambda family: oracle_cache_path(family, psis, key, budget, str(tmp_path))
  from admrl_jax.envs import brax_tasks
  first, second = brax_tasks.hopper_2d("positional"), brax_tasks.hopper_2d("positional")  # two builds
  assert first.env is not second.env and path(first) == path(second)
  assert path(brax_tasks.hopper_2d("generalized")) != path(first)
  assert path(brax_tasks.hopper_2d("positional", horizon=100)) != path(first)
  unstable = dataclasses.replace(first, env=object())          # repr "<object object at 0x...>"
  with pytest.raises(ValueError, match="object address"):
    path(unstable)


def test_importing_brax_prints_nothing_to_stdout():
  """mujoco.mjx (imported with brax) prints "Failed to import warp" to stdout without its optional warp
  backend; the command lines' stdout goes into docs/ as tables, so brax is imported with printing sent to
  stderr, both lazily (a family's env) and by the multitask baseline's module."""
  import subprocess
  import sys
  code = ("from admrl_jax.envs.brax_tasks import _brax_env; _brax_env('hopper', 'positional', None); "
          "import admrl_jax.meta_rl.multitask")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout == ""
