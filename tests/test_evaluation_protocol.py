"""The evaluation protocol (SPEC section 5): the adaptation floor, the model planner, the files a run
writes, and the results table's shared V*.

One tiny run (module fixture) compiles the policy evaluator, the floor and the planner; the other tests
reuse those compiled functions (cached per evaluator in the process), so the module stays cheap.
"""
import csv
import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from admrl_jax import tables
from admrl_jax.config import ConfigError, build
from admrl_jax.evaluation_protocol import EVAL_CSV_COLUMNS, EvaluationProtocol
from admrl_jax.oracles import ORACLES, Oracle, register
from admrl_jax.oracles.cache import cached_oracle, oracle_cache_path
from admrl_jax.oracles.trajectory import model_planner, model_planner_fn, trajectory_optimisation_oracle
from admrl_jax.runner import train_and_evaluate
from admrl_jax import study_results
from admrl_jax.cli import results_table
from tests.tiny_config import get_config

SUMMARY_FIELDS = ("worst_case_gap", "mean_gap", "floor_worst_case_gap", "floor_mean_gap", "floor_cvar10_gap",
                  "floor_ood_worst_case_gap", "planner_worst_case_gap", "planner_mean_gap", "planner_cvar10_gap",
                  "planner_ood_worst_case_gap", "adapt_seed_std_mean", "adapt_seed_std_max")


def _config(cache_dir):
  c = get_config()
  c.eval.few_shot_episodes = ()          # the few-shot path is covered by tests/test_loop.py
  c.eval.oracle_cache = str(cache_dir)
  c.eval.floor, c.eval.model_planner, c.eval.adapt_seeds = "on", "on", 3   # whatever the tiny config says
  return c


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("protocol")
  config = _config(root / "cache")
  summary = train_and_evaluate(config, str(root / "run"), log=lambda *_: None)
  return config, root / "run", summary


def test_tiny_run_writes_the_floor_the_planner_and_the_seed_spread(tiny_run):
  config, run_dir, summary = tiny_run
  on_disk = json.load(open(run_dir / "summary.json"))
  for field in SUMMARY_FIELDS:
    assert isinstance(on_disk[field], float) and on_disk[field] >= 0.0, field
  assert on_disk["adapt_seeds"] == 3 and on_disk["adapt_seed_std_max"] >= on_disk["adapt_seed_std_mean"] > 0.0
  assert on_disk["floor_worst_case_gap"] >= on_disk["floor_cvar10_gap"] >= on_disk["floor_mean_gap"]
  curve = on_disk["adaptation_curve"]
  assert curve["updates"] == [1, 2, 3] and len(curve["model_batch_return"]) == 3
  assert curve["real_return_updates"] == [0, 1, 2, 3] and len(curve["floor_real_return"]) == 4
  assert {r["budget"] for r in on_disk["reference_table"]} == {"floor", "planner"}
  assert [r["budget"] for r in on_disk["table"]] == ["zero_shot", "zero_shot"]   # policy rows only
  with open(run_dir / "eval.csv") as fh:
    rows = list(csv.DictReader(fh))
  assert tuple(rows[0]) == EVAL_CSV_COLUMNS
  assert len(rows) == 4 + 4                      # 2 x 2 in-box grid, 4 OOD corners; zero-shot only
  for r in rows:
    v, ret, gap = float(r["v_star"]), float(r["return"]), float(r["gap"])
    assert gap == pytest.approx(max(v, ret) - ret, abs=2e-3) and float(r["return_std"]) > 0.0
    for ref in ("floor", "planner"):
      assert float(r[f"{ref}_gap"]) == pytest.approx(v - float(r[f"{ref}_return"]), abs=2e-3)
  in_box = [r for r in rows if r["set"] == "in_box"]
  assert max(float(r["planner_gap"]) for r in in_box) == pytest.approx(on_disk["planner_worst_case_gap"], abs=2e-3)
  assert max(float(r["floor_gap"]) for r in in_box) == pytest.approx(on_disk["floor_worst_case_gap"], abs=2e-3)
  for name in ("gap_heatmap.png", "gap_policy_heatmap.png", "gap_floor_heatmap.png"):
    assert os.path.getsize(run_dir / name) > 1000, name


