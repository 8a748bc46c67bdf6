"""The evaluation-noise measurement (``admrl_jax.evaluation_noise``): its summary against hand-computed
numbers, and its re-evaluations under distinct keys, key 0 being the study's own."""
import types

import jax
import numpy as np
import pytest

from admrl_jax.evaluation_noise import keyed, noise_summary, returns_over_keys


def test_noise_summary_against_hand_computed_numbers():
  v_star = np.asarray([10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0])   # 11 tasks: tail 2
  returns = np.full((3, 11), 9.0)
  returns[0, 4] = 2.0                              # key 0: worst task 4, gap 8
  returns[1, 7] = 4.0                              # key 1: worst task 7, gap 6
  returns[2, 4] = 5.0                              # key 2: worst task 4, gap 5
  s = noise_summary(returns, v_star)
  assert (s["keys"], s["tasks"]) == (3, 11)
  np.testing.assert_allclose(s["worst"], [8.0, 6.0, 5.0])
  np.testing.assert_allclose(s["cvar10"], [(8 + 1) / 2, (6 + 1) / 2, (5 + 1) / 2])
  np.testing.assert_allclose(s["mean"], [(8 + 10) / 11, (6 + 10) / 11, (5 + 10) / 11])
  assert s["worst_task"] == [4, 7, 4]
  assert s["key0_worst_repeats"] == 0.5
  gaps4, gaps7 = np.asarray([8.0, 1.0, 5.0]), np.asarray([1.0, 6.0, 1.0])
  np.testing.assert_allclose(s["task_sd"][4], gaps4.std(ddof=1))
  np.testing.assert_allclose(s["task_sd"][7], gaps7.std(ddof=1))
  np.testing.assert_allclose(s["task_sd"][0], 0.0)
  np.testing.assert_allclose(s["worst_of_key_mean"], gaps4.mean())     # 14/3 at task 4, above task 7's 8/3


def test_noise_summary_refuses_bad_shapes_and_non_finite_returns():
  with pytest.raises(ValueError, match=r"returns \[K, G\] and v_star \[G\]"):
    noise_summary(np.zeros((2, 3)), np.zeros(4))
  with pytest.raises(FloatingPointError, match="finite"):
    noise_summary(np.asarray([[1.0, np.nan]]), np.zeros(2))
  one = noise_summary(np.asarray([[1.0, 2.0]]), np.asarray([3.0, 3.0]))
  assert one["worst"] == [2.0] and one["key0_worst_repeats"] is None and one["task_sd"] == [0.0, 0.0]


def _protocol(planner, adapt_seeds=1):
  return types.SimpleNamespace(eval_key=jax.random.key(7), adapt_key=jax.random.key(8), planner=planner,
                               adapt_seeds=adapt_seeds, evaluator=types.SimpleNamespace(learner="learner"))


def test_key_zero_is_the_studys_own_and_the_others_differ():
  protocol = _protocol(None)
  eval_key, adapt_key = keyed(protocol, 0)
  assert eval_key is protocol.eval_key and adapt_key is protocol.adapt_key
  data = [tuple(str(np.asarray(jax.random.key_data(k)).tolist()) for k in keyed(protocol, i)) for i in range(4)]
  assert len({d[0] for d in data}) == 4 and len({d[1] for d in data}) == 4


def test_planner_is_re_run_under_each_key_on_the_same_model():
  seen = []

  def planner(learner, model, psis, key, desc=""):
    seen.append((learner, model, np.asarray(jax.random.key_data(key)).tolist()))
    return np.full(psis.shape[0], float(len(seen))), None, None

  protocol = _protocol(planner)
  returns = returns_over_keys(protocol, "model", np.zeros((5, 2)), "planner", 3)
  np.testing.assert_array_equal(returns, [[1.0] * 5, [2.0] * 5, [3.0] * 5])
  assert [s[:2] for s in seen] == [("learner", "model")] * 3
  assert seen[0][2] == np.asarray(jax.random.key_data(protocol.eval_key)).tolist()
  assert len({str(s[2]) for s in seen}) == 3
  with pytest.raises(ValueError, match=r"evaluator: unknown value 'floor'; allowed: \['planner', 'policy'\]"):
    returns_over_keys(protocol, "model", np.zeros((5, 2)), "floor", 3)
  with pytest.raises(ValueError, match="keys: must be a positive integer, got 0"):
    returns_over_keys(protocol, "model", np.zeros((5, 2)), "planner", 0)
  with pytest.raises(ValueError, match="no model planner"):
    returns_over_keys(_protocol(None), "model", np.zeros((5, 2)), "planner", 1)


