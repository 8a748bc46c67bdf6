"""``admrl-oracle-winners``: the per-task winner among the V* candidates, its margin, the disagreement of
the oracles, the best-known grid and the study folder's best returns (pure functions; the command on a
shipped family, whose tables it reads and never computes)."""
import csv
import json
import os
import subprocess
import sys

import numpy as np

from admrl_jax.oracles.winners import best_grid, disagreement, psi_label, runs_best, winners
from tests.conftest import AS_MAKE_RUN

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_winner_margin_and_disagreement_per_task():
  values = {"mpc": np.array([10.0, 5.0, np.nan]), "policy": np.array([8.0, 7.0, 3.0]),
            "zero_action": np.array([1.0, 6.5, 4.0])}
  won, best, margin = winners(values)
  assert won == ["mpc", "policy", "zero_action"]          # a NaN (task not computed) never wins
  np.testing.assert_allclose(best, [10.0, 7.0, 4.0])
  np.testing.assert_allclose(margin, [2.0, 0.5, 1.0])
  spread = disagreement(values)                            # the oracles only: mpc and policy, not the zero action
  np.testing.assert_allclose(spread[:2], [2.0, 2.0])
  assert np.isnan(spread[2])
  assert np.all(np.isnan(disagreement({"mpc": values["mpc"], "zero_action": values["zero_action"]})))


def test_best_grid_places_each_task_in_its_cell():
  psis = np.array([[-2.0, 1.2], [2.0, 1.2], [-2.0, 2.0], [0.0, 1.6]], np.float32)
  text = best_grid(psis, np.array([1.0, 2.0, 3.0, 4.0]))
  lines = text.strip().splitlines()
  assert lines[0].split("|")[2:5] == [" -2.000 ", " 0.000 ", " 2.000 "]
  assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["2.000", "3", "", ""]     # top row: the highest psi_1
  assert [c.strip() for c in lines[3].split("|")[1:-1]] == ["1.600", "", "4", ""]
  assert [c.strip() for c in lines[4].split("|")[1:-1]] == ["1.200", "1", "", "2"]


def _run(folder, name, method, seed, rows):
  os.makedirs(folder / name)
  (folder / name / "summary.json").write_text(json.dumps({"method": method, "seed": seed}))
  with open(folder / name / "eval.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, ["set", "budget", "psi", "v_star", "return", "planner_return"])
    w.writeheader()
    w.writerows(rows)


def test_runs_best_takes_every_evaluator_of_every_run_and_not_their_v_star(tmp_path):
  psis = np.array([[0.0, 1.2], [1.0, 1.2], [2.0, 1.2]], np.float32)
  row = lambda s, psi, ret, planner: {"set": s, "budget": "zero_shot", "psi": psi, "v_star": 999.0,
                                      "return": ret, "planner_return": planner}
  _run(tmp_path, "admrl-s0", "admrl", 0, [row("in_box", "0.000 1.200", 5.0, 7.0), row("in_box", "1.000 1.200", 3.0, ""),
                                        row("ood", "3.000 1.200", 50.0, 1.0)])
  _run(tmp_path, "unif-s0", "unif", 0, [row("in_box", "0.000 1.200", 6.0, 2.0), row("in_box", "1.000 1.200", 4.0, 1.0)])
  np.testing.assert_allclose(runs_best(str(tmp_path), "in_box", psis), [7.0, 4.0, np.nan])
  assert runs_best(str(tmp_path), "other", psis) is None
  assert psi_label(psis[1]) == "1.000 1.200"


def test_the_command_reads_the_shipped_tables():
  """(Its bad flags are tests/test_entry_points.py's cases.)"""
  cmd = [sys.executable, "-m", "experiments.oracle_winners", "--config=experiments/configs/point_mass_pockets_study.py"]
  env = {**os.environ, **AS_MAKE_RUN}   # the test set's float bits as `make run` computes them: the tables' key
  out = subprocess.run(cmd + ["--sets=in_box"], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
  assert out.returncode == 0, out.stderr
  assert "| psi | trajectory | floor | zero_action | winner |" in out.stdout
  assert "Wins: trajectory 49, floor 0, zero_action 0." in out.stdout     # docs/results.md: it wins every task
