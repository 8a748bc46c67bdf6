"""A study folder's statistics on synthetic folders (no training, no jax compile): one shared V* for every
table of the folder (checkpoint evaluations included), gap_vs_samples.md redrawn with every published
run, model-free baselines compared unpaired, non-finite differences n/a, the confirmation's tie rule, a
truncated eval.csv refused, and the screening's finalists and the held-out check (issue 27's protocol)."""
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from admrl_jax import study_results as sr, study_selection as sel
from admrl_jax.cli import comparison_tables as ct, results_table as rt, selection_tables

TASKS = ["-1.000 -1.000", "-1.000 1.000", "1.000 -1.000", "1.000 1.000"]
OOD = ["3.000 3.000", "-3.000 3.000"]


def _eval_csv(path, returns, planner=None, v_star=100.0, tasks=TASKS, ood=2):
  """eval.csv of zero-shot rows: in-box ``tasks`` with ``returns`` (and ``planner`` returns), then the first
  ``ood`` OOD tasks."""
  with open(path, "w", newline="") as fh:
    out = csv.writer(fh)
    out.writerow(["set", "budget", "psi", "v_star", "return", "planner_return"])
    for psi, ret, plan in zip(tasks, returns, planner or [None] * len(tasks)):
      out.writerow(["in_box", "zero_shot", psi, v_star, ret, "" if plan is None else plan])
    for psi in OOD[:ood]:
      out.writerow(["ood", "zero_shot", psi, 50.0, 40.0, "" if planner is None else 30.0])


def _run(study, name, method, seed, returns, planner=None, checkpoints=None, **kw):
  """A published run <study>/<name>: summary.json, eval.csv; checkpoints: {iteration: in-box returns}."""
  run_dir = study / name
  run_dir.mkdir(parents=True)
  (run_dir / "summary.json").write_text(json.dumps({"method": method, "family": "point_mass", "seed": seed,
                                                    "iterations": 10, "real_env_steps": 1000}))
  _eval_csv(run_dir / "eval.csv", returns, planner, **kw)
  for iteration, rets in (checkpoints or {}).items():
    ck = run_dir / "checkpoints" / f"iteration_{iteration}"
    ck.mkdir(parents=True)
    (ck / "checkpoint.json").write_text(json.dumps({"iteration": iteration, "real_env_steps": 100 * iteration}))
    _eval_csv(ck / "eval.csv", rets)
  return run_dir


def _gaps(worst: float) -> dict:
  """A gap summary whose worst-case gap is ``worst`` (the other fields 0)."""
  return {**{f: 0.0 for f in sr.FIELDS}, "worst_case_gap": worst}


def _worst(gap: float) -> list[float]:
  """In-box returns (V* 100) with worst-case gap ``gap`` on the last task, 1 elsewhere."""
  return [99.0, 99.0, 99.0, 100.0 - gap]


def test_one_v_star_for_results_md_and_gap_vs_samples(tmp_path):
  """A checkpoint of admrl reached 110 on the last task, above every final evaluation and the oracle's
  100: both results.md and gap_vs_samples.md measure the final models against 110."""
  study = tmp_path / "s"
  for seed in range(2):
    _run(study, f"admrl-s{seed}", "admrl", seed, _worst(10.0),
         checkpoints={5: [99.0, 99.0, 99.0, 110.0 if seed else 90.0]})
    _run(study, f"unif-s{seed}", "unif", seed, _worst(20.0))
  runs = sr.load_runs(str(study))
  assert sr.shared_v_star(runs)[("in_box", "1.000 1.000")] == 110.0
  text = rt.table(str(study))
  # final worst gap: 10 + 10 = 20 (AdMRL), 30 (MB-Unif); 10 and 20 before (the checkpoints left out)
  assert "| AdMRL | 2 | 20.0 ± 0.0 |" in text and "| MB-Unif | 2 | 30.0 ± 0.0 |" in text, text
  assert "- AdMRL: s0: 20.0 / " in text and "(model planner)" not in text, text   # no planner: no planner lines
  curves = rt.gap_vs_samples(str(study))
  assert "| AdMRL | 10 | 1000 | 2 | 20.0 ± 0.0 |" in curves, curves
  assert "| MB-Unif | 10 | 1000 | 2 | 30.0 ± 0.0 |" in curves, curves
  assert "| AdMRL | 5 | 500 | 2 | 10.5 ± 120.7 |" in curves, curves       # gaps 20 and 1 (V* 110: 110 and 90 reached)
  assert [(p["group"], p["iteration"]) for p in sr.checkpoint_points(runs)] == [
      ("admrl", 10), ("admrl", 5), ("admrl", 10), ("admrl", 5), ("unif", 10), ("unif", 10)]


