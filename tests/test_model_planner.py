"""The model planner (``oracles.planner``): MPC with the learned model as its simulator (Brax families'
planner) is the MPC oracle itself when its model is the true dynamics, and deterministic given its key;
each family gets the planner its V* is found with."""
import jax
import jax.numpy as jnp
import numpy as np

from admrl_jax.config import build
from admrl_jax.configs.brax_family import brax_config
from admrl_jax.envs import make_family
from admrl_jax.oracles.mpc import mpc_returns, sampling_mpc_oracle
from admrl_jax.oracles.planner import ModelPlanner

PSIS = jnp.asarray([[1.5, -1.0], [-2.0, 2.0], [0.0, 0.5]])
MPC = dict(n_episodes=2, plan_horizon=5, samples=16, sigma=0.5, knot_every=2)


def test_mpc_planner_with_the_true_dynamics_as_its_model_is_the_mpc_oracle():
  """On PointMass2D the observation is the state, so the true step can stand in for a learned model's
  (obs -> obs): scored through the model path (from the observation), the plans and returns are the
  oracle's (scored on the environment's state), start by start."""
  family = make_family("point_mass")
  key = jax.random.key(3)
  _, oracle = jax.jit(lambda p: sampling_mpc_oracle(family, p, key, **MPC))(PSIS)
  planner = jax.jit(jax.vmap(lambda p: mpc_returns(family, p, key, model_step=family.env.step, **MPC)))(PSIS)
  np.testing.assert_allclose(np.asarray(planner).T, np.asarray(oracle), rtol=1e-6)
  assert np.ptp(np.asarray(oracle)) > 1.0          # the tasks differ: a real comparison, not a constant


def test_mpc_model_planner_is_deterministic_given_its_key_and_uses_the_model(tiny):
  c = tiny()
  c.eval.episodes = 2
  _, ev = build(c)
  learner = ev.learner
  planner = ModelPlanner("mpc", episodes=2, samples=8, plan_horizon=5, sigma=0.5, knot_every=1)
  episodes = learner.real_batch(learner.agent.init(jax.random.key(2)), jax.random.key(3), 4)   # the normalisers'
  models = [learner.model.update_normalisers(learner.model.init(jax.random.key(s)), episodes) for s in (0, 1)]
  key = jax.random.key(7)
  first, predicted, curve = planner(learner, models[0], PSIS, key)
  again, _, _ = planner(learner, models[0], PSIS, key)
  other, _, _ = planner(learner, models[1], PSIS, key)
  assert predicted is None and curve is None
  np.testing.assert_array_equal(first, again)
  assert np.all(np.isfinite(first)) and not np.allclose(first, other)   # another model plans otherwise


def test_each_family_gets_the_planner_of_its_oracle():
  """Brax families: MPC through the model with the MPC oracle's plan shape; PointMass: the trajectory planner."""
  hopper = brax_config("hopper_2d", "cpu")
  planner = ModelPlanner.of(hopper.eval, "hopper_2d")
  assert (planner.kind, planner.samples, planner.plan_horizon, planner.knot_every) == (
      "mpc", hopper.eval.planner_samples, hopper.eval.mpc_plan_horizon, hopper.eval.mpc_knot_every)
  from admrl_jax.configs.point_mass_study import get_config
  study = get_config()
  assert ModelPlanner.of(study.eval, "point_mass") == ModelPlanner("trajectory", study.eval.episodes, iters=500)
  study.eval.planner_kind = "mpc"
  assert ModelPlanner.of(study.eval, "point_mass").kind == "mpc"


def test_trajectory_planner_floor_at_the_oracles_budget_is_the_trajectory_oracle():
  """oracles.planner.trajectory_planner_floor (experiments.planner_floor): the trajectory planner with the
  true dynamics as its model, at the oracle's Adam steps, on the evaluation's test sets and start states,
  returns what the trajectory oracle returns (PointMass2D-Corner: its observation is its state), task by
  task; so its gap against the oracle at the evaluation's own (smaller) planner budget is the optimiser's,
  not a model's. (Not through experiments.planner_floor: importing a command module defines --config.)"""
  from admrl_jax.evaluation_protocol import EvaluationProtocol
  from admrl_jax.oracles.planner import trajectory_planner_floor
  from admrl_jax.oracles.trajectory import trajectory_optimisation_oracle
  from tests.tiny_config import get_config

  config = get_config("unif")
  config.family = "point_mass_corner"
  config.eval.model_planner = "on"
  config.eval.planner_iters = config.eval.oracle_iters = 100
  _, evaluator = build(config)
  protocol = EvaluationProtocol.from_config(config, evaluator)
  assert set(protocol.test_sets) == {"in_box", "ood"}
  for psis in protocol.test_sets.values():
    returns = trajectory_planner_floor(protocol.planner, protocol.family, psis, protocol.eval_key)
    oracle, _ = trajectory_optimisation_oracle(make_family("point_mass_corner"), psis,
                                               jax.random.key(config.eval.seed), config.eval.episodes, 100)
    np.testing.assert_allclose(np.asarray(returns), np.asarray(oracle), rtol=1e-5, atol=1e-4)
    assert np.ptp(np.asarray(returns)) > 1.0


def test_mpc_audit_plays_the_planners_actions_and_a_true_model_promises_what_it_gets():
  """The audited episode is the planner's own (same return, start by start); with the true dynamics as its
  model every chosen plan's predicted score equals its true return (optimism 0); with a biased model the
  two differ and the episode is still the one that model's planner plays."""
  from admrl_jax.oracles.mpc import mpc_audit, mpc_episode
  from admrl_jax.rollout import evaluation_starts
  family = make_family("point_mass")
  s0 = jax.tree.map(lambda x: x[0], evaluation_starts(family.env, jax.random.key(3), 1))
  args = dict(plan_horizon=5, samples=16, sigma=0.5, knot_every=2)
  true_step = family.env.step
  drifted = lambda obs, a: (lambda nxt, tr: (nxt + 0.3, tr.replace(next_obs=nxt + 0.3)))(*true_step(obs, a))
  for step, exact in ((true_step, True), (drifted, False)):
    played, _ = jax.jit(lambda p: mpc_episode(family, p, s0, jax.random.key(5), model_step=step, **args))(PSIS[0])
    ret, predicted, true, alive = jax.jit(lambda p: mpc_audit(family, p, s0, jax.random.key(5), model_step=step,
                                                              **args))(PSIS[0])
    np.testing.assert_allclose(ret, played, rtol=1e-6)
    assert predicted.shape == true.shape == alive.shape == (family.env.horizon,)
    gap = np.abs(np.asarray(predicted - true))[np.asarray(alive) > 0]
    assert (np.max(gap) < 1e-4 * np.max(np.abs(np.asarray(true)))) if exact else (np.max(gap) > 1e-2)