def test_policy_evaluator_is_the_mean_over_the_protocols_adaptation_seeds(monkeypatch):
  """As the study reports it: zero_shot's real returns [S, G] averaged over the S adaptation seeds, with the
  adaptation key of each re-evaluation."""
  from admrl_jax import evaluation_noise
  calls = []

  def zero_shot(evaluator, model, psis, key, eval_key, seeds, desc=None):
    calls.append((seeds, str(np.asarray(jax.random.key_data(key)).tolist())))
    real = np.arange(seeds * psis.shape[0], dtype=float).reshape(seeds, psis.shape[0]) + len(calls)
    return real, None, None

  monkeypatch.setattr(evaluation_noise, "zero_shot", zero_shot)
  protocol = _protocol(None, adapt_seeds=3)
  returns = returns_over_keys(protocol, "model", np.zeros((2, 2)), "policy", 2)
  per_seed = np.arange(6.0).reshape(3, 2)
  np.testing.assert_allclose(returns, [per_seed.mean(axis=0) + 1, per_seed.mean(axis=0) + 2])
  assert [c[0] for c in calls] == [3, 3]
  assert calls[0][1] == str(np.asarray(jax.random.key_data(protocol.adapt_key)).tolist()) != calls[1][1]


def test_folder_table_recomputes_against_the_shared_v_star_and_pairs_by_seed(tmp_path):
  """Six published runs (V* 100 on each of 4 tasks) and their measurements under 2 keys: the table's
  cells by hand; each AdMRL row (AdMRL and admrl_mix, a variant: its method is admrl) minus MB-Unif on
  key 0's worst case and on the worst case of the key-mean gap, each p Holm-corrected over the two."""
  import json
  import os

  from scipy import stats

  from admrl_jax.evaluation_noise import folder_table
  from tests.test_cli import _fake_finished_run

  psis = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
  returns = {"admrl-s0": [[90, 100, 100, 100], [100, 100, 100, 80]],    # key-0 worst 10, keys 10/20, key-mean 10
             "admrl-s1": [[100, 100, 100, 100], [100, 100, 100, 96]],   # 0, 0/4, 2
             "admrl_mix-s0": [[100, 100, 100, 90], [100, 100, 100, 90]],   # 10, 10/10, 10
             "admrl_mix-s1": [[100, 100, 95, 100], [100, 100, 93, 100]],   # 5, 5/7, 6
             "unif-s0": [[70, 100, 100, 100], [70, 100, 100, 100]],     # 30, 30/30, 30
             "unif-s1": [[100, 100, 100, 80], [100, 100, 100, 60]]}     # 20, 20/40, 30
  os.makedirs(tmp_path / "evaluation_noise")
  for name, r in returns.items():
    group, seed = name.split("-s")
    _fake_finished_run(str(tmp_path / name), "admrl" if group.startswith("admrl") else group, int(seed), 1.0)
    with open(tmp_path / "evaluation_noise" / f"{name}.json", "w") as fh:
      json.dump({"psis": psis, "planner": {"returns": r}}, fh)
  text = folder_table(str(tmp_path))
  t = lambda values: stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / np.sqrt(2)
  assert f"| AdMRL | 0, 1 | 2 | 5.0 ± {t([10, 0]):.1f} | 8.5 ± {t([15, 2]):.1f} | 6.0 ± {t([10, 2]):.1f} |" in text
  assert "| MB-Unif | 0, 1 | 2 | 25.0 ± " in text and "| 30.0 ± 0.0 | 30.0 ± 0.0 |" in text
  # key 0: AdMRL [10, 0] - [30, 20] = -20 at both seeds (p 0); admrl_mix [10, 5] - [30, 20]
  p0 = stats.ttest_rel([10, 5], [30, 20]).pvalue   # Holm: AdMRL's p 0 twice, then admrl_mix's as is
  # the key-mean gap: AdMRL [10, 2], admrl_mix [10, 6], MB-Unif [30, 30]; Holm: the smaller p twice, the larger as is
  p_admrl, p_mix = stats.ttest_rel([10, 2], [30, 30]).pvalue, stats.ttest_rel([10, 6], [30, 30]).pvalue
  assert p_mix < p_admrl < 2 * p_mix   # so Holm makes both 2 * p_mix
  assert (f"| AdMRL - MB-Unif | 2 | -20.0 ± 0.0 (p 0.00) | 0.00 | -24.0 ± {t([-20, -28]):.1f} (p {p_admrl:.2f}) | "
          f"{2 * p_mix:.2f} |") in text
  assert (f"| admrl_mix - MB-Unif | 2 | -17.5 ± {t([-20, -15]):.1f} (p {p0:.2f}) | {p0:.2f} | "
          f"-22.0 ± {t([-20, -24]):.1f} (p {p_mix:.2f}) | {2 * p_mix:.2f} |") in text
  assert "| AdMRL - admrl_mix |" not in text   # variants of AdMRL are not paired with each other
  sd = np.std([[10, 0, 0, 0], [0, 0, 0, 20]], axis=0, ddof=1)   # admrl-s0's gaps under keys 0 and 1
  assert f"| AdMRL s0 | 10.0 | 10.0 / 20.0 | 10.0 | {sd.mean():.1f} / {sd.max():.1f} |" in text
  assert "| MB-Unif s1 | 20.0 | 20.0 / 40.0 | 30.0 | 3.5 / 14.1 |" in text
  assert text.index("| AdMRL s1 |") < text.index("| MB-Unif s0 |")
  with pytest.raises(ValueError, match="no 'policy' measurement"):
    folder_table(str(tmp_path), "policy")