def _write_index(folder, command: str) -> None:
  """cli.study.write_index in a process of its own: the command module defines absl flags (--config)
  that another command module imported into this test process may have defined already."""
  code = "import sys; from admrl_jax.cli import study; study.write_index(sys.argv[1], sys.argv[2])"
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  subprocess.run([sys.executable, "-c", code, str(folder), command], check=True, cwd=repo)


def test_write_index_redraws_gap_vs_samples_when_the_folder_has_checkpoints(tmp_path):

  plain = tmp_path / "plain"
  _run(plain, "unif-s0", "unif", 0, _worst(20.0))
  _write_index(plain, "python -m experiments.study --study=plain")
  assert not (plain / "gap_vs_samples.md").exists()            # no checkpoints: no curve
  s = tmp_path / "s"
  _run(s, "admrl-s0", "admrl", 0, _worst(10.0), checkpoints={5: _worst(30.0)})
  (s / "gap_vs_samples.md").write_text("stale\n")
  _write_index(s, "python -m experiments.study --study=s")
  assert (s / "gap_vs_samples.md").read_text() == rt.gap_vs_samples(str(s))
  assert (s / "gap_vs_samples.png").stat().st_size > 0
  first = (s / "gap_vs_samples.md").read_text()
  _run(s, "unif-s0", "unif", 0, _worst(40.0))                  # a new run published: the curve follows
  _write_index(s, "python -m experiments.study --study=s")
  text = (s / "gap_vs_samples.md").read_text()
  assert text != first and "| MB-Unif | 10 | 1000 | 1 | 40.0 |" in text, text
  assert "gap_vs_samples.md" in (s / "README.md").read_text()


def test_folder_tables_take_the_checkpoints_returns_into_the_shared_v_star(tmp_path):
  """results_table.write_folder_tables (study after a run, study_curves after checkpoints): a kept
  checkpoint that reached 110 on the last task raises V* there for the final evaluation too, so results.md
  is redrawn with it (worst case 10 + 10 = 20, not 10), with the maps and the curve beside it."""
  s = tmp_path / "s"
  _run(s, "admrl-s0", "admrl", 0, _worst(10.0))
  (s / "results.md").write_text(rt.table(str(s)))
  assert "| AdMRL | 1 | 10.0 |" in (s / "results.md").read_text()
  ck = s / "admrl-s0" / "checkpoints" / "iteration_5"
  ck.mkdir(parents=True)
  (ck / "checkpoint.json").write_text(json.dumps({"iteration": 5, "real_env_steps": 500}))
  _eval_csv(ck / "eval.csv", [99.0, 99.0, 99.0, 110.0])
  written = rt.write_folder_tables(str(s))
  assert [os.path.basename(p) for p in written] == ["results.md", "gap_maps.png", "gap_vs_samples.md",
                                                     "gap_vs_samples.png"]   # (no planner column: no planner map)
  assert "| AdMRL | 1 | 20.0 |" in (s / "results.md").read_text()


