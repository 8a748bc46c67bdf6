"""Few-shot adaptation of the model-based methods (``Learner.few_shot``): nested budgets, each a refit of a
task-local model on the task's own real episodes, and the protocol's few-shot rows for both evaluators."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admrl_jax import replay
from admrl_jax.config import ConfigError, build, validate
from admrl_jax.configs.default import get_config as default_config
from admrl_jax.evaluation_protocol import EvaluationProtocol, eval_csv_rows
from admrl_jax.evaluation import gap_rows, reference_rows

BUDGETS = (4, 8, 16)   # real episodes of the test task (T = 50: 200 / 400 / 800 samples)
PSI = jnp.array([1.5, -1.0])


@pytest.fixture(scope="module")
def wrong_model():
  """A small PointMass2D learner, a deliberately wrong model (an untrained network, normalisers of 4
  random-action episodes, which are its whole training buffer) and the nested few-shot from it."""
  c = default_config()
  c.model.hidden, c.model.fit_steps, c.model.batch_size = (64, 64), 50, 128
  c.trpo.updates_per_round, c.trpo.model_rollouts = 5, 16
  c.eval.episodes = 4
  _, ev = build(c)
  learner, env = ev.learner, ev.learner.family.env
  random_episodes = learner.real_batch(learner.agent.init(jax.random.key(2)), jax.random.key(3), 4)
  model = learner.model.update_normalisers(learner.model.init(jax.random.key(1)), random_episodes)
  buffer = replay.add(replay.init_buffer(4, env.horizon, env.obs_dim, env.action_dim, env.feature_dim),
                      random_episodes)
  nested = jax.jit(lambda budgets, key: learner.few_shot(model, buffer, PSI, key, 10, budgets, 2, 0.5),
                   static_argnums=0)
  return ev, model, nested


def fresh_error(learner, model_state, agent_state, key) -> float:
  """The model's one-step error (its fit loss) on 8 fresh real episodes of the agent on the test task."""
  env = learner.family.env
  fresh = replay.add(replay.init_buffer(8, env.horizon, env.obs_dim, env.action_dim, env.feature_dim),
                     learner.real_batch(agent_state, key, 8))
  window, mask = replay.sample_windows(fresh, jax.random.key(9), 2048, 1)
  return float(learner.model.loss(model_state.params, model_state.norms, window, mask))


@pytest.mark.slow   # with the next: 81 s (CI runs them with -m slow)
def test_refit_lowers_the_error_on_fresh_episodes_and_the_gap(wrong_model):
  """From the wrong model: the refit model's error on fresh episodes of the task (not the refit data: other
  keys, the adapted policy) falls with every budget, to under a fifth of the wrong model's after the largest;
  the return after the largest budget is above the zero-shot one by more than 50 (V* is the same task's, so
  the gap is lower by as much; measured: 30 zero-shot, 149 / 151 / 154 after 4 / 8 / 16 episodes)."""
  ev, model, nested = wrong_model
  learner, key = ev.learner, jax.random.key(4)
  agents, models = nested(BUDGETS, key)
  zero_shot = learner.zero_shot(model, PSI, jax.random.split(key)[0], 10)   # the policy the nesting starts from
  at = lambda tree, i: jax.tree.map(lambda x: x[i], tree)
  errors = [fresh_error(learner, at(models, i), at(agents, i), jax.random.key(11)) for i in range(len(BUDGETS))]
  wrong = fresh_error(learner, model, at(agents, 2), jax.random.key(11))
  assert errors[2] < wrong / 5, (errors, wrong)
  assert errors[0] > errors[2], errors
  eval_key = jax.random.key(7)
  returns = [float(ev.policy_return(at(agents, i), PSI, eval_key)) for i in range(len(BUDGETS))]
  start = float(ev.policy_return(zero_shot, PSI, eval_key))
  assert returns[-1] > start + 50, (start, returns)


