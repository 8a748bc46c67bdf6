"""The command line as a new user meets it: bad layer widths, a missing --config file, a run that goes
non-finite, the multi-process flags, and the installed commands run from another directory."""
import os
import subprocess
import sys

import pytest

from admrl_jax.config import ConfigError, validate
from tests.command_lines import REPO, run_command_lines
from tests.tiny_config import get_config

BIN = os.path.dirname(sys.executable)   # the venv's bin: python and the console scripts


def _run(*args, cwd=REPO, timeout=600):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # only what the install provides
  return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _python(*args, **kw):
  return _run(sys.executable, *args, **kw)


def _one_error_line(p, code: int) -> str:
  """The process exited with ``code`` and printed one ``error:`` line, no traceback; returns it."""
  assert p.returncode == code, p.stderr[-3000:]
  assert "Traceback" not in p.stderr, p.stderr[-3000:]
  errors = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1 and p.stderr.strip().splitlines()[-1] == errors[0], p.stderr[-3000:]
  return errors[0]


@pytest.mark.parametrize("field,value", [("model.hidden", ()), ("trpo.policy_hidden", ()),
                                         ("trpo.value_hidden", (64, 0)), ("model.hidden", (32, -1))])
def test_empty_or_non_positive_layer_widths_are_refused(field, value):
  config = get_config()
  config.update_from_flattened_dict({field: value})
  with pytest.raises(ConfigError, match=rf"^{field}: must be a non-empty tuple of positive integers"):
    validate(config)


EMPTY_HIDDEN = ("experiments.train", ("--config=tests/tiny_config.py", "--config.model.hidden=()", "--run_dir={tmp}/x"))
MISSING_CONFIG = [("train", "--run_dir"), ("sweep", "--root"), ("oracle_table", "--out")]
MULTI_PROCESS = [
    (("--num_processes=2", "--run_dir={tmp}/x"),
     "coordinator: a run of 2 processes needs --coordinator=<host:port of process 0>"),
    (("--num_processes=2", "--coordinator=localhost:1"),
     "run_dir: a run of 2 processes needs --run_dir, the same for every process"),
    (("--num_processes=2", "--process_id=2"), "process_id: must be in 0..1 (num_processes=2), got 2"),
]


def _missing_config(command: str, out: str) -> list:
  """The command lines of ``experiments.<command>`` naming a --config file that does not exist, both ways."""
  return [(f"experiments.{command}", (*flags, f"{out}={{tmp}}/x"))
          for flags in (("--config={tmp}/nope.py",), ("--config", "{tmp}/nope.py", "--config.seed=1"))]


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
  """The bad command lines of the tests below, run from the repository by one helper process
  (tests/command_lines.py, one forked child per line), each with a folder of its own ({tmp}):
  {(module, argv): (folder, the finished process)}."""
  cases = [EMPTY_HIDDEN, *[case for command, out in MISSING_CONFIG for case in _missing_config(command, out)],
           *[("experiments.train", flags) for flags, _ in MULTI_PROCESS]]
  root = str(tmp_path_factory.mktemp("refused"))
  folders = [os.path.join(root, str(i)) for i in range(len(cases))]
  for folder in folders:
    os.makedirs(folder)
  results = run_command_lines(root, [(m, [a.format(tmp=f) for a in argv]) for (m, argv), f in zip(cases, folders)],
                              cwd=REPO)
  return {case: (folder, subprocess.CompletedProcess(case, r["code"], r["stdout"], r["stderr"]))
          for case, folder, r in zip(cases, folders, results)}


def test_empty_hidden_layers_exit_2_naming_the_field(refused):
  folder, p = refused[EMPTY_HIDDEN]
  assert _one_error_line(p, 2) == ("error: model.hidden: must be a non-empty tuple of positive integers "
                                   "(layer widths), got ()")
  assert not os.path.exists(os.path.join(folder, "x"))


@pytest.mark.parametrize("command,out", MISSING_CONFIG)
def test_missing_config_file_exits_2_naming_the_field(refused, command, out):
  for case in _missing_config(command, out):
    folder, p = refused[case]
    missing = os.path.join(folder, "nope.py")
    assert _one_error_line(p, 2) == f"error: config: no such file {missing!r}"
    assert not os.path.exists(os.path.join(folder, "x"))


@pytest.mark.parametrize("flags,message", MULTI_PROCESS)
def test_multi_process_flags_are_checked(refused, flags, message):
  _, p = refused[("experiments.train", flags)]
  assert _one_error_line(p, 2) == "error: " + message


def test_non_finite_run_stops_with_one_line_exit_3_and_no_checkpoint_of_it(tmp_path):
  """A learning rate of 1e12 makes the first outer iteration non-finite: one line naming the metric,
  the iteration and that no checkpoint was saved; exit code 3; no checkpoint of the non-finite state."""
  run_dir = tmp_path / "x"
  p = _python("-m", "experiments.train", "--config=tests/tiny_config.py", "--config.model.learning_rate=1e12",
              f"--run_dir={run_dir}")
  line = _one_error_line(p, 3)
  assert line.startswith("error: training stopped: metric '"), line
  assert "is not finite at outer iteration 1: " in line, line
  assert line.endswith("; no checkpoint was saved (the non-finite state is not saved)"), line
  assert not os.listdir(run_dir / "checkpoints")
  assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1   # its row is kept for diagnosis


