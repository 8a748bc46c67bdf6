"""The outer loop: compiles once, deterministic per seed, config validation, and the whole job."""
import json
import os
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax import hyperparams
from admrl_jax.config import ConfigError, build, validate
from admrl_jax.runner import train_and_evaluate
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def admrl_run():
  """Two chunks of one iteration, hyper-parameters traced, a trace counter around the jitted chunk.

  The chunk is jitted as ``runner.train`` jits it (a lambda, the state donated), so it is the same
  program: compiled here once, ``train`` loads it from the persistent compilation cache (the main job
  below, tests/test_cli.py's non-finite run, tests/test_evaluation_protocol.py's tiny run). Each call
  donates a copy, so the states the tests keep stay usable."""
  config = tiny_config("admrl")
  loop, evaluator = build(config)
  hp = hyperparams.from_config(config)
  traces = []   # appended to only while tracing
  traced = jax.jit(lambda s, h: (traces.append(1), loop.run_chunk(s, 1, h))[1], donate_argnums=0)
  run = lambda state, h=hp: traced(jax.tree.map(lambda x: x.copy(), state), h)
  state0 = loop.init(jax.random.key(0))
  s1, m1 = run(state0)
  s2, m2 = run(s1)
  return loop, evaluator, run, traces, state0, (s1, m1), (s2, m2)


def test_new_iteration_and_new_tasks_compile_nothing(admrl_run):
  loop, evaluator, run, traces, state0, (s1, m1), (s2, m2) = admrl_run
  assert len(traces) == 1
  moved = s2.replace(psi=loop.family.box.sample_uniform(jax.random.key(5), loop.num_tasks))
  run(moved)
  assert len(traces) == 1
  # a new task for zero-shot adaptation reuses the compiled function
  @chex.assert_max_traces(n=1)   # a second trace (a recompile) raises
  def zero_shot(psi, key):
    return evaluator.learner.zero_shot(s2.model, psi, key, 2).policy

  f = jax.jit(zero_shot)
  for psi in ([0.0, 0.0], [1.5, -2.0], [-1.0, 2.0]):
    f(jnp.asarray(psi), jax.random.key(1))