def test_a_model_free_baselines_policy_is_re_evaluated_under_each_key_and_has_no_planner():
  """A model-free protocol (``meta_learner`` set): the baseline's own zero-shot returns (0 episodes) from its
  MetaState, with each re-evaluation's (adaptation, eval) keys, averaged over the adaptation seeds; the
  planner is refused."""
  calls = []

  def model_free_returns(state, psis, episodes, adapt_key, eval_key, desc=None):
    calls.append((state, episodes, str(np.asarray(jax.random.key_data(eval_key)).tolist()),
                  str(np.asarray(jax.random.key_data(adapt_key)).tolist())))
    return np.arange(2.0 * psis.shape[0]).reshape(2, psis.shape[0]) + len(calls)

  protocol = _protocol(None, adapt_seeds=2)
  protocol.meta_learner, protocol.model_free_returns = "maml", model_free_returns
  returns = returns_over_keys(protocol, "meta_state", np.zeros((3, 2)), "policy", 2)
  np.testing.assert_allclose(returns, [[2.5, 3.5, 4.5], [3.5, 4.5, 5.5]])
  assert [c[:2] for c in calls] == [("meta_state", 0)] * 2
  assert calls[0][2:] == tuple(str(np.asarray(jax.random.key_data(k)).tolist()) for k in keyed(protocol, 0))
  assert calls[1][2:] == tuple(str(np.asarray(jax.random.key_data(k)).tolist()) for k in keyed(protocol, 1))
  with pytest.raises(ValueError, match=r"no model planner \(a model-free baseline"):
    returns_over_keys(protocol, "meta_state", np.zeros((3, 2)), "planner", 1)