def test_model_free_methods_are_compared_unpaired(tmp_path):
  """multitask / maml / pearl (and a labelled variant of one) against MB-Unif: the two intervals side by
  side, no paired test; a model-based method keeps its paired row."""
  study = tmp_path / "s"
  for seed in range(3):
    _run(study, f"unif-s{seed}", "unif", seed, _worst(20.0 + seed), planner=_worst(5.0 + seed))
    _run(study, f"admrl-s{seed}", "admrl", seed, _worst(18.0 + 2 * seed), planner=_worst(6.0))
    _run(study, f"maml-s{seed}", "maml", seed, _worst(30.0 + seed))
    _run(study, f"pearl_long-s{seed}", "pearl", seed, _worst(25.0))
  runs = sr.load_runs(str(study))
  rows = sr.method_rows(runs, sr.shared_v_star(runs))
  text = ct.paired_table(rows)
  assert "| AdMRL - MB-Unif | 3 |" in text and "| AdMRL - MB-Unif (model planner) | 3 |" in text, text
  assert "MAML-TRPO - " not in text and "pearl_long - " not in text, text
  assert "| MAML-TRPO vs MB-Unif (unpaired: model-free) | 3 / 3 | 31.0 ± 2.5 vs 21.0 ± 2.5 |" in text, text
  assert "| pearl_long vs MB-Gauss" not in text        # no MB-Gauss runs here: nothing to set beside
  assert "| pearl_long vs MB-Unif (unpaired: model-free) | 3 / 3 | 25.0 ± 0.0 vs 21.0 ± 2.5 |" in text, text
  assert "(model planner) (unpaired" not in text       # model-free runs have no planner
  assert sr.model_free_groups(rows) == {"maml", "pearl_long"}   # by the runs' method (config.is_model_free)


def test_a_non_finite_difference_is_n_a_never_chosen_never_below(tmp_path):
  a = {0: {f: 1.0 for f in sr.FIELDS}, 1: {f: 2.0 for f in sr.FIELDS}}
  b = {0: {f: 5.0 for f in sr.FIELDS}, 1: {**{f: 5.0 for f in sr.FIELDS}, "worst_case_gap": float("nan")}}
  diff = sr.paired_differences(a, b)
  mean, half, p, n = diff["worst_case_gap"]
  assert n == 2 and math.isnan(mean) and math.isnan(half) and math.isnan(p)    # was p 0.00
  assert sr.difference(mean, half, p) == "n/a" and sr.verdict(mean, half) == "n/a"
  assert sr.difference(*diff["mean_gap"][:3]) == "-3.5 ± 6.4 (p 0.09)"          # the finite fields as before
  # confirmation: "bad" has a NaN planner worst case on seed 1 and a far lower mean elsewhere
  rows = {"unif": [{"seed": s, "planner": _gaps(30.0 + s)} for s in range(3)],
          "good": [{"seed": s, "planner": _gaps(20.0 + s + 0.5 * (s % 2))} for s in range(3)],
          "bad": [{"seed": s, "planner": _gaps(float("nan") if s == 1 else 0.0)} for s in range(3)]}
  found = sel.confirmation(rows, ["bad", "good"])
  assert found["chosen"] == "good" and math.isnan(found["rows"]["bad"][4])
  assert found["rows"]["good"][4] == pytest.approx(min(1.0, 2 * found["rows"]["good"][2]))   # bad counts, as p 1
  assert sel.not_worse(rows, "bad")["not_worse"] is None
  # the tables: n/a, not "nan ± nan (p 0.00)"
  study = tmp_path / "s"
  for seed in range(2):
    _run(study, f"unif-s{seed}", "unif", seed, _worst(20.0), planner=_worst(5.0 + seed))
    _run(study, f"admrl-s{seed}", "admrl", seed, _worst(10.0), planner=[99.0, 99.0, 99.0, "nan" if seed else 90.0])
  text = rt.table(str(study))
  assert "| AdMRL - MB-Unif (model planner) | 2 | n/a |" in text, text
  assert "nan" not in text.split("Paired by seed")[1]
  out = selection_tables.confirmation_table(str(study), ["admrl"])
  assert "| AdMRL | 2 | n/a | n/a | n/a |" in out and "Chosen" not in out, out