@pytest.mark.slow   # shares the fixture above (CI runs it with -m slow)
def test_a_budget_does_not_depend_on_the_budgets_after_it(wrong_model):
  _, _, nested = wrong_model
  key = jax.random.key(4)
  first, _ = nested(BUDGETS[:1], key)
  nested_first, _ = nested(BUDGETS, key)
  for a, b in zip(jax.tree.leaves(first.policy), jax.tree.leaves(nested_first.policy)):
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)


def test_bad_budgets_name_the_field_and_the_allowed_rounds(tiny):
  c = tiny()
  c.eval.few_shot_episodes = (4, 10)
  c.eval.few_shot_rounds = 4
  with pytest.raises(ConfigError, match=r"eval.few_shot_rounds: must divide every few-shot budget's new real "
                                        r"episodes \[4, 6\].*allowed: \[1, 2\], got 4"):
    validate(c)
  c.eval.few_shot_episodes = (4, 4)
  with pytest.raises(ConfigError, match=r"eval.few_shot_episodes: budgets must increase"):
    validate(c)


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_protocol_reports_both_evaluators_after_each_budget(tiny):
  """Through the evaluation protocol: a few-shot row per budget for the policy evaluator and the model
  planner (planned through that budget's refit model), in eval.csv and the reference table."""
  c = tiny()
  c.eval.ood, c.eval.model_planner, c.eval.planner_iters = False, "on", 50
  c.eval.few_shot_episodes, c.eval.few_shot_rounds = (1, 2), 1
  loop, ev = build(c)
  state = loop.init(jax.random.key(0))
  protocol = EvaluationProtocol.from_config(c, ev, loop)
  results = {"in_box": protocol.evaluate_set("in_box", protocol.test_sets["in_box"], state, log=lambda _: None)}
  refs = reference_rows(results)
  assert [r["budget"] for r in refs] == ["planner", "planner_few_shot_50", "planner_few_shot_100"]
  assert [r["budget"] for r in gap_rows(results)] == ["zero_shot", "few_shot_50", "few_shot_100"]
  rows = eval_csv_rows(results)
  planner = {b: [r["planner_return"] for r in rows if r["budget"] == b] for b in ("zero_shot", "few_shot_100")}
  assert np.all(np.isfinite(planner["few_shot_100"]))
  assert planner["few_shot_100"] != planner["zero_shot"]      # planned through the refit model, not the final one
  assert all(r["gap"] >= 0 and r["planner_gap"] >= 0 for r in rows)


def test_few_shot_share_counts_falls_against_the_best_of_each_task_and_key():
  """K = 2 keys, G = 1 task, S = 1 seed, P = 2 budgets, shares 0 and 0.5. Key 0: zero-shot 500, refits
  [500, 350] and [480, 500]: best 500, one fall (350). Key 1: zero-shot 300 (a fall), refits [450, 460] and
  [455, 200]: best 460, falls 300 and 200. The policy: [100, 100], [100, -50] at key 0 (one fall), none at
  key 1."""
  from admrl_jax.evaluation_noise import falls, pooled_falls   # (not the CLI: its absl flags would clash)
  zero = [[500.0], [300.0]]
  planner = {"0": [[[[500.0, 350.0]]], [[[450.0, 460.0]]]], "0.5": [[[[480.0, 500.0]]], [[[455.0, 200.0]]]]}
  policy = {"0": [[[[100.0, 100.0]]], [[[10.0, 10.0]]]], "0.5": [[[[100.0, -50.0]]], [[[10.0, 10.0]]]]}
  f = falls(zero, planner, policy)
  assert f["zero_shot"] == (1, 2)
  assert f["share"] == {"0": (1, 4), "0.5": (1, 4)}
  assert f["key"] == [{"zero_shot": (0, 1), "refit": (1, 4)}, {"zero_shot": (1, 1), "refit": (1, 4)}]
  assert f["policy"] == {"0": (0, 4), "0.5": (1, 4)}
  assert pooled_falls([f, f])["share"] == {"0": (2, 8), "0.5": (2, 8)}
