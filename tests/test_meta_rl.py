"""The model-free baselines behind the shared runner and evaluation: each trains, checkpoints, resumes
exactly and is evaluated by the same protocol (V*, test sets, few-shot budgets in real samples), with
its training and adaptation real steps counted apart. The learners' own behaviour is tested in
tests/test_meta_rl_{multitask,maml,pearl}.py."""
import csv
import json
import os

import jax
import numpy as np
import pytest

from admrl_jax.config import ConfigError, build, validate
from admrl_jax.meta_rl import MetaRLLoop
from admrl_jax.runner import TIMING_FIELDS, train, train_and_evaluate
from tests.tiny_config import get_config as tiny_config

# The smallest settings of each learner that still run every stage.
TINY = {
    "multitask": dict(tasks_per_iteration=4, episodes_per_task=1, epochs=1, minibatches=2, finetune_updates=2),
    "maml": dict(tasks_per_iteration=3, inner_episodes=2, cg_iters=3, line_search_steps=3),
    "pearl": dict(tasks_per_iteration=2, episodes_per_task=1, task_slots=4, slot_capacity=50, batch_size=16,
                  context_size=16, meta_batch=2, gradient_steps=2),
}


def config_of(method: str, cache: str, iterations: int = 2):
  c = tiny_config(method)
  c.loop.iterations = iterations
  for field, value in TINY[method].items():
    c[method][field] = value
  c.eval.oracle_cache = cache
  return c


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp("oracle_cache"))   # V* computed once for the three methods


# MAML and PEARL through the shared protocol run with -m slow in CI (34 s; their own files test them in the
# loop); multitask stays in make test
@pytest.mark.parametrize("method", ["multitask", pytest.param("maml", marks=pytest.mark.slow),
                                    pytest.param("pearl", marks=pytest.mark.slow)])
def test_baseline_trains_and_is_evaluated_by_the_shared_protocol(method, cache, tmp_path):
  config = config_of(method, cache)
  loop, _ = build(config)
  assert isinstance(loop, MetaRLLoop) and loop.num_tasks == TINY[method]["tasks_per_iteration"]
  summary = train_and_evaluate(config, str(tmp_path), log=lambda *_: None)
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [r["iteration"] for r in rows] == [1, 2]
  assert summary["real_env_steps"] == rows[-1]["real_steps"] > rows[0]["real_steps"] > 0
  horizon = loop.family.env.horizon
  assert summary["adaptation_real_steps"] == {"zero_shot": 0, f"few_shot_{horizon}": horizon}
  budgets = {r["budget"] for r in summary["table"]}
  assert budgets == {"zero_shot", f"few_shot_{horizon}"}
  for r in summary["table"]:
    assert np.isfinite(r["worst_case_gap"]) and r["worst_case_gap"] >= 0.0
  assert summary["method"] == method and summary["adaptation_curve"] is None
  with open(tmp_path / "eval.csv") as fh:
    assert len(fh.read().splitlines()) == 1 + 2 * (config.eval.grid_points ** 2 + len_ood(config))


def len_ood(config):
  from admrl_jax.evaluation_protocol import make_test_sets
  family = build(config)[0].family
  return make_test_sets(family.box, jax.random.key(config.eval.seed), config.eval.grid_points, (5, 5, 3), 4,
                        config.eval.ood_fraction)["ood"].shape[0]


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(state.replace(key=jax.random.key_data(state.key)))]


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_baseline_resumes_exactly(cache, tmp_path):
  """Two iterations straight, against one iteration, a stop, and a resume: the same state and rows."""
  straight = train(config_of("maml", cache), str(tmp_path / "a"), log=lambda *_: None)
  first = config_of("maml", cache, iterations=1)
  train(first, str(tmp_path / "b"), log=lambda *_: None)
  resumed = train(config_of("maml", cache), str(tmp_path / "b"), log=lambda *_: None, resume=True)
  for x, y in zip(_leaves(straight.state), _leaves(resumed.state)):
    np.testing.assert_array_equal(x, y)
  drop = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]
  assert drop(straight.history) == drop(resumed.history)


@pytest.mark.slow   # three tiny Brax runs with their evaluation: 390 s (CI runs it with -m slow)
@pytest.mark.parametrize("method", ["multitask", "maml", "pearl"])
def test_baseline_trains_and_is_evaluated_on_hopper(method, tmp_path):
  """The Hopper2D study's baselines on their Brax family, at tiny sizes: episodes of up to 200 steps that end
  at a fall, the real steps counted up to it, few-shot fine-tuning on the test task's real episodes, finite
  gaps and returns on every task."""
  c = config_of(method, "")
  c.family, c.backend = "hopper_2d", "positional"
  c.eval.oracle, c.eval.oracle_iters, c.eval.oracle_episodes, c.eval.ood = "policy", 10, 2, False
  summary = train_and_evaluate(c, str(tmp_path), log=lambda *_: None)
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [r["iteration"] for r in rows] == [1, 2]
  assert np.all([np.isfinite(v) for r in rows for v in r.values() if isinstance(v, float)])
  horizon = build(c)[0].family.env.horizon
  assert horizon == 200
  episodes = {"multitask": c.multitask.tasks_per_iteration * c.multitask.episodes_per_task,
              "maml": c.maml.tasks_per_iteration * c.maml.inner_episodes * 2,
              "pearl": c.pearl.tasks_per_iteration * c.pearl.episodes_per_task}[method]
  assert 0 < rows[0]["real_steps"] < rows[1]["real_steps"] == summary["real_env_steps"] <= 2 * episodes * horizon
  assert summary["adaptation_real_steps"] == {"zero_shot": 0, f"few_shot_{horizon}": horizon}
  assert {r["budget"] for r in summary["table"]} == {"zero_shot", f"few_shot_{horizon}"}
  for r in summary["table"]:
    assert np.isfinite(r["worst_case_gap"]) and r["worst_case_gap"] >= 0.0
  with open(tmp_path / "eval.csv") as fh:
    evaluated = list(csv.DictReader(fh))
  assert len(evaluated) == 2 * c.eval.grid_points ** 2
  assert all(np.isfinite(float(r["return"])) and np.isfinite(float(r["gap"])) for r in evaluated)


def test_baseline_config_errors_name_the_field():
  c = tiny_config("pearl")
  c.pearl.latent_dim = 0
  with pytest.raises(ConfigError, match="pearl.latent_dim: must be a positive integer"):
    validate(c)
  c = tiny_config("maml")
  c.maml.inner_objective = "sgd"
  with pytest.raises(ConfigError, match=r"maml.inner_objective: unknown value 'sgd'; allowed: \['vpg', 'lvc'\]"):
    validate(c)
  c = tiny_config("multitask")
  c.devices = 2
  with pytest.raises(ConfigError, match="devices: the model-free baseline 'multitask' runs on one device"):
    validate(c)


def test_baseline_learner_checks_across_fields_are_config_errors():
  c = tiny_config("pearl")
  c.pearl.tasks_per_iteration, c.pearl.task_slots = 8, 4
  with pytest.raises(ConfigError, match=r"pearl.task_slots: need >= tasks_per_iteration \(8\), got 4"):
    validate(c)
  c = tiny_config("multitask")
  c.multitask.minibatches = 3     # must divide 16 tasks x 2 episodes
  with pytest.raises(ConfigError, match="multitask.minibatches"):
    validate(c)