def test_the_confirmation_breaks_a_tie_of_corrected_p_by_the_raw_p_then_the_mean():
  """Holm: 2 x p_small and max(2 x p_small, p_large) tie when p_large < 2 p_small. The finalist with the
  smaller raw p is chosen even though the other's mean is lower."""
  base = [30.0, 31.0, 32.0, 33.0]
  steady = [-2.0, -4.0, 0.5, -3.0]           # small mean, smaller spread: the lower raw p (0.115)
  wild = [-12.0, 1.0, -20.0, -3.0]           # lower mean, large spread: the higher raw p (0.168)
  rows = {"unif": [{"seed": s, "planner": _gaps(b)} for s, b in enumerate(base)],
          "steady": [{"seed": s, "planner": _gaps(b + d)} for s, (b, d) in enumerate(zip(base, steady))],
          "wild": [{"seed": s, "planner": _gaps(b + d)} for s, (b, d) in enumerate(zip(base, wild))]}
  found = sel.confirmation(rows, ["wild", "steady"])
  (m_s, _, p_s, _, h_s), (m_w, _, p_w, _, h_w) = found["rows"]["steady"], found["rows"]["wild"]
  assert h_s == h_w and p_s < p_w and m_w < m_s, found          # the tie this test is about
  assert found["chosen"] == "steady"
  # equal raw p too (the same differences): the lower mean
  rows["copy"] = [{"seed": s, "planner": _gaps(b + 2 * d)} for s, (b, d) in enumerate(zip(base, steady))]
  found = sel.confirmation(rows, ["steady", "copy"])
  assert found["rows"]["copy"][4] == found["rows"]["steady"][4] and found["chosen"] in ("copy", "steady")
  assert found["rows"]["copy"][2] == pytest.approx(found["rows"]["steady"][2])   # d and 2d: one t statistic
  assert found["chosen"] == "copy"                                                 # the lower mean


def test_an_evaluation_over_other_tasks_is_refused_naming_the_run(tmp_path, capsys):
  study = tmp_path / "s"
  _run(study, "admrl-s0", "admrl", 0, _worst(10.0))
  bad = _run(study, "unif-s0", "unif", 0, _worst(20.0)[:3], tasks=TASKS[:3])      # a truncated eval.csv
  with pytest.raises(ValueError) as e:
    sr.load_runs(str(study))
  assert str(e.value) == (f"{bad / 'eval.csv'}: set 'in_box' at zero_shot: 3 tasks, the folder's 4 "
                          f"({study / 'admrl-s0' / 'eval.csv'}); missing ['1.000 1.000'] (a truncated or foreign "
                          "eval.csv?)")
  with pytest.raises(SystemExit):
    rt.main([str(study)])
  err = capsys.readouterr().err
  assert err.startswith(f"error: {bad / 'eval.csv'}: set 'in_box'") and len(err.splitlines()) == 1
  # extra tasks, and a checkpoint's evaluation: checked alike
  other = tmp_path / "o"
  _run(other, "admrl-s0", "admrl", 0, _worst(10.0), checkpoints={5: _worst(30.0)})
  ck = other / "admrl-s0" / "checkpoints" / "iteration_5" / "eval.csv"
  _eval_csv(ck, _worst(30.0) + [90.0], tasks=TASKS + ["0.000 0.000"])
  with pytest.raises(ValueError, match=r"iteration_5/eval.csv: set 'in_box' at zero_shot: 5 tasks, the folder's 4 .*"
                                       r"extra \['0.000 0.000'\]"):
    sr.load_runs(str(other))
  _eval_csv(ck, _worst(30.0), ood=1)              # cut off in its OOD rows
  with pytest.raises(ValueError, match=r"set 'ood' at zero_shot: 1 tasks, the folder's 2 .*missing \['-3.000 3.000'\]"):
    sr.load_runs(str(other))
  _eval_csv(ck, _worst(30.0), ood=0)              # no OOD set at all (a run from before it): read
  assert len(sr.load_runs(str(other))[0]["checkpoints"]) == 1
  _eval_csv(other / "admrl-s0" / "eval.csv", _worst(10.0), ood=0)   # the first evaluation without one, too
  _run(other, "gauss-s0", "gauss", 0, _worst(20.0))                # the first with an OOD set: its reference
  _run(other, "unif-s0", "unif", 0, _worst(20.0), ood=1)
  with pytest.raises(ValueError, match=r"unif-s0/eval.csv: set 'ood' at zero_shot: 1 tasks, the folder's 2 "
                                       r"\(.*gauss-s0/eval.csv\); missing"):
    sr.load_runs(str(other))


