"""``python -m experiments.study_curves``: a study's kept checkpoints evaluated and published.

The commands run in one helper process (tests/command_lines.py: the heavy modules imported once, one
forked child per command line), whose ``changed`` list (the paths under the test's folder a command
wrote, by size and mtime) says what each command published and what it left alone. The tests publish a
run with ``experiments.study``'s own ``publish`` and run study_curves as the command.
"""
import csv
import json
import os
import subprocess

import pytest

from tests.command_lines import run_command_lines
from tests.test_cli import _fake_finished_run, _one_error_line
from tests.tiny_config import get_config

CURVES = "experiments.study_curves"
RUN = "unif-s0"


def _flags(root, *more, work=None) -> list[str]:
  """Study s, published under <root>/pub, its run directories under <work> (default <root>/work)."""
  return ["--study=s", f"--publish={root}/pub", f"--workdir={work or f'{root}/work'}", *more]


def _error_line(result, argv) -> str:
  """The command exited 2 with one ``error:`` line on stderr, nothing on stdout; returns the line."""
  p = subprocess.CompletedProcess(argv, result["code"], result["stdout"], result["stderr"])
  line = _one_error_line(p, 2)
  assert p.stderr.strip().splitlines() == [line] and p.stdout == "", (argv, p.stderr, p.stdout)
  return line


def test_bad_iterations_exit_2_with_one_line_naming_the_field(tmp_path):
  """Not integers; an iteration the run directory does not hold (it has no checkpoints) and none
  published. Nothing is written and no jax backend starts."""
  root = str(tmp_path)
  _fake_finished_run(os.path.join(root, "pub", "s", RUN), "unif", 0, 5.0)
  os.makedirs(os.path.join(root, "work", "s", RUN))
  os.makedirs(os.path.join(root, "cwd"))
  cases = [(CURVES, _flags(root, "--iterations=x")), (CURVES, _flags(root, "--iterations=5"))]
  expected = ["error: iterations: must be integers (kept checkpoints' iterations), got ['x']",
              f"error: iterations: {RUN} has no kept checkpoint [5] before its last in {root}/work/s/{RUN} and "
              "none published; allowed: [] (kept) and the published ones"]
  for (_, argv), result, line in zip(cases, run_command_lines(root, cases), expected):
    assert _error_line(result, argv) == line
    assert result["changed"] == [] and not result["jax_backend"], (argv, result)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny MB-Unif run of study s, 3 outer iterations keeping every checkpoint (1, 2, 3), its evaluation
  as small as the tiny config allows (a 2 x 2 grid, no OOD set, one few-shot budget of 1 episode): its
  workdir (<workdir>/s/unif-s0) and real steps per iteration (metrics.jsonl)."""
  from admrl_jax.runner import train_and_evaluate

  root = tmp_path_factory.mktemp("study_curves")
  c = get_config("unif")
  c.loop.iterations = 3
  c.checkpoint.every, c.checkpoint.keep_period = 1, 1
  c.eval.ood, c.eval.oracle_iters, c.eval.episodes, c.eval.adapt_updates = False, 50, 1, 1
  c.eval.oracle_cache = str(root / "oracle_cache")      # V* once, for the run and every checkpoint
  run_dir = root / "work" / "s" / RUN
  train_and_evaluate(c, str(run_dir), log=lambda *_: None)
  steps = {r["iteration"]: r["real_steps"] for r in map(json.loads, open(run_dir / "metrics.jsonl"))}
  return str(root / "work"), steps


def _published(work, root) -> str:
  """The run published under <root>/pub/s as ``experiments.study`` publishes it (its own ``publish``);
  returns the published run's folder."""
  from admrl_jax.cli import study   # here only: importing it defines --config, as other CLI modules do

  os.makedirs(root / "cwd")
  study.publish(os.path.join(work, "s", RUN), str(root / "pub" / "s" / RUN))
  return str(root / "pub" / "s" / RUN)


def _budgets(path) -> set[str]:
  with open(path) as fh:
    return {r["budget"] for r in csv.DictReader(fh)}


def _checkpoint_files(result, root) -> set[str]:
  """The files under the published run's checkpoints/ that a command wrote or changed."""
  prefix = os.path.join("pub", "s", RUN, "checkpoints") + os.sep
  return {p[len(prefix):] for p in result["changed"] if p.startswith(prefix) and os.path.isfile(os.path.join(root, p))}


