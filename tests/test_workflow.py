"""The researcher's workflow: exact resume after SIGTERM and SIGKILL, the CLI's bad inputs,
evaluation from checkpoints, a sweep, the sharded run against the single-device run, and a run of
two processes against a run of one."""
import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from admrl_jax.checkpoint import Checkpointer
from admrl_jax.runner import TIMING_FIELDS, train
from tests.command_lines import run_command_lines
from tests.conftest import AS_MAKE_RUN
from tests.interrupted_run import resume_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(*args, env=None, timeout=600):
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                        env={**os.environ, **(env or {})})


def _rows(run_dir):
  rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
  return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(state.replace(key=jax.random.key_data(state.key)))]


def _steps(run_dir):
  ckpt = Checkpointer(str(run_dir))
  steps = ckpt.steps()
  ckpt.close()
  return steps


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """An uninterrupted 4-iteration run, and the same run stopped by SIGTERM after iteration 1,
  resumed, killed (SIGKILL) after iteration 3 (last checkpoint: 2), and resumed to the end."""
  root = tmp_path_factory.mktemp("resume")
  ref_dir, cut_dir = str(root / "ref"), str(root / "cut")
  ref = train(resume_config(4), ref_dir, log=lambda *_: None)
  cmd = ["-m", "tests.interrupted_run", cut_dir, "--iterations=4"]
  term = _python(*cmd, "--at=1", "--signal=SIGTERM")
  after_term = (_steps(cut_dir), len(_rows(cut_dir)))
  kill = _python(*cmd, "--at=3", "--signal=SIGKILL", "--resume")
  after_kill = (_steps(cut_dir), len(_rows(cut_dir)))
  resumed = train(resume_config(4), cut_dir, log=lambda *_: None, resume=True)
  return dict(ref=ref, ref_dir=ref_dir, cut_dir=cut_dir, term=term, kill=kill, after_term=after_term,
              after_kill=after_kill, resumed=resumed)


@pytest.mark.slow   # three processes' runs: 117 s (CI runs it with -m slow)
def test_sigterm_and_sigkill_then_resume_equal_the_uninterrupted_run(runs):
  assert runs["term"].returncode == 3, runs["term"].stderr[-2000:]
  assert "SIGTERM after outer iteration 1" in runs["term"].stderr
  assert runs["after_term"] == ([1], 1)            # checkpoint written at the signal, off the schedule
  assert runs["kill"].returncode == -signal.SIGKILL, runs["kill"].stderr[-2000:]
  assert runs["after_kill"] == ([1, 2], 3)         # row 3 was logged, its state never checkpointed
  ref, resumed = runs["ref"], runs["resumed"]
  assert int(resumed.state.iteration) == 4
  for a, b in zip(_leaves(ref.state), _leaves(resumed.state)):
    np.testing.assert_array_equal(a, b)
  assert _rows(runs["cut_dir"]) == _rows(runs["ref_dir"])   # row 3 recomputed, not duplicated
  with open(os.path.join(runs["cut_dir"], "metrics.csv")) as fh:
    assert len(fh.read().splitlines()) == 1 + 4


@pytest.mark.slow   # shares the runs above (CI runs it with -m slow)
def test_evaluate_cli_from_checkpoints(runs, tmp_path):
  out = tmp_path / "eval"
  p = _python("-m", "experiments.evaluate", f"--run_dir={runs['ref_dir']}", "--checkpoints=all", f"--out={out}")
  assert p.returncode == 0, p.stderr[-3000:]
  assert _steps(runs["ref_dir"]) == [2, 4]
  table = (out / "eval_table.md").read_text().splitlines()
  assert len(table) == 2 + 2 * 2 * 2             # 2 checkpoints x (in-box, OOD) x (zero-shot, few-shot)
  assert os.path.getsize(out / "worst_gap_vs_samples.png") > 1000
  for step in (2, 4):
    step_dir = os.path.join(runs["ref_dir"], "eval", f"iteration_{step}")
    summary = json.load(open(os.path.join(step_dir, "summary.json")))
    assert summary["iterations"] == step and summary["worst_case_gap"] >= summary["mean_gap"] >= 0
    assert os.path.getsize(os.path.join(step_dir, "gap_heatmap.png")) > 1000


_TRAIN = ["-m", "experiments.train", "--config=tests/tiny_config.py", "--run_dir={workdir}/x"]