def _screening_folder(tmp_path, means: dict, mean_gaps: dict | None = None):
  """A folder whose rows have planner worst-case gaps ``means[row]`` on every seed (0-2), the planner's
  mean gap set by the other tasks' gap (``mean_gaps``: the gap of the three other tasks)."""
  study = tmp_path / "screen"
  for row, worst in means.items():
    other = (mean_gaps or {}).get(row, 1.0)
    for seed in range(3):
      _run(study, f"{row}-s{seed}", "unif" if row == "unif" else "admrl", seed, _worst(20.0),
           planner=[100.0 - other] * 3 + [100.0 - worst])
  return study


def test_finalists_follow_the_screening_rule(tmp_path, capsys):
  """Below MB-Unif's 30: a (20.0), b (20.05, within 0.1 of a, lower mean gap), c (25.0), d (28.0); e (35.0)
  is above. The 3 lowest with the tie to b: b, a, c."""
  study = _screening_folder(tmp_path, {"unif": 30.0, "a": 20.0, "b": 20.05, "c": 25.0, "d": 28.0, "e": 35.0},
                            {"a": 3.0, "b": 1.0})
  runs = sr.load_runs(str(study))
  found = sel.screening(sr.method_rows(runs, sr.shared_v_star(runs)), ["a", "b", "c", "d", "e"])
  assert found["finalists"] == ["b", "a", "c"] and found["base"] == (pytest.approx(30.0), 3)
  rt.main([str(study), "--finalists"])
  out = capsys.readouterr().out
  assert "Finalists: b (20.05), a (20.00), c (25.00), against MB-Unif's 30.00." in out, out
  assert "| b | 3 | 20.05 | 5.76 | yes |" in out and "| e | 3 | 35.00 | 9.50 | no |" in out, out
  rt.main(["--finalists", str(study), "--candidates=d,e"])
  assert "Finalists: d (28.00), against MB-Unif's 30.00." in capsys.readouterr().out
  rt.main([str(study), "--finalists", "--candidates=e"])
  assert "Finalists: none below MB-Unif (MB-Unif 30.00; the lowest candidate, e, 35.00)." in capsys.readouterr().out
  capsys.readouterr()
  for argv, message in (([str(study), "--finalists", "--candidates=nope"], "error: candidates: rows of"),
                        ([str(study), "--candidates=a"], "error: candidates: only with --finalists"),
                        ([str(study), "--finalists=a"], "error: argument --finalists: ignored explicit argument")):
    with pytest.raises(SystemExit):
      rt.main(argv)
    assert message in capsys.readouterr().err


def test_not_worse_is_the_upper_end_of_the_paired_interval_below_plus_5(tmp_path, capsys):
  study = tmp_path / "held_out"
  unif = [10.0, 20.0, 15.0]
  for seed, u in enumerate(unif):
    _run(study, f"unif-s{seed}", "unif", seed, _worst(20.0), planner=_worst(u))
    _run(study, f"close-s{seed}", "admrl", seed, _worst(20.0), planner=_worst(u + [1.0, 2.0, 1.5][seed]))
    _run(study, f"far-s{seed}", "admrl", seed, _worst(20.0), planner=_worst(u + [4.0, 6.0, 5.0][seed]))
  runs = sr.load_runs(str(study))
  rows = sr.method_rows(runs, sr.shared_v_star(runs))
  close, far = sel.not_worse(rows, "close"), sel.not_worse(rows, "far")
  assert close["mean"] == pytest.approx(1.5) and close["upper"] == pytest.approx(1.5 + sr.t_half([1.0, 2.0, 1.5]))
  assert close["not_worse"] and close["upper"] < 5 and not far["not_worse"] and far["upper"] > 5
  rt.main([str(study), "--not_worse=close"])
  out = capsys.readouterr().out
  assert out.rstrip().endswith("close - MB-Unif (model planner in-box worst-case gap, paired by seed): +1.5, 95 % "
                               "t-interval [+0.3, +2.7] over 3 seeds (p 0.04): not worse (upper end +2.7 < +5).")
  rt.main([str(study), "--not_worse=far"])
  assert "+5.0, 95 % t-interval [+2.5, +7.5] over 3 seeds (p 0.01): not shown not worse (upper end +7.5 >= +5)." in (
      capsys.readouterr().out)
  for argv, message in (([str(study), "--not_worse=close,far"], "error: not_worse: one row other than unif"),
                        ([str(study), "--not_worse=nope"], "error: not_worse: rows of"),
                        (["--readme", str(tmp_path), "--not_worse=close"], "error: not_worse: a folder of runs' table")):
    with pytest.raises(SystemExit):
      rt.main(argv)
    assert message in capsys.readouterr().err
  assert np.isfinite(close["p"])


