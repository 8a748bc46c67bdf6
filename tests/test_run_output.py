"""What a run shows and keeps: progress bars that are never silent (as lines in a log), the ending that
puts the evaluators side by side, and older run directories read with the protocol they ran."""
import io
import json
import time

import pytest

from admrl_jax import progress
from admrl_jax.configs.default import get_config
from admrl_jax.evaluation_protocol import summary_lines
from admrl_jax.run_dir import load_config, save_config


def test_a_bar_in_a_log_is_whole_lines_and_beats_while_an_item_runs(monkeypatch):
  log = io.StringIO()   # not a terminal: every redraw becomes a line
  monkeypatch.setattr(progress.sys, "stderr", log)
  with progress.bar(2, "tasks of a test", unit="task", heartbeat=0.2) as bar:
    time.sleep(1.3)     # one long item: the heartbeat redraws with the elapsed time
    bar.update(2)
  lines = log.getvalue().splitlines()
  assert "\r" not in log.getvalue() and all(line.startswith("tasks of a test:") for line in lines)
  assert any("0/2 [00:01" in line for line in lines) and "2/2" in lines[-1]
  assert len(lines) == len(set(lines))      # the closing redraw is not repeated


SUMMARY = {"method": "admrl", "family": "point_mass", "seed": 0, "real_env_steps": 1000,
           "worst_case_gap": 19.47, "mean_gap": 5.1, "cvar10_gap": 15.2, "ood_worst_case_gap": None,
           "floor_worst_case_gap": 18.78, "floor_mean_gap": 4.0, "floor_cvar10_gap": 12.0,
           "floor_ood_worst_case_gap": None, "planner_worst_case_gap": 56.46, "planner_mean_gap": 8.0,
           "planner_cvar10_gap": 30.0, "planner_ood_worst_case_gap": None}


def test_the_ending_puts_the_evaluators_side_by_side_and_says_how_to_read_them(tmp_path):
  (tmp_path / "gap_heatmap.png").write_bytes(b"")
  lines = summary_lines(SUMMARY, str(tmp_path))
  table = {line.split("  ")[0]: line for line in lines[2:5]}
  assert "19.47" in table["policy evaluator"] and "18.78" in table["adaptation floor"]
  assert "56.46" in table["model planner"] and table["model planner"].rstrip().endswith("-")   # no OOD set
  assert any(line.startswith("How to read them: the floor is what adaptation alone leaves") for line in lines)
  assert any("OOD set not evaluated" in line for line in lines)
  assert lines[-1] == f"heat maps: {tmp_path / 'gap_heatmap.png'}"


def test_the_ending_shows_only_the_evaluators_that_ran():
  summary = {**SUMMARY, "ood_worst_case_gap": 30.0, "floor_worst_case_gap": None, "planner_worst_case_gap": None}
  lines = summary_lines(summary, "/nonexistent")
  assert [line.split("  ")[0] for line in lines[2:-1]] == ["policy evaluator"]
  assert lines[2].rstrip().endswith("30.00")


def test_an_older_run_directory_keeps_its_ood_protocol(tmp_path):
  config = get_config()
  assert not config.eval.ood            # the default job skips the OOD set ...
  save_config(config, str(tmp_path))
  assert not load_config(str(tmp_path), get_config()).eval.ood
  raw = json.loads((tmp_path / "config.json").read_text())
  del raw["eval"]["ood"]                # ... a run saved before the field existed evaluated it
  (tmp_path / "config.json").write_text(json.dumps(raw))
  assert load_config(str(tmp_path), get_config()).eval.ood is True


@pytest.mark.parametrize("fresh", [True, False])
def test_load_config_without_defaults_still_reads_a_complete_config(tmp_path, fresh):
  config = get_config()
  config.eval.ood = fresh
  save_config(config, str(tmp_path))
  assert load_config(str(tmp_path)).eval.ood is fresh