# (command line, the one stderr line); {workdir}: a folder of the case's own, never created
BAD_INPUT = [
    (_TRAIN + ["--config.family=cheetah"], "family: unknown value 'cheetah'; allowed: ['ant_2d', 'ant_3d', 'half_cheetah_2d', 'half_cheetah_linear', 'hopper_2d', 'humanoid_3d', 'point_mass', 'point_mass_corner', 'point_mass_pockets', 'walker_2d']"),
    (_TRAIN + ["--config.method=reptile"], "method: unknown value 'reptile'; allowed: ['admrl', 'gap_search', 'gauss', 'maml', 'multitask', 'pearl', 'plr', 'random_walk', 'unif']"),
    (_TRAIN + ["--config.task.lo=(1.0, 1.0)", "--config.task.hi=(0.0, 2.0)"],
     "task.lo, task.hi: the box is empty or inverted; need lo < hi in every dimension, "
     "got lo=(1.0, 1.0) hi=(0.0, 2.0)"),
    (_TRAIN + ["--config.task.lo=(0.0,)", "--config.task.hi=(1.0,)"],
     "task.lo: family 'point_mass' has 2-dimensional tasks, got 1 values (0.0,)"),
    (_TRAIN + ["--config.loop.real_episodes=0"], "loop.real_episodes: must be a positive integer, got 0"),
    (_TRAIN + ["--config.backend=mjx"], "backend: unknown value 'mjx' for family 'point_mass'; allowed: ['jax']"),
    (_TRAIN + ["--config.devices=8", "--config.loop.num_tasks=8", "--config.model.batch_size=64"],
     "devices: asked for 8, but jax sees 1 (cpu); allowed: 1..1"),
    (["-m", "experiments.train", "--resume", "--run_dir={workdir}/missing"],
     "run_dir: '{workdir}/missing' holds no config.json; is it a run directory?"),
    (["-m", "experiments.evaluate", "--run_dir={workdir}/missing"],
     "run_dir: '{workdir}/missing' holds no config.json; is it a run directory?"),
    (["-m", "experiments.sweep", "--config=tests/tiny_config.py", "--methods=admrl,reptile", "--root={workdir}"],
     "methods: unknown value(s) ['reptile']; allowed: ['admrl', 'gap_search', 'gauss', 'maml', 'multitask', 'pearl', 'plr', 'random_walk', 'unif']"),
]


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory):
  """Every command line of BAD_INPUT run from the repository by one helper process (tests/command_lines.py,
  one forked child per line): {args: (workdir, result)}."""
  root = str(tmp_path_factory.mktemp("bad_input"))
  workdirs = [os.path.join(root, str(i), "runs") for i in range(len(BAD_INPUT))]
  for workdir in workdirs:
    os.makedirs(os.path.dirname(workdir))
  cases = [(args[1], [a.format(workdir=workdir) for a in args[2:]]) for (args, _), workdir in zip(BAD_INPUT, workdirs)]
  assert all(args[0] == "-m" for args, _ in BAD_INPUT)
  return {tuple(args): (workdir, result)
          for (args, _), workdir, result in zip(BAD_INPUT, workdirs, run_command_lines(root, cases, cwd=REPO))}


@pytest.mark.parametrize("args,message", BAD_INPUT)
def test_cli_bad_input_is_one_line_exit_2_nothing_written(bad_input, args, message):
  workdir, result = bad_input[tuple(args)]
  assert result["code"] == 2, result["stderr"][-2000:]
  assert result["stderr"].strip().splitlines() == ["error: " + message.format(workdir=workdir)]
  assert not os.path.exists(workdir) and result["changed"] == []


@pytest.mark.slow
def test_sweep_runs_then_skips_finished_runs(tmp_path):
  cmd = ["-m", "experiments.sweep", "--config=tests/tiny_config.py", "--methods=unif", "--seeds=0",
         f"--root={tmp_path}", "--config.loop.iterations=1"]
  first = _python(*cmd, env=AS_MAKE_RUN)   # the slow tests' runs compile as `make run` (tests/conftest.py)
  assert first.returncode == 0, first.stderr[-3000:]
  summary = json.load(open(tmp_path / "unif-s0" / "summary.json"))
  assert summary["method"] == "unif" and summary["iterations"] == 1
  assert "| MB-Unif | 1 |" in (tmp_path / "results.md").read_text()
  again = _python(*cmd, env=AS_MAKE_RUN)
  assert again.returncode == 0 and "unif-s0: finished already, skipped" in again.stdout