def test_a_checkpoint_being_published_is_not_read_yet(tmp_path):
  """study_curves writes checkpoint.json, then eval.csv (which marks the point done): a folder read between
  the two holds the point as not evaluated, rather than failing on the missing eval.csv."""
  study = tmp_path / "s"
  run_dir = _run(study, "unif-s0", "unif", 0, _worst(20.0), checkpoints={5: _worst(30.0)})
  ck = run_dir / "checkpoints" / "iteration_7"
  ck.mkdir(parents=True)
  (ck / "checkpoint.json").write_text(json.dumps({"iteration": 7, "real_env_steps": 700}))
  (run,) = sr.load_runs(str(study))
  assert [c["iteration"] for c in run["checkpoints"]] == [5]


def test_study_coverage_locates_each_runs_worst_task_against_the_shared_v_star(tmp_path):
  """experiments.study_coverage's worst task per run: the in-box task of the largest gap of the chosen
  evaluator against the folder's shared V* (a return above the oracle on one task raises V* there for every
  run, which moves a run's worst task), absent for a run without that evaluator."""
  from experiments import study_coverage

  study = tmp_path / "s"
  _run(study, "unif-s0", "unif", 0, [99.0, 99.0, 90.0, 95.0], planner=[99.0, 80.0, 99.0, 99.0])
  _run(study, "unif-s1", "unif", 1, [99.0, 99.0, 99.0, 96.0], planner=[99.0, 99.0, 99.0, 130.0])
  _run(study, "gauss-s0", "gauss", 0, [99.0, 99.0, 99.0, 99.0])
  found = study_coverage.worst_tasks(str(study), "planner")
  assert set(found) == {("unif", 0), ("unif", 1)}          # gauss-s0 has no planner column
  # unif-s1's planner reached 130 on (1, 1): V* there is 130 for every run, so unif-s0's worst planner
  # task is (1, 1) with 31 (against its 20 at (-1, 1) on the oracle's V* of 100), and its worst policy
  # task too (35 against 10 at (1, -1))
  np.testing.assert_allclose(found[("unif", 0)][0], [1.0, 1.0])
  assert found[("unif", 0)][1] == pytest.approx(31.0)
  np.testing.assert_allclose(found[("unif", 1)][0], [-1.0, -1.0])   # 1 on three tasks, 0 at (1, 1): the first
  assert found[("unif", 1)][1] == pytest.approx(1.0)
  policy = study_coverage.worst_tasks(str(study), "policy")
  np.testing.assert_allclose(policy[("unif", 0)][0], [1.0, 1.0])
  assert policy[("unif", 0)][1] == pytest.approx(35.0)


def _metrics_csv(path, psis):
  """metrics.csv of one task per iteration at ``psis`` [N, 2] (the columns study_coverage reads)."""
  with open(path, "w", newline="") as fh:
    out = csv.writer(fh)
    out.writerow(["iteration", "psi/0/0", "psi/0/1"])
    for i, (a, b) in enumerate(psis, 1):
      out.writerow([i, a, b])