def test_floor_leaves_a_non_negative_gap_and_is_cached_by_its_budget(tiny_run, tmp_path):
  config, run_dir, _ = tiny_run
  loop, evaluator = build(config)
  family, key = loop.family, jax.random.key(config.eval.seed)
  psis = family.box.grid(config.eval.grid_points)
  v_star, _ = trajectory_optimisation_oracle(family, psis, key, config.eval.episodes, config.eval.oracle_iters)
  floor = EvaluationProtocol.from_config(config, evaluator).floor
  first = cached_oracle(floor, family, psis, key, str(tmp_path))
  second = cached_oracle(floor, family, psis, key, str(tmp_path))
  assert not first[2] and second[2]
  np.testing.assert_array_equal(first[0], second[0])
  np.testing.assert_array_equal(first[1], second[1])
  returns = np.asarray(first[0])
  assert returns.shape == (config.eval.adapt_seeds, psis.shape[0])
  # the raw gap, no max(): 100 steps of trajectory optimisation beat 3 TRPO updates from scratch
  assert np.all(np.asarray(v_star) - returns.mean(axis=0) >= 0.0)
  # the run computed the same floor (same eval seed, same budget) into its own eval.csv
  with open(run_dir / "eval.csv") as fh:
    run_floor = [float(r["floor_return"]) for r in csv.DictReader(fh) if r["set"] == "in_box"]
  np.testing.assert_allclose(run_floor, returns.mean(axis=0), atol=2e-3)
  # another adaptation budget or another agent is another cache entry
  for field, value in (("adapt_updates", 2), ("adapt_seeds", 2)):
    other = _config(tmp_path)
    other.eval[field] = value
    budget = EvaluationProtocol.from_config(other, build(other)[1]).floor.budget
    assert oracle_cache_path(family, psis, key, budget, "c") != oracle_cache_path(
        family, psis, key, floor.budget, "c"), field


def test_evaluation_noise_key_zero_reproduces_the_runs_evaluation(tiny_run):
  """``evaluation_noise``'s key 0 is the study's own evaluation: the run's final model read back from its
  checkpoint gives the planner and policy returns of its eval.csv (the policy's the mean of its 3
  adaptation seeds); key 1 gives other returns."""
  from admrl_jax.evaluation_noise import returns_over_keys
  from admrl_jax.run_dir import load_run, restore_state
  _, run_dir, _ = tiny_run
  config, loop, evaluator = load_run(str(run_dir))
  protocol = EvaluationProtocol.from_config(config, evaluator, loop)
  state, _ = restore_state(str(run_dir), loop, config.seed)
  psis = protocol.test_sets["in_box"]
  with open(run_dir / "eval.csv") as fh:
    rows = [r for r in csv.DictReader(fh) if r["set"] == "in_box" and r["budget"] == "zero_shot"]
  assert [r["psi"] for r in rows] == [" ".join(f"{x:.3f}" for x in p) for p in np.asarray(psis)]
  for evaluator_name, column in (("planner", "planner_return"), ("policy", "return")):
    returns = returns_over_keys(protocol, state.model, psis, evaluator_name, 2)
    assert returns.shape == (2, len(rows))
    np.testing.assert_allclose(returns[0], [float(r[column]) for r in rows], atol=2e-3, err_msg=evaluator_name)
    assert np.max(np.abs(returns[1] - returns[0])) > 1e-2, evaluator_name