@pytest.mark.slow
def test_sharded_run_equals_single_device_run():
  p = _python("-m", "tests.sharded_run", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4", **AS_MAKE_RUN})
  assert p.returncode == 0, p.stderr[-3000:]
  report = json.loads(p.stdout.strip().splitlines()[-1])
  assert report["device_count"] == 4
  assert report["psi_devices"] == 4 and "tasks" in report["psi_spec"]   # tasks split over devices
  assert report["model_devices"] == 4                                   # model replicated
  assert report["policy_devices"] == 4
  # the data-parallel model fit equals the plain fit to float32 rounding
  assert report["fit_rel_diff"] < 1e-5, report
  # per-task TRPO split over devices: within 10x of what a 1e-7 nudge of the model does on one device
  assert report["tasks_rel_diff"] < 10 * report["tasks_float_noise"] + 1e-6, report
  # one SLBO round (fit, model rollouts, TRPO) amplifies rounding chaotically, by an amount that depends
  # on the CPU (1e-2 passed on an AMD EPYC, 2.1e-2 measured on an Intel Xeon): judged against its own floor
  assert report["adapt_rel_diff"] < 10 * report["adapt_float_noise"] + 1e-6, report
  # a whole outer iteration: the rounding amplified through model rollouts and TRPO stays small
  assert report["iteration_state_rel_diff"] < 5e-2, report
  metric = report["iteration_metric_rel_diff"]
  assert metric["return_hat"] < 1e-2 and metric["return_star"] < 1e-2 and metric["model_loss"] < 1e-3, report
  assert metric["task_gradient"] < 1e-1, report


@pytest.mark.slow
def test_two_process_run_equals_one_process_run():
  """Two processes joined by jax.distributed on this machine (2 forced host devices each, the task axis
  over all 4) train the tiny config as one process with 4 devices does; process 0 alone writes the
  run directory, and its checkpoint restores in one process."""
  p = _python("-m", "tests.two_process_run", env=AS_MAKE_RUN, timeout=1800)
  assert p.returncode == 0, p.stderr[-3000:]
  report = json.loads(p.stdout.strip().splitlines()[-1])
  assert report["returncodes"] == [0, 0], report
  assert "run directory:" in report["stdout"][0] and "run directory:" not in report["stdout"][1], report
  assert report["files"] == ["checkpoints", "config.json", "metrics.csv", "metrics.jsonl"], report
  assert report["rows"] == report["checkpoint_rows"] == report["iteration"] == 2, report   # one writer
  assert report["key_equal"], report
  # reductions across processes add in another order: float32 rounding. Iteration 1 is held to the sharded
  # run's bounds (its tasks are the same); iteration 2's tasks moved apart by that rounding through the
  # task gradient (measured 1.4e-2), and model rollouts and TRPO amplify it (final psi measured 9.8e-2,
  # model parameters 2.8e-2; the two-process run itself is deterministic)
  first, second = report["metric_rel_diff"]
  assert first["psi"] == first["iteration"] == first["real_steps"] == second["real_steps"] == 0, report
  assert first["return_hat"] < 1e-2 and first["return_star"] < 1e-2 and first["model_loss"] < 1e-3, report
  assert first["task_gradient"] < 1e-1, report
  assert second["psi"] < 5e-2 and second["return_hat"] < 5e-2 and second["return_star"] < 5e-2, report
  assert second["model_loss"] < 1e-2, report
  assert report["params_rel_diff"] < 1e-1 and report["psi_rel_diff"] < 3e-1, report


def test_discount_fields_outside_the_unit_interval_are_refused():
  from admrl_jax.config import ConfigError, validate
  from tests.tiny_config import get_config
  for field, bad in (("eval.oracle_gamma", 1.5), ("trpo.lam", 0.0)):
    config = get_config()
    section, name = field.split(".")
    config[section][name] = bad
    with pytest.raises(ConfigError, match=rf"^{field}: must be in \(0, 1\], got {bad}$"):
      validate(config)


def test_a_run_directory_saved_before_a_field_existed_loads_with_that_field_defaulted(tmp_path):
  from admrl_jax.run_dir import load_config, save_config
  from admrl_jax.configs.default import get_config as default_config
  from tests.tiny_config import get_config
  save_config(get_config(), str(tmp_path))
  saved = json.load(open(tmp_path / "config.json"))
  del saved["eval"]["oracle_lam"]                  # as written by a version without the field
  json.dump(saved, open(tmp_path / "config.json", "w"))
  with pytest.raises(AttributeError):
    load_config(str(tmp_path)).eval.oracle_lam
  config = load_config(str(tmp_path), default_config())
  assert config.eval.oracle_lam == default_config().eval.oracle_lam
  assert config.eval.oracle_iters == get_config().eval.oracle_iters != default_config().eval.oracle_iters
  assert config.eval.few_shot_episodes == (1,)     # lists back to tuples, saved values win


def test_every_shipped_config_validates():
  """Each experiments/configs/<family>_<scale>.py (and the default) passes validation as shipped."""
  import glob
  import importlib
  from admrl_jax.config import validate
  names = sorted(os.path.basename(p)[:-3] for p in glob.glob("experiments/configs/*_cpu.py")
                 + glob.glob("experiments/configs/*_paper.py"))
  assert len(names) == 16, names   # 8 families x (cpu, paper)
  for name in names + ["default"]:
    validate(importlib.import_module(f"admrl_jax.configs.{name}").get_config())