def test_traced_hyperparameters_equal_constants_and_new_values_compile_nothing(admrl_run):
  """The traced step is bit-equal to the step with the config's values baked in as constants; a new
  ascent step (or trust region, or model learning rate) reuses the compiled step and takes effect."""
  loop, _, run, traces, state0, (s1, m1), _ = admrl_run
  s_const, m_const = jax.jit(lambda s: loop.run_chunk(s, 1))(state0)
  for a, b in zip(jax.tree.leaves((s1.psi, s1.model.params, m1)), jax.tree.leaves((s_const.psi, s_const.model.params,
                                                                                      m_const))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  hp = hyperparams.from_config(tiny_config("admrl"))
  n = len(traces)
  box = loop.family.box
  for step in (0.05, 0.2):
    s, m = run(state0, hp.replace(ascent_step=jnp.float32(step), max_kl=jnp.float32(0.02),
                                  model_learning_rate=jnp.float32(3e-3)))
    moved = np.linalg.norm(np.asarray(box.to_unit(s.psi)) - np.asarray(box.to_unit(m["psi"][0])), axis=-1)
    inside = np.all(np.abs(np.asarray(box.to_unit(s.psi))) < 1.0, axis=-1)  # not stopped at a face
    assert inside.any()
    np.testing.assert_allclose(moved[inside], step, rtol=1e-4)
  assert len(traces) == n


def test_loop_metrics_are_finite_and_counters_advance(admrl_run):
  loop, _, _, _, state0, (s1, m1), (s2, m2) = admrl_run
  per_iteration = loop.num_tasks * loop.collections_per_iteration * loop.real_episodes * loop.family.env.horizon
  assert int(state0.real_steps) == loop.initial_episodes * loop.family.env.horizon
  assert int(s1.real_steps) - int(state0.real_steps) == per_iteration
  assert int(s2.real_steps) - int(s1.real_steps) == per_iteration
  assert int(s2.iteration) == 2 and int(s2.buffer.size) == 4 + 2 * per_iteration // loop.family.env.horizon
  for m in (m1, m2):
    for name, value in m.items():
      assert np.all(np.isfinite(np.asarray(value))), name
  # the adversary moved every task and stayed in the box
  assert not np.allclose(np.asarray(s2.psi), np.asarray(m2["psi"][0]))
  box = loop.family.box
  assert np.all((np.asarray(s2.psi) >= np.asarray(box.lo)) & (np.asarray(s2.psi) <= np.asarray(box.hi)))


def test_buffer_tasks_name_the_task_each_real_episode_was_collected_for(admrl_run):
  """``model_error.buffer_tasks`` reads the buffer as the loop filled it: the episodes it assigns to an
  iteration's first collection (theta_hat's) and last (theta*'s) have, under their task, the mean
  returns the loop logged as return_hat and return_star."""
  from admrl_jax.adapt import episode_returns
  from admrl_jax.model_error import buffer_tasks
  loop, _, _, _, _, (s1, m1), (s2, m2) = admrl_run
  psi = np.concatenate([np.asarray(m1["psi"]), np.asarray(m2["psi"])])          # [2, K, k]
  size, K = int(s2.buffer.size), loop.num_tasks
  tasks = buffer_tasks(psi, loop.initial_episodes, loop.collection_episodes, size)
  assert tasks.shape == (size, psi.shape[-1]) and np.isnan(tasks[:loop.initial_episodes]).all()
  data = jax.tree.map(lambda x: x[:size], s2.buffer.data)
  episodes = loop.collection_episodes
  per_iteration, first, last = K * sum(episodes), episodes[0], episodes[-1]
  for i, m in enumerate((m1, m2)):
    base = loop.initial_episodes + i * per_iteration
    for kind, start, n in (("return_hat", base, first), ("return_star", base + per_iteration - K * last, last)):
      for task in range(K):
        idx = np.arange(start + task * n, start + (task + 1) * n)
        np.testing.assert_array_equal(tasks[idx], np.broadcast_to(psi[i, task], (n, psi.shape[-1])))
        traj = jax.tree.map(lambda x: x[idx], data)
        np.testing.assert_allclose(float(jnp.mean(episode_returns(loop.family, traj, jnp.asarray(tasks[idx[0]])))),
                                   float(np.asarray(m[kind])[0, task]), rtol=1e-5)
  with pytest.raises(ValueError, match="whole iterations"):
    buffer_tasks(psi, loop.initial_episodes, loop.collection_episodes, size - 1)


def test_same_seed_same_numbers(admrl_run):
  loop, _, run, _, _, (s1, m1), _ = admrl_run
  again, m_again = run(loop.init(jax.random.key(0)))
  for a, b in zip(jax.tree.leaves(m1), jax.tree.leaves(m_again)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  other, m_other = run(loop.init(jax.random.key(1)))
  assert not np.allclose(np.asarray(m1["return_hat"]), np.asarray(m_other["return_hat"]))


@pytest.mark.parametrize("field,value,message", [
    ("family", "cheetah", r"family: unknown value 'cheetah'; allowed: \['ant_2d', 'ant_3d', 'half_cheetah_2d', 'half_cheetah_linear', 'hopper_2d', 'humanoid_3d', 'point_mass', 'point_mass_corner', 'point_mass_pockets', 'walker_2d'\]"),
    ("method", "reptile", r"method: unknown value 'reptile'; allowed: \['admrl', 'gap_search', 'gauss', 'maml', 'multitask', 'pearl', 'plr', 'random_walk', 'unif'\]"),
    ("loop.iterations", 0, r"loop.iterations: must be a positive integer, got 0"),
    ("trpo.max_kl", -1.0, r"trpo.max_kl: must be a positive number, got -1.0"),
    ("task_gradient.solver", "lu", r"task_gradient.solver: unknown value 'lu'; allowed: \['normal', 'direct'\]"),
    ("logging.wandb", "cloud", r"logging.wandb: unknown value 'cloud'; allowed: \['offline', 'online', 'disabled'\]"),
    ("task.hi", (1.0, 1.0), r"task.lo, task.hi: give both bounds of the task box or neither"),
    ("checkpoint.every", 0, r"checkpoint.every: must be a positive integer, got 0"),
    ("checkpoint.keep", -1, r"checkpoint.keep: must be a non-negative integer \(0: no limit\), got -1"),
    ("eval.mpc_samples", -8, r"eval.mpc_samples: must be a non-negative integer \(0: off\), got -8"),
    ("eval.mpc_sigma", 0.0, r"eval.mpc_sigma: must be a positive number, got 0.0"),
    ("devices", 3, r"devices: must divide loop.num_tasks=2 \(tasks are split over devices\), got 3"),
    ("task_gradient.p_episodes", 5, r"task_gradient.p_episodes: the iteration's 6 real episodes per task .*allowed: "
                                    r"\[2, 4\], got 5"),
    ("adversary.restart_from", "replay_top", r"adversary.restart_from: 'replay_top' is where stalled adversaries "
                                             r"restart; it needs adversary.restart_patience > 0, got 0"),
])
def test_bad_config_names_field_and_allowed_values(field, value, message):
  c = tiny_config()
  *parents, leaf = field.split(".")
  node = c
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(ConfigError, match=message):
    validate(c)


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_main_job_writes_run_directory(tmp_path):
  c = tiny_config("admrl")
  c.logging.wandb = "offline"   # no network needed
  summary = train_and_evaluate(c, str(tmp_path), log=lambda *_: None)
  with open(tmp_path / "summary.json") as fh:
    on_disk = json.load(fh)
  for key in ("method", "family", "worst_case_gap", "mean_gap", "cvar10_gap", "real_env_steps",
              "wall_time_s", "seed"):
    assert key in on_disk, key
  assert on_disk["method"] == "admrl"
  assert on_disk["worst_case_gap"] >= on_disk["cvar10_gap"] >= on_disk["mean_gap"] >= 0.0
  assert summary["real_env_steps"] == (4 + 2 * 2 * 3 * 2) * 50
  assert any(r["budget"] == "few_shot_50" for r in on_disk["table"])
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [r["iteration"] for r in rows] == [1, 2]
  assert len(open(tmp_path / "metrics.csv").read().splitlines()) == 3 and "psi/1/0" in open(tmp_path / "metrics.csv").readline()
  assert os.path.getsize(tmp_path / "gap_heatmap.png") > 1000
  for name in ("config.json", "eval.csv", "eval_table.md", "eval_table.csv"):
    assert os.path.exists(tmp_path / name), name
  assert list((tmp_path / "wandb").glob("offline-run-*"))   # wandb wrote its offline run


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_evaluation_v_star_is_the_best_of_the_oracles_and_the_zero_action():
  """With ``eval.mpc_samples`` > 0 the MPC oracle joins: the trajectory oracle's smallest budget (one
  block of 50 steps) falls short on the box's corners of MPC with short plans (5 steps, 64 candidates;
  measured 179 to 182 against 176 to 178), so there MPC's return is the best known and V* takes it."""
  from admrl_jax.oracles.mpc import sampling_mpc_oracle
  from admrl_jax.evaluation_protocol import evaluate
  c = tiny_config("admrl")
  c.eval.oracle_iters = 50
  c.eval.few_shot_episodes = ()
  c.eval.mpc_samples, c.eval.mpc_plan_horizon = 64, 5
  loop, evaluator = build(c)
  lines = []
  results = evaluate(c, loop, evaluator, loop.init(jax.random.key(0)), log=lines.append)
  res = results["in_box"]
  mpc, _ = sampling_mpc_oracle(loop.family, jnp.asarray(res["psi"]), jax.random.key(c.eval.seed), c.eval.episodes,
                               c.eval.mpc_plan_horizon, c.eval.mpc_samples, c.eval.mpc_sigma)
  assert np.all(res["v_star"] >= np.asarray(mpc) - 1e-4)
  assert np.any(np.isclose(res["v_star"], np.asarray(mpc), rtol=1e-5))
  assert any(line.startswith("in_box: the MPC oracle beats the trajectory oracle on") for line in lines), lines


@pytest.mark.parametrize("method", ["unif", "gauss"])
def test_baseline_proposals_stay_in_the_box_and_differ_per_iteration(method):
  loop, _ = build(tiny_config(method))
  state = loop.init(jax.random.key(0))
  a, b = loop.method.propose(state.psi, {}, jax.random.key(1)), loop.method.propose(state.psi, {}, jax.random.key(2))
  assert a.shape == (loop.num_tasks, 2) and not np.allclose(a, b)
  box = loop.family.box
  many = np.asarray(loop.method.propose(state.psi, {}, jax.random.key(3)))
  assert np.all((many >= np.asarray(box.lo)) & (many <= np.asarray(box.hi)))
  if method == "gauss":  # w ~ N(0, 1) clipped: a sizeable share of the mass sits on the faces
    w = np.asarray(box.to_unit(jax.vmap(lambda k: loop.method.propose(state.psi, {}, k))(jax.random.split(jax.random.key(4), 500))))
    assert 0.2 < np.mean(np.abs(w) == 1.0) < 0.45


def test_non_finite_metric_stops_the_run_with_its_name():
  from admrl_jax.runner import NonFiniteError, check_finite
  check_finite({"iteration": 3, "gap_estimate": [1.0, 2.0]})
  with pytest.raises(NonFiniteError, match=r"'cg_residual' is not finite at outer iteration 3"):
    check_finite({"iteration": 3, "gap_estimate": [1.0], "cg_residual": [float("nan")]})


def test_best_known_return_skips_a_nan_policy_and_names_tasks_with_no_finite_return():
  from admrl_jax.evaluation import best_known_return
  lines = []
  v = best_known_return({"the policy oracle": [5.0, np.nan, 1.0], "the zero action": [2.0, 3.0, np.nan],
                         "the MPC oracle": [6.0, np.nan, 0.5]}, log=lines.append)
  np.testing.assert_array_equal(v, [6.0, 3.0, 1.0])
  assert lines == ["the policy oracle: no finite return on tasks [1] (counted as none)",
                   "the zero action: no finite return on tasks [2] (counted as none)",
                   "the MPC oracle: no finite return on tasks [1] (counted as none)",
                   "the MPC oracle beats the policy oracle on 1 of 3 tasks (by up to 1)"]
  with pytest.raises(FloatingPointError, match=r"V\*: no finite return on tasks \[1\]"):
    best_known_return({"the policy oracle": [5.0, np.nan], "the zero action": [2.0, np.inf * 0]})


def test_gap_table_refuses_a_nan_return_and_names_the_set_budget_and_task():
  from admrl_jax.evaluation import gap_rows
  results = {"in_box": {"v_star": np.array([3.0, 3.0]), "returns": {"zero_shot": np.array([1.0, 2.0])}},
             "ood": {"v_star": np.array([3.0, 3.0]), "returns": {"zero_shot": np.array([1.0, np.nan])}}}
  with pytest.raises(FloatingPointError, match=r"the ood set, budget zero_shot: returns: not finite on tasks \[1\]"):
    gap_rows(results)


def test_schema_is_the_one_source_and_checks_every_field():
  """default.py is the schema's defaults; every field has a meaning and a check that rejects a value of
  the wrong kind, naming the field; typed() builds the dataclasses by keyword and refuses unknown fields."""
  import dataclasses

  from admrl_jax import schema
  from admrl_jax.configs.default import get_config
  assert get_config().to_dict() == schema.default_config().to_dict()
  fields = list(schema._walk(schema.default_config()))
  leaves = lambda d: sum(leaves(v) if isinstance(v, dict) else 1 for v in d.values())
  assert len(fields) == leaves(get_config().to_dict())
  for name, f, value in fields:
    assert f.metadata["doc"], name
    assert f.metadata["check"] is not None, name
    bad = 3 if isinstance(value, str) else "x"
    raw = schema.default_config().to_dict()
    node = raw
    *parents, leaf = name.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = bad
    with pytest.raises(ConfigError, match=rf"^{re.escape(name)}: "):
      schema.check_fields(raw)
  raw = schema.default_config().to_dict()
  raw["model"]["hiden"] = (8,)
  with pytest.raises(ConfigError, match=r"^model.hiden: unknown field"):
    schema.check_fields(raw)
  c = schema.typed(tiny_config())
  assert c.model.hidden == (32, 32) and dataclasses.is_dataclass(c.eval)


def test_a_new_method_is_one_class_and_one_registration():
  """A task proposal defined here (always the box's centre), registered by name, is accepted by the
  config, built into the shared outer loop and proposes its tasks; the outer step calls no task gradient
  for it."""
  import dataclasses

  from admrl_jax import methods

  @methods.register("centre")
  @dataclasses.dataclass(frozen=True)
  class Centre(methods.TaskProposal):
    def propose(self, psi, memory, key):
      return jnp.broadcast_to(self.box.from_unit(jnp.zeros(self.box.dim)), psi.shape)

  try:
    c = tiny_config("centre")
    validate(c)
    loop, _ = build(c)
    assert isinstance(loop.method, Centre) and not loop.method.uses_task_gradient
    psi = loop.method.propose(loop.method.init(jax.random.key(0)), loop.method.init_memory(), jax.random.key(1))
    np.testing.assert_allclose(np.asarray(psi), np.zeros((c.loop.num_tasks, 2)), atol=1e-6)
  finally:
    methods.REGISTRY.pop("centre")