def test_study_coverage_local_link_ranks_a_runs_share_near_a_task_against_its_gap_there(tmp_path):
  """--local: per test task inside the region, across runs, a run's share of proposed tasks within the
  radius (L-infinity) of it against its planner gap there (shared V*): runs that trained more near
  (1, 1) have the lower gap there, a perfect negative rank correlation; a task outside the region is
  left out; a task whose shares are all equal has no correlation (NaN)."""
  from experiments import study_coverage

  study = tmp_path / "s"
  for seed, near in enumerate([0, 1, 2, 3]):   # `near` of 4 tasks within 0.2 of (1, 1), the rest far away
    gap = 40.0 - 10.0 * near
    run_dir = _run(study, f"unif-s{seed}", "unif", seed, _worst(0.0), planner=[99.0, 99.0, 99.0, 100.0 - gap])
    _metrics_csv(run_dir / "metrics.csv", [(1.1, 0.9)] * near + [(-1.0, -1.0)] * (4 - near))
  rows = study_coverage.local_link(str(study), np.array([0.5, 0.5]), np.array([2.0, 2.0]), 0.2, "planner")
  assert len(rows) == 1                                  # only (1, 1) lies in [0.5, 2]^2
  (row,) = rows
  np.testing.assert_allclose(row["task"], [1.0, 1.0])
  np.testing.assert_allclose(row["shares"], [0.0, 0.25, 0.5, 0.75])
  np.testing.assert_allclose(row["gaps"], [40.0, 30.0, 20.0, 10.0])
  assert row["rho"] == pytest.approx(-1.0) and row["p"] < 0.05
  # a radius that holds none of the proposals: every share 0, no correlation
  (flat,) = study_coverage.local_link(str(study), np.array([0.5, 0.5]), np.array([2.0, 2.0]), 0.05, "planner")
  assert np.all(flat["shares"] == 0.0) and math.isnan(flat["rho"])


def test_few_shot_changes_pool_every_task_of_every_seed_against_its_own_zero_shot():
  """Per task, few-shot gap minus zero-shot gap: seed 0's changes -10, -5, +10, +90 and seed 1's 0, 0, 0, +20
  pool into eight (median +0.0, 90th percentile +41.0, 3 of 8 worse); a column without few-shot rows (the
  planner here) gives no row, and a budget a run lacks is '-'."""
  def run(seed, zero, few):
    rows = [{"set": "in_box", "budget": b, "psi": p, "return": r, "planner_return": None if b != "zero_shot" else 50.0}
            for b, rets in (("zero_shot", zero), ("few_shot_2000", few)) for p, r in zip(TASKS, rets)]
    return {"name": f"admrl-s{seed}", "summary": {"method": "admrl", "seed": seed}, "rows": rows}

  runs = [run(0, [90, 90, 90, 90], [100, 95, 80, 0]), run(1, [90, 80, 70, 60], [90, 80, 70, 40])]
  v_star = {("in_box", p): 100.0 for p in TASKS}
  rows = ct.few_shot_changes(runs, v_star, ["few_shot_2000", "few_shot_4000"])
  assert rows == [["AdMRL", "+0.0 / +41.0 (38%)", "-"]]
  assert "the change of the gap from zero-shot" in ct.few_shot_table(runs, v_star)


def test_grid_gradient_is_the_bilinear_interpolants_exact_slope():
  from admrl_jax.study_results import grid_gradient
  xs, ys = np.linspace(-2, 2, 7), np.linspace(1.2, 2.0, 7)
  centers = np.asarray([[x, y] for x in xs for y in ys])
  linear = 3.0 * centers[:, 0] - 5.0 * centers[:, 1]
  for psi in ([0.1, 1.5], [-2.0, 1.2], [2.0, 2.0], [2.5, 0.0]):           # inside, on corners, outside (clipped)
    np.testing.assert_allclose(grid_gradient(centers, linear, np.asarray(psi)), [3.0, -5.0], atol=1e-9)
  bilinear = centers[:, 0] * centers[:, 1]                                # exact for a bilinear interpolant
  np.testing.assert_allclose(grid_gradient(centers, bilinear, np.asarray([0.3, 1.55])), [1.55, 0.3], atol=1e-9)