def test_planner_on_the_true_dynamics_reaches_v_star_and_an_unfitted_model_does_not(tiny_run):
  """With the true step as its "model" the planner runs the oracle's optimisation itself (same start
  states, z = 0 at the start, Adam schedule and steps), so its plans are the oracle's and the gap is
  the rounding of two separately compiled programs: 1e-3 on returns of about 190 (float32 sums of 50
  rewards round at about 1e-5). An unfitted model (normalisers of the random-action data only)
  plans nothing useful: the corners' V* is about 185, what its plans earn tens of points less."""
  config, _, _ = tiny_run
  loop, evaluator = build(config)
  family, key = loop.family, jax.random.key(config.eval.seed)
  episodes, iters = config.eval.episodes, config.eval.oracle_iters
  psis = family.box.grid(config.eval.grid_points)
  v_star, _ = trajectory_optimisation_oracle(family, psis, key, episodes, iters)
  real, predicted, curve = jax.jit(lambda p: model_planner(family, family.env.step, p, key, episodes, iters))(psis)
  np.testing.assert_allclose(real, v_star, atol=1e-3)
  np.testing.assert_allclose(predicted, real, atol=1e-3)        # the "model" is the truth
  assert curve.shape == (iters // 50, psis.shape[0])
  plan = model_planner_fn(evaluator.learner, episodes, iters)
  unfitted = loop.init(jax.random.key(0)).model
  real_u, predicted_u, _ = plan(unfitted, psis, key)
  gaps = np.asarray(v_star) - np.asarray(real_u)
  assert gaps.mean() > 20.0 and gaps.min() > 1.0, gaps
  again = plan(unfitted, psis, key)                              # deterministic given the model
  np.testing.assert_array_equal(np.asarray(again[0]), np.asarray(real_u))
  np.testing.assert_array_equal(np.asarray(again[1]), np.asarray(predicted_u))


def _fake_run(root, name, method, seed, rows):
  run_dir = root / name
  run_dir.mkdir()
  json.dump({"method": method, "seed": seed, "real_env_steps": 100, "wall_time_s": 1.0},
            open(run_dir / "summary.json", "w"))
  with open(run_dir / "eval.csv", "w") as fh:
    fh.write(",".join(EVAL_CSV_COLUMNS) + "\n")
    for s, psi, v, ret, floor, planner in rows:
      fh.write(f"{s},zero_shot,{psi},{v:.3f},{ret:.3f},{max(v, ret) - ret:.3f},1.000,{floor:.3f},0.500,"
               f"{v - floor:.3f},{planner:.3f},{v - planner:.3f}\n")


def test_results_table_recomputes_every_gap_against_the_shared_v_star(tmp_path):
  #            set      psi             v_star  return  floor  planner
  a = [("in_box", "0.000 0.000", 100.0, 90.0, 95.0, 92.0), ("in_box", "1.000 1.000", 100.0, 80.0, 85.0, 70.0),
       ("ood", "3.000 3.000", 50.0, 40.0, 45.0, 30.0)]
  b = [("in_box", "0.000 0.000", 100.0, 95.0, 95.0, 91.0), ("in_box", "1.000 1.000", 100.0, 103.5, 85.0, 99.0),
       ("ood", "3.000 3.000", 50.0, 42.0, 45.0, 31.0)]
  _fake_run(tmp_path, "admrl-s0", "admrl", 0, a)
  _fake_run(tmp_path, "unif-s0", "unif", 0, b)
  runs = study_results.load_runs(str(tmp_path))
  v_star = study_results.shared_v_star(runs)
  assert v_star[("in_box", "1.000 1.000")] == 103.5            # run B beat the oracle there
  gaps_a = study_results.recompute(runs[0], v_star)
  assert gaps_a["gaps"]["in_box"]["1.000 1.000"] == pytest.approx(20.0 + 3.5, abs=1e-9)   # rose by 3.5
  assert gaps_a["gaps"]["in_box"]["0.000 0.000"] == pytest.approx(10.0, abs=1e-9)         # unchanged
  assert gaps_a["worst_case_gap"] == pytest.approx(23.5) and gaps_a["ood_worst_case_gap"] == pytest.approx(10.0)
  assert study_results.recompute(runs[1], v_star)["gaps"]["in_box"]["1.000 1.000"] == 0.0
  assert study_results.recompute(runs[0], v_star, "planner_return")["worst_case_gap"] == pytest.approx(33.5)
  text = results_table.table(str(tmp_path))
  assert "| AdMRL | 1 | 23.5 | 16.8 | 23.5 | 10.0 | 100 | 1 |" in text, text
  assert "| AdMRL (model planner) | 1 | 33.5 |" in text and "| MB-Unif | 1 | 5.0 |" in text, text
  assert "| adaptation floor (the same adaptation on the true dynamics) | - | 18.5 | 11.8 |" in text, text
  assert "- AdMRL (model planner): s0: 33.5 / 20.8 / 33.5 / 20.0" in text, text   # per seed: the planner too
  assert "- MB-Unif (model planner): s0: 9.0 / " in text, text
  assert study_results.interval([1.0, 2.0, 3.0]) == "2.0 ± 2.5"   # t(0.975, 2) = 4.30, std 1, n 3


@dataclasses.dataclass(frozen=True)
class _ToyOracle(Oracle):
  """A toy V* oracle: 1000 + psi[0] on every task (above anything the tiny run reaches)."""

  name = "toy"
  label = "the toy oracle"
  episodes: int

  @classmethod
  def build(cls, settings, learner):
    return cls(settings.episodes)

  @property
  def budget(self):
    return {"kind": "toy", "episodes": self.episodes}

  def __call__(self, family, psis, eval_key, desc=None):
    v = 1000.0 + psis[:, 0]
    return v, v[None]


def test_an_oracle_registered_by_name_becomes_the_configs_v_star(tiny_run, tmp_path):
  """Adding an oracle is a class and one ``register`` line: eval.oracle then names it, the protocol
  builds it from the evaluation's numbers, caches it by its budget, and V* takes it."""
  register(_ToyOracle)
  try:
    config = _config(tmp_path / "cache")
    config.eval.oracle, config.eval.floor, config.eval.model_planner = "toy", "off", "off"
    loop, evaluator = build(config)                   # validation knows the new name
    protocol = EvaluationProtocol.from_config(config, evaluator)
    assert [o.name for o in protocol.oracles] == ["toy", "zero_action"] and protocol.oracles[0].episodes == 2
    psis = protocol.test_sets["in_box"]
    first, second = protocol.oracle_returns(psis), protocol.oracle_returns(psis)
    assert not first["toy"].hit and second["toy"].hit and not second["zero_action"].hit   # zero action: uncached
    lines = []
    res = protocol.evaluate_set("in_box", psis, loop.init(jax.random.key(0)), log=lines.append)
    np.testing.assert_allclose(res["v_star"], 1000.0 + np.asarray(psis)[:, 0], rtol=1e-6)
    assert res["oracle_curve"].shape == (1,) and not any("beats" in line for line in lines), lines
  finally:
    del ORACLES["toy"]
  with pytest.raises(ConfigError, match=r"eval.oracle: unknown value 'toy'; allowed: \['mpc', 'policy', "):
    build(config)


def test_the_config_picks_the_oracles_the_test_sets_and_the_key_streams():
  """eval.oracle is the main oracle, the zero action always joins, MPC where eval.mpc_samples > 0; the
  test sets are the in-box grid and the widened grid's tasks outside the box."""
  config = get_config()
  evaluator = build(config)[1]
  protocol = EvaluationProtocol.from_config(config, evaluator)
  assert [o.name for o in protocol.oracles] == ["trajectory", "zero_action"]
  assert protocol.oracles[0].budget == {"kind": "trajectory", "iters": 100, "episodes": 2}   # the cache's key
  assert protocol.floor is None and protocol.planner is None          # the tiny config switches them off
  np.testing.assert_array_equal(protocol.test_sets["in_box"], evaluator.learner.family.box.grid(2))
  assert protocol.test_sets["ood"].shape == (4, 2)                     # the widened 2 x 2 grid: all outside
  config.eval.mpc_samples = 4
  mpc = EvaluationProtocol.from_config(config, evaluator).oracles
  assert [o.name for o in mpc] == ["trajectory", "zero_action", "mpc"] and mpc[2].samples == 4
  other_seed = get_config()
  other_seed.seed = 1
  other = EvaluationProtocol.from_config(other_seed, evaluator)
  np.testing.assert_array_equal(jax.random.key_data(other.eval_key), jax.random.key_data(protocol.eval_key))
  assert not np.array_equal(jax.random.key_data(other.adapt_key), jax.random.key_data(protocol.adapt_key))
  config.eval.oracle, config.eval.mpc_samples = "mpc", 0
  with pytest.raises(ConfigError, match=r"^eval.oracle: 'mpc' needs candidate plans"):
    build(config)


def test_tables_write_markdown_and_csv_from_one_column_spec(tmp_path):
  columns = [tables.Column("run"), tables.Column("gap", "worst gap", md=tables.fixed(2), csv=tables.fixed_or_blank(3))]
  rows = [{"run": "a,b", "gap": 1.23456}, {"run": "c", "gap": float("nan")}]
  tables.write(columns, rows, str(tmp_path / "t.md"), str(tmp_path / "t.csv"))
  assert open(tmp_path / "t.md").read() == "| run | worst gap |\n|---|---|\n| a,b | 1.23 |\n| c | nan |\n"
  with open(tmp_path / "t.csv") as fh:
    assert list(csv.DictReader(fh)) == [{"run": "a,b", "gap": "1.235"}, {"run": "c", "gap": ""}]


@pytest.mark.parametrize("field,value,message", [
    ("floor", "sometimes", r"^eval.floor: unknown value 'sometimes'; allowed: \['auto', 'on', 'off'\]$"),
    ("model_planner", "yes", r"^eval.model_planner: unknown value 'yes'; allowed: \['auto', 'on', 'off'\]$"),
    ("adapt_seeds", 0, r"^eval.adapt_seeds: must be a positive integer, got 0$"),
])
def test_bad_evaluation_switches_name_the_field_and_the_allowed_values(field, value, message):
  from admrl_jax.config import ConfigError, validate
  c = get_config()
  c.eval[field] = value
  with pytest.raises(ConfigError, match=message):
    validate(c)