@pytest.mark.slow   # an end-to-end run (CI runs it with -m slow; out of make test's 10 minutes)
def test_iterations_then_every_kept_checkpoint(trained, tmp_path):
  """--iterations=1 --few_shot publishes iteration 1 alone, with its few-shot rows; then a plain run
  publishes iteration 2 (zero-shot only), leaves iteration 1 as it was and never the last checkpoint
  (the run's own summary); gap_vs_samples.md lists every evaluated model. --iterations=3 (the last) is
  refused."""
  work, steps = trained
  out = _published(work, tmp_path)
  root = str(tmp_path)
  cases = [(CURVES, _flags(root, *argv, work=work))
           for argv in (["--iterations=1", "--few_shot"], [], ["--iterations=3"])]
  first, plain, last = run_command_lines(root, cases)
  for (_, argv), result in zip(cases[:2], (first, plain)):
    assert result["code"] == 0, (argv, result["stderr"][-3000:])

  row = lambda i: f"| MB-Unif | {i} | {steps[i]} | 1 |"   # method, iteration, real steps, seeds
  assert _checkpoint_files(first, root) == {"iteration_1/eval.csv", "iteration_1/checkpoint.json"}, first["changed"]
  assert row(1) in first["stdout"] and row(3) in first["stdout"] and row(2) not in first["stdout"], first["stdout"]
  assert _checkpoint_files(plain, root) == {"iteration_2/eval.csv", "iteration_2/checkpoint.json"}, plain["changed"]
  assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["iteration_1", "iteration_2"]
  for i, budgets in ((1, {"zero_shot", "few_shot_50"}), (2, {"zero_shot"})):
    ck = os.path.join(out, "checkpoints", f"iteration_{i}")
    assert _budgets(os.path.join(ck, "eval.csv")) == budgets, i
    with open(os.path.join(ck, "checkpoint.json")) as fh:
      assert json.load(fh) == {"iteration": i, "real_env_steps": steps[i]}
  with open(os.path.join(root, "pub", "s", "gap_vs_samples.md")) as fh:
    text = fh.read()
  assert all(row(i) in text for i in (1, 2, 3)) and plain["stdout"].endswith(text), text
  assert os.path.getsize(os.path.join(root, "pub", "s", "gap_vs_samples.png")) > 0
  from admrl_jax.cli.results_table import table   # results.md redrawn too: checkpoint returns enter the V*
  with open(os.path.join(root, "pub", "s", "results.md")) as fh:
    assert fh.read() == table(os.path.join(root, "pub", "s"))

  assert _error_line(last, cases[2][1]) == (f"error: iterations: {RUN} has no kept checkpoint [3] before its last "
                                            f"in {work}/s/{RUN} and none published; allowed: [1, 2] (kept) and the "
                                            "published ones")
  assert last["changed"] == []


@pytest.mark.slow
def test_few_shot_reaches_a_checkpoint_published_zero_shot_only(trained, tmp_path):
  """The docstring's ``--iterations=75 --few_shot`` (a baseline's 1x point with its few-shot rows) after a
  plain study_curves run published iteration 75 zero-shot only: the few-shot rows must be published (or
  the command refuse), not silently skipped."""
  work, steps = trained
  out = _published(work, tmp_path)
  ck = os.path.join(out, "checkpoints", "iteration_2")
  os.makedirs(ck)
  with open(os.path.join(out, "eval.csv")) as fh:   # as a plain run publishes it: zero-shot rows only
    rows = [r for r in csv.DictReader(fh) if r["budget"] == "zero_shot"]
  with open(os.path.join(ck, "eval.csv"), "w", newline="") as fh:
    w = csv.DictWriter(fh, list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  with open(os.path.join(ck, "checkpoint.json"), "w") as fh:
    json.dump({"iteration": 2, "real_env_steps": steps[2]}, fh)
  argv = _flags(str(tmp_path), "--iterations=2", "--few_shot", work=work)
  (result,) = run_command_lines(str(tmp_path), [(CURVES, argv)])
  if result["code"] != 2:   # a refusal naming the field would do too
    assert result["code"] == 0, result["stderr"][-3000:]
    assert _budgets(os.path.join(ck, "eval.csv")) == {"zero_shot", "few_shot_50"}
  else:
    assert _error_line(result, argv).startswith("error: iterations:")