def test_logged_gradients_read_each_tasks_psi_and_gradient(tmp_path):
  from admrl_jax.study_results import logged_gradients
  path = tmp_path / "metrics.csv"
  path.write_text("iteration,psi/0/0,psi/0/1,psi/1/0,psi/1/1,task_gradient/0/0,task_gradient/0/1,"
                  "task_gradient/1/0,task_gradient/1/1\n1,0.5,1.5,-1,1.3,2,3,4,5\n")
  ((psi0, g0), (psi1, g1)), = logged_gradients(str(path)).values()
  np.testing.assert_array_equal(np.concatenate([psi0, g0, psi1, g1]), [0.5, 1.5, 2, 3, -1, 1.3, 4, 5])
  path.write_text("iteration,psi/0/0,psi/0/1\n1,0.5,1.5\n")
  assert logged_gradients(str(path)) == {}


def test_welch_difference_against_its_closed_form_and_its_own_test():
  """a = [1, 2, 3], b = [2, 4, 6, 8]: difference -3, variances of the means 1/3 and 5/3, Welch-Satterthwaite
  dof (2)^2 / ((1/3)^2 / 2 + (5/3)^2 / 3) = 4 / (1/18 + 25/27) = 4.0755; the interval excludes 0 exactly
  when Welch's p is below 0.05."""
  mean, half, p = sr.welch_difference([1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0])
  dof = 4.0 / (1.0 / 18.0 + 25.0 / 27.0)
  from scipy import stats
  assert mean == pytest.approx(-3.0)
  assert half == pytest.approx(stats.t.ppf(0.975, dof) * math.sqrt(2.0), rel=1e-12)
  t = -3.0 / math.sqrt(2.0)
  assert p == pytest.approx(2 * stats.t.sf(abs(t), dof), rel=1e-9)
  rng = np.random.default_rng(0)
  for _ in range(50):
    a, b = rng.normal(0, 1, 3), rng.normal(rng.uniform(-3, 3), rng.uniform(0.1, 2), 3)
    mean, half, p = sr.welch_difference(a, b)
    assert (abs(mean) > half) == (p < 0.05)
  assert all(math.isnan(x) for x in sr.welch_difference([1.0], [2.0, 3.0]))
  assert all(math.isnan(x) for x in sr.welch_difference([1.0, float("nan")], [2.0, 3.0]))
  assert sr.welch_difference([1.0, 1.0], [3.0, 3.0]) == (-2.0, 0.0, 0.0)


def test_model_free_points_are_the_first_kept_checkpoint_and_the_final_evaluation(tmp_path):
  """maml's 1x point is each run's checkpoint at the smallest evaluated iteration (a later checkpoint and
  the final evaluation are other rows); AdMRL minus each point by Welch, unpaired."""
  study = tmp_path / "s"
  for seed in range(3):
    _run(study, f"admrl-s{seed}", "admrl", seed, _worst(10.0 + seed))
    _run(study, f"maml-s{seed}", "maml", seed, _worst(40.0 + 2 * seed),
         checkpoints={2: _worst(30.0 + seed), 4: _worst(50.0)})
  runs = sr.load_runs(str(study))
  v_star = sr.shared_v_star(runs)
  points = sr.model_free_points(runs, v_star)
  assert set(points) == {("maml", "first"), ("maml", "final")}
  assert points[("maml", "first")]["iteration"] == 2 and points[("maml", "first")]["steps"] == [200] * 3
  assert [g["worst_case_gap"] for g in points[("maml", "first")]["zero_shot"]] == [30.0, 31.0, 32.0]
  assert [g["worst_case_gap"] for g in points[("maml", "final")]["zero_shot"]] == [40.0, 42.0, 44.0]
  text = ct.model_free_table(runs, v_star)
  assert "| MAML-TRPO, first kept checkpoint (iteration 2) | 3 | 200 | 31.0 ± 2.5 |" in text, text
  assert "| MAML-TRPO, final (iteration 10) | 3 | 1000 | 42.0 ± 5.0 |" in text, text
  mean, half, p = sr.welch_difference([10.0, 11.0, 12.0], [30.0, 31.0, 32.0])
  assert f"| AdMRL - MAML-TRPO, first kept checkpoint (iteration 2) | 3 / 3 | {sr.difference(mean, half, p)} |" in text
  assert ct.model_free_table([r for r in runs if r["summary"]["method"] != "maml"], v_star) == ""