def test_non_finite_message_names_the_last_good_checkpoint():
  from admrl_jax.runner import NonFiniteError, _stopped_at_non_finite

  class Saved:
    directory = "/runs/x/checkpoints"

    def latest_step(self):
      return 4

  err = _stopped_at_non_finite(NonFiniteError("metric 'model_loss' is not finite at outer iteration 5: nan"),
                               Saved())
  assert str(err) == ("metric 'model_loss' is not finite at outer iteration 5: nan; the last good checkpoint is "
                      "iteration 4 in /runs/x/checkpoints (the non-finite state is not saved)")


def test_installed_command_runs_from_any_directory(tmp_path):
  """admrl-train from an empty directory finds its default config inside the package (the bad value
  below is refused by validating that config), and the install puts no top-level `experiments` on
  the path."""
  p = _run(os.path.join(BIN, "admrl-train"), "--config.loop.iterations=0", cwd=tmp_path)
  assert _one_error_line(p, 2) == "error: loop.iterations: must be a positive integer, got 0"
  assert os.listdir(tmp_path) == []                       # nothing written (no runs/ here)
  spec = _python("-c", "import importlib.util as u; print(u.find_spec('experiments'), u.find_spec('admrl_jax.cli.train')"
                 " is not None)", cwd=tmp_path)
  assert spec.returncode == 0 and spec.stdout.split() == ["None", "True"], spec.stdout + spec.stderr


def _fake_finished_run(run_dir, method: str, seed: int, worst: float):
  """A run directory as a finished run leaves it (the files a study publishes), without training."""
  import csv
  import json

  os.makedirs(run_dir)
  with open(os.path.join(run_dir, "summary.json"), "w") as fh:
    json.dump({"method": method, "family": "point_mass", "seed": seed, "real_env_steps": 100, "wall_time_s": 1.0}, fh)
  with open(os.path.join(run_dir, "eval.csv"), "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["set", "budget", "psi", "v_star", "return"])
    for i, (x, y) in enumerate([(-1, -1), (-1, 1), (1, -1), (1, 1)]):
      w.writerow(["in_box", "zero_shot", f"{x:.3f} {y:.3f}", 100.0, 100.0 - (worst if i == 3 else 1.0)])
  with open(os.path.join(run_dir, "metrics.csv"), "w") as fh:
    fh.write("iteration,psi/0/0,psi/0/1\n1,0.5,0.5\n2,0.7,0.9\n")
  with open(os.path.join(run_dir, "config.json"), "w") as fh:
    fh.write("{}\n")


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_study_publishes_finished_runs_pairs_them_and_refuses_bad_input(tmp_path):
  """A study whose runs have finished (no training) publishes their four files, recomputes results.md
  with the seed-paired comparison and draws the gap map; re-running keeps what is published. A bad
  method or study name exits 2 with one line naming the field."""
  work, pub = tmp_path / "work", tmp_path / "pub"
  for seed, (w_unif, w_gap) in enumerate([(10.0, 4.0), (12.0, 5.0), (11.0, 5.5)]):
    _fake_finished_run(work / "s" / f"unif-s{seed}", "unif", seed, w_unif)
    _fake_finished_run(work / "s" / f"gap_search-s{seed}", "gap_search", seed, w_gap)
  args = ["-m", "experiments.study", "--study=s", "--methods=unif,gap_search", "--seeds=0,1,2",
          f"--publish={pub}", f"--config.workdir={work}"]
  p = _python(*args)
  assert p.returncode == 0, p.stderr[-3000:]
  for name in ("unif-s0", "gap_search-s2"):
    assert sorted(os.listdir(pub / "s" / name)) == ["config.json", "eval.csv", "metrics.csv", "summary.json"]
  results = (pub / "s" / "results.md").read_text()
  # worst-case gaps 4, 5, 5.5 against 10, 12, 11: paired differences -6, -7, -5.5
  assert "| Gap search - MB-Unif | 3 | -6.2 ± 1.9" in results, results
  assert (pub / "s" / "gap_maps.png").stat().st_size > 0
  again = _python(*args)
  assert again.returncode == 0 and again.stdout.count("published already, skipped") == 6, again.stdout
  assert "python -m experiments.study --study=s" in (pub / "s" / "README.md").read_text()
  assert _one_error_line(_python("-m", "experiments.study", "--study=s", "--methods=unif,nope"), 2).startswith(
      "error: methods: unknown value(s) ['nope']; allowed:")
  assert _one_error_line(_python("-m", "experiments.study", "--methods=unif"), 2).startswith("error: study: needs")


def test_the_cli_modules_tests_import_share_one_process():
  """pytest-xdist's --dist loadfile puts test files into worker processes in no fixed grouping: every CLI
  module a test imports in-process (``oracle_table``, ``study``, ``study_coverage``, the table renderers)
  must import beside the others (absl refuses a flag name defined twice; --config and --commit are shared
  through ``cli.common``), and the first definition serves them all."""
  code = ("from admrl_jax.cli import comparison_tables, oracle_table, results_readme, results_table, "
          "selection_tables, study; from experiments import study_coverage; "
          "assert oracle_table._COMMIT._flagvalues['commit'] is study.COMMIT._flagvalues['commit']; print('ok')")
  p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-3000:]
