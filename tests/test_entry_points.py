"""Every entry point refuses bad input the same way: exit code 2, one stderr line ``error: <field, flag or
path>: <what is wrong>``, nothing on stdout, no file written or changed, and no jax backend started (the
input is refused before any jax work).

The console scripts of setup.cfg (but admrl-results-table, tested with its own module) and every
``python -m experiments.<name>`` script get bad command lines. All of them run in one helper process
(tests/command_lines.py), which imports the heavy shared modules once and then forks one child per command
line, run in an empty working directory inside the test's folder. The whole file takes a few seconds.
"""
import os
import subprocess

import pytest

from tests.command_lines import REPO, console_scripts, run_command_lines
from tests.test_cli import _fake_finished_run, _one_error_line

SKIPPED = {"admrl-results-table", "experiments.results_table"}   # another module's tests
ALLOWED_FAMILIES = ("['ant_2d', 'ant_3d', 'half_cheetah_2d', 'half_cheetah_linear', 'hopper_2d', 'humanoid_3d', "
                    "'point_mass', 'point_mass_corner', 'point_mass_pockets', 'walker_2d']")
UNKNOWN_FLAG = (["--nosuch=1"], "error: nosuch: unknown flag; see --helpshort")
UNKNOWN_FAMILY = (["--config.family=nope"], "error: family: unknown value 'nope'; allowed: " + ALLOWED_FAMILIES)
STRAY = (["stray"], "error: unexpected arguments ['stray']; use --flag=value or --config.field=value")

# entry point -> [(argv, the one stderr line)]; {tmp}: the test's folder (see _fixtures); a line ending
# in "..." is matched as a prefix. The missing --config file of train, sweep and oracle_table, train's
# config values and the multi-process flags are in test_cli.py and test_workflow.py.
CASES = {
    "admrl-train": [
        UNKNOWN_FLAG,
        (["--run_dri={tmp}/x"], "error: run_dri: unknown flag; did you mean run_dir?"),
        STRAY,
        (["--config={tmp}/empty"], "error: config: not a file '{tmp}/empty'"),
        (["--config={tmp}/broken_config.py"],
         "error: config: cannot load '{tmp}/broken_config.py': RuntimeError: a broken config"),
        (["--config.loop.iterations=abc"], "error: loop.iterations: invalid literal for int() with base 10: 'abc'"),
        (["--config.nosuchfield=1"], "error: nosuchfield: unknown field; allowed: ['adversary', 'backend', ..."),
        (["--config.loop.nosuch=1"], "error: loop.nosuch: unknown field; allowed: ['ascent_step', ..."),
        (["--config.seed.x=1"], "error: seed.x: unknown field; seed is a value, not a section"),
        (["--config.eval.oracle_iters=30"], "error: eval.oracle_iters: the trajectory optimiser runs in blocks of "
                                            "50 steps (a point of its curve each); must be a positive multiple of 50, "
                                            "got 30"),
        (["--config.eval.planner_iters=75"], "error: eval.planner_iters: the trajectory optimiser runs in blocks ..."),
        (["--config.loop=1"], "error: loop: Failed to parse '1' as a ConfigDict: `1` is not a dict."),
        (["--config.seed=1", f"--config={REPO}/tests/tiny_config.py"],
         "error: config: Found --config.seed=1 in argv before a value for --config was specified"),
        (["--run_dir={tmp}/afile"], "error: run_dir: '{tmp}/afile' is a file, not a folder"),
        (["--run_dir={tmp}/afile/x"], "error: run_dir: '{tmp}/afile/x' cannot be a folder: '{tmp}/afile' is a file"),
        (["--config.workdir={tmp}/afile"], "error: run_dir: '{tmp}/afile/point_mass-admrl-s0-..."),
        (["--run_dir={tmp}/run"], "error: run_dir: '{tmp}/run' holds a run already; continue it with --resume, "
                                  "or choose another --run_dir"),
        (["--resume", "--run_dir={tmp}/run", "--config.seed=3"],
         "error: config: --resume continues with the config saved in the run directory; drop --config and "
         "--config.*"),
        (["--resume", "--run_dir={tmp}/run_bad_config"],
         "error: run_dir: '{tmp}/run_bad_config/config.json': family: unknown value 'nope'; allowed: "
         + ALLOWED_FAMILIES),
        (["--resume", "--run_dir={tmp}/run_not_json"],
         "error: run_dir: '{tmp}/run_not_json/config.json' is not valid JSON: Expecting value: line 1 column 1 "
         "(char 0)"),
        (["--num_processes=0"], "error: num_processes: must be a positive integer, got 0"),
        (["--resume=maybe"], "error: resume: Non-boolean argument to boolean flag (got 'maybe')"),
    ],
    "admrl-evaluate": [
        UNKNOWN_FLAG,
        STRAY,
        ([], "error: run_dir: give at least one run directory"),
        (["--run_dir={tmp}/empty"], "error: run_dir: '{tmp}/empty' holds no config.json; is it a run directory?"),
        (["--run_dir={tmp}/run"], "error: run_dir: '{tmp}/run' holds no checkpoint yet"),
        (["--run_dir={tmp}/run_bad_config", "--run_dir={tmp}/run"],
         "error: run_dir: '{tmp}/run_bad_config/config.json': family: unknown value 'nope'; allowed: "
         + ALLOWED_FAMILIES),
        (["--run_dir={tmp}/run_not_json"],
         "error: run_dir: '{tmp}/run_not_json/config.json' is not valid JSON: Expecting value: line 1 column 1 "
         "(char 0)"),
        (["--run_dir={tmp}/run", "--out={tmp}/afile"], "error: out: '{tmp}/afile' is a file, not a folder"),
        (["--run_dir={tmp}/afile"], "error: run_dir: '{tmp}/afile' holds no config.json; is it a run directory?"),
        (["--run_dir={tmp}/run", "--run_dir={tmp}/run", "--out={tmp}/afile/x"],
         "error: out: '{tmp}/afile/x' cannot be a folder: '{tmp}/afile' is a file"),
        (["--run_dir={tmp}/run", "--checkpoints=some"],
         "error: checkpoints: value should be one of <last|all> (got 'some')"),
    ],
    "admrl-sweep": [
        UNKNOWN_FLAG,
        STRAY,
        (["--methods="], "error: methods: give at least one; allowed: ['admrl', 'gap_search', ..."),
        (["--methods=unif,unif"], "error: methods: each at most once, got ['unif'] more than once"),
        (["--seeds=0,x"], "error: seeds: must be integers, got ['0', 'x']"),
        (["--seeds="], "error: seeds: give at least one integer"),
        (["--seeds=1,2,1"], "error: seeds: each at most once, got [1] more than once"),
        (["--root={tmp}/afile"], "error: root: '{tmp}/afile' is a file, not a folder"),
        (["--config.loop.iterations=0"], "error: loop.iterations: must be a positive integer, got 0"),
        (["--config.eval.oracle=nope"], "error: eval.oracle: unknown value 'nope'; allowed: ..."),
        (["--config.eval.oracle_iters=1.5"],
         "error: eval.oracle_iters: invalid literal for int() with base 10: '1.5'"),
        (["--side_by_side=maybe"], "error: side_by_side: Non-boolean argument to boolean flag (got 'maybe')"),
    ],
    "admrl-study": [
        UNKNOWN_FLAG,
        STRAY,
        (["--study=a/b"], "error: study: needs a folder name (without '/', not '.' or '..'), got 'a/b'"),
        (["--study=.."], "error: study: needs a folder name (without '/', not '.' or '..'), got '..'"),
        (["--study=s", "--variant=x/y"],
         "error: variant: needs a folder name (without '/', not '.' or '..'), got 'x/y'"),
        (["--study=s", "--seeds=a"], "error: seeds: must be integers, got ['a']"),
        (["--study=s", "--methods=unif,nope"], "error: methods: unknown value(s) ['nope']; allowed: ..."),
        (["--study=s", "--publish={tmp}/afile"], "error: publish: '{tmp}/afile/s' cannot be a folder: "
                                                 "'{tmp}/afile' is a file"),
        (["--study=s", "--config.workdir={tmp}/afile"], "error: workdir: '{tmp}/afile/s' cannot be a folder: "
                                                        "'{tmp}/afile' is a file"),
        (["--study=s", "--config.family=nope"], "error: family: unknown value 'nope'; allowed: " + ALLOWED_FAMILIES),
        (["--study=s", "--config.nosuch.x=1"], "error: nosuch: unknown field; allowed: ['adversary', ..."),
        (["--study=s", "--commit=maybe"], "error: commit: Non-boolean argument to boolean flag (got 'maybe')"),
    ],
    "admrl-study-curves": [
        UNKNOWN_FLAG,
        STRAY,
        ([], "error: study: give the study's name (its folder under --publish)"),
        (["--study=nope", "--publish={tmp}/pub"], "error: study: no published study '{tmp}/pub/nope'"),
        (["--study=empty", "--publish={tmp}/pub"],
         "error: study: '{tmp}/pub/empty' holds no published run (a folder with summary.json)"),
        (["--study=s", "--publish={tmp}/pub", "--runs=unif-s9"],
         "error: runs: not published in {tmp}/pub/s: ['unif-s9']; allowed: ['gap_search-s0', 'unif-s0']"),
        (["--study=s", "--publish={tmp}/pub", "--workdir={tmp}/afile"],
         "error: workdir: '{tmp}/afile' is a file, not a folder"),
        (["--study=s", "--publish={tmp}/pub", "--few_shot=maybe"],
         "error: few_shot: Non-boolean argument to boolean flag (got 'maybe')"),
    ],
    "admrl-oracle-table": [
        UNKNOWN_FLAG,
        STRAY,
        UNKNOWN_FAMILY,
        (["--config.eval.oracle_iters=0"], "error: eval.oracle_iters: must be a positive integer, got 0"),
        (["--config.eval.oracle_iters=abc"], "error: eval.oracle_iters: invalid literal for int() with base 10: 'abc'"),
        (["--config.eval.nosuch=5"], "error: eval.nosuch: unknown field; allowed: ['adapt_seeds', ..."),
        (["--config={tmp}/broken_config.py"],
         "error: config: cannot load '{tmp}/broken_config.py': RuntimeError: a broken config"),
        (["--out={tmp}/afile"], "error: out: '{tmp}/afile' is a file, not a folder"),
        (["--tasks=edges"], "error: tasks: value should be one of <grid|corners> (got 'edges')"),
        (["--ship", "--tasks=corners"],
         "error: ship: ships the evaluation's own sets; needs --tasks=grid and eval.oracle_cache set"),
        (["--ship", "--config.eval.oracle_cache="],
         "error: ship: ships the evaluation's own sets; needs --tasks=grid and eval.oracle_cache set"),
    ],
    "admrl-oracle-winners": [
        UNKNOWN_FLAG,
        STRAY,
        UNKNOWN_FAMILY,
        (["--sets=in_box,sideways"], "error: sets: allowed in_box, ood; got ['in_box', 'sideways']"),
        (["--reach=-1"], "error: reach: a number of tasks >= 0, got -1"),
        (["--runs={tmp}/afile"], "error: runs: '{tmp}/afile' is not a folder (a study folder of runs with eval.csv)"),
    ],
    "experiments.planner_budget": [
        UNKNOWN_FLAG,
        STRAY,
        ([], "error: run_dir: give a run directory with a checkpoint"),
        (["--run_dir={tmp}/empty"], "error: run_dir: '{tmp}/empty' holds no config.json; is it a run directory?"),
        (["--run_dir={tmp}/run"], "error: run_dir: '{tmp}/run' holds no checkpoint yet"),
        (["--run_dir={tmp}/run", "--out={tmp}/empty"], "error: out: '{tmp}/empty' is a folder; give the JSON file's path"),
    ],
    # the repository's spellings of the console scripts: the same run(); one case each shows the wiring
    "experiments.train": [UNKNOWN_FLAG, (["--config.loop.iterations=x"],
                                         "error: loop.iterations: invalid literal for int() with base 10: 'x'")],
    "experiments.evaluate": [UNKNOWN_FLAG],
    "experiments.sweep": [UNKNOWN_FLAG],
    "experiments.study": [UNKNOWN_FLAG],
    "experiments.study_curves": [UNKNOWN_FLAG],
    "experiments.oracle_winners": [UNKNOWN_FLAG],
    "experiments.oracle_table": [(["--config.eval.oracle_iters=5", "--config.family=nope"],
                                  "error: family: unknown value 'nope'; allowed: " + ALLOWED_FAMILIES)],
    "experiments.study_coverage": [
        UNKNOWN_FLAG,
        ([], "error: expected 1 positional argument(s) (the study folder), got []"),
        (["{tmp}/pub/s", "{tmp}/pub/s", "--lo=1,1", "--hi=2,2"],
         "error: expected 1 positional argument(s) (the study folder), got ['{tmp}/pub/s', '{tmp}/pub/s']"),
        (["{tmp}/nope", "--lo=1,1", "--hi=2,2"], "error: study folder: no such folder '{tmp}/nope'"),
        (["{tmp}/pub/empty", "--lo=1,1", "--hi=2,2"],
         "error: study folder: '{tmp}/pub/empty' holds no run (<run>/metrics.csv)"),
        (["{tmp}/pub/s", "--hi=2,2"],
         "error: lo: give the region's lower corner, one number per task dimension"),
        (["{tmp}/pub/s", "--lo=1,1"],
         "error: hi: give the region's upper corner, one number per task dimension"),
        (["{tmp}/pub/s", "--lo=a,1", "--hi=2,2"], "error: lo: must be numbers, got ['a', '1']"),
        (["{tmp}/pub/s", "--lo=1,1,1", "--hi=2,2"],
         "error: lo, hi: need as many numbers in each and lo <= hi in every dimension, got lo=[1.0, 1.0, 1.0] "
         "hi=[2.0, 2.0]"),
        (["{tmp}/pub/s", "--lo=2,1", "--hi=1,2"],
         "error: lo, hi: need as many numbers in each and lo <= hi in every dimension, got lo=[2.0, 1.0] "
         "hi=[1.0, 2.0]"),
        (["{tmp}/pub/s", "--lo=1,1,1", "--hi=2,2,2"],
         "error: lo: '{tmp}/pub/s/gap_search-s0/metrics.csv' holds 2-dimensional tasks, got 3 numbers"),
        (["{tmp}/pub/s", "--lo=1,1", "--hi=2,2", "--local=0"], "error: local: the radius must be a number > 0, got 0.0"),
        (["{tmp}/pub/s", "--lo=1,1,1", "--hi=2,2,2", "--local=0.3"],
         "error: lo: --local reads 2-dimensional tasks, got 3 numbers"),
    ],
    "experiments.few_shot_share": [
        UNKNOWN_FLAG,
        STRAY,
        (["--shares=0,2", "--psis=0:1"], "error: shares: give at least one, each in [0, 1], got ['0', '2']"),
        (["--shares=a", "--psis=0:1"], "error: shares: must be numbers in [0, 1], got ['a']"),
        (["--run_dir={tmp}/run"], "error: psis: give at least one task, its coordinates joined by ':' (e.g. 0:1.867)"),
        (["--psis=0:x"], "error: psis: each task is numbers joined by ':', got ['0:x']"),
        (["--psis=0:1", "--episodes=2,0"], "error: episodes: must be positive integers, got ['2', '0']"),
        (["--psis=0:1", "--run_dir={tmp}/nope"], "error: run_dir: no such run directory '{tmp}/nope'"),
        (["--psis=0:1", "--run_dir={tmp}/run"], "error: run_dir: '{tmp}/run' holds no checkpoint"),
        (["--psis=0:1", "--keys=0"], "error: keys: must be a positive integer, got 0"),
        (["--summarize={tmp}/nope.json"],
         "error: summarize: '{tmp}/nope.json' is not a saved --out file of this script ([Errno 2] No such file "
         "or directory: '{tmp}/nope.json')"),
        (["--psis=0:1", "--out={tmp}/empty"], "error: out: '{tmp}/empty' is a folder; give the JSON file's path"),
    ],
    "experiments.evaluation_noise": [
        UNKNOWN_FLAG,
        STRAY,
        (["--keys=0"], "error: keys: must be a positive integer, got 0"),
        (["--evaluators=planner,nope"], "error: evaluators: unknown value(s) ['nope']; allowed: ['planner', 'policy']"),
        (["--out={tmp}/empty"], "error: out: '{tmp}/empty' is a folder; give the JSON file's path"),
        ([], "error: run_dir: give a run directory with a checkpoint"),
        (["--run_dir={tmp}/run"], "error: published: give the study folder that holds the run's published eval.csv"),
        (["--run_dir={tmp}/run", "--published={tmp}/pub/s"],
         "error: published: no '{tmp}/pub/s/run/summary.json' (the run's published evaluation)"),
        (["--run_dir={tmp}/pub/s/unif-s0", "--published={tmp}/pub/s"],
         "error: run_dir: '{tmp}/pub/s/unif-s0' holds no checkpoint"),
        (["--table={tmp}/empty"],
         "error: table: no '{tmp}/empty/evaluation_noise' (measure runs first: --run_dir --published)"),
    ],
    "experiments.model_error_map": [
        UNKNOWN_FLAG,
        ([], "error: expected 1 positional argument(s) (the study folder), got []"),
        (["{tmp}/nope", "--runs_root={tmp}/empty"], "error: study folder: no such folder '{tmp}/nope'"),
        (["{tmp}/pub/s"], "error: runs_root: give the folder of the runs' directories with checkpoints, got None"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--horizons=1,0"],
         "error: horizons: must be positive integers, got ['1', '0']"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--stride=0"], "error: stride: must be a positive integer, got 0"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--regions=high:1,2"],
         "error: regions: 'high:1,2' is not name:lo:hi with comma-separated numbers (e.g. high:-2,1.87:2,2.0)"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--regions=high:2,2:1,1"],
         "error: regions: 'high:2,2:1,1' needs name:lo:hi with as many numbers in lo and hi and lo <= hi"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--out={tmp}/empty"],
         "error: out: '{tmp}/empty' is a folder; give the JSON file's path"),
        (["{tmp}/pub/empty", "--runs_root={tmp}/empty"],
         "error: study folder: '{tmp}/pub/empty' holds no published run with an eval.csv"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--regions=a:1,1,1:2,2,2"],
         "error: regions: the folder's tasks have 2 coordinates, got 3 in 'a:1,1,1:2,2,2'"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--runs=nope-s0,unif-s0"],
         "error: runs: 'nope-s0' is not a published run of '{tmp}/pub/s' (<folder>/nope-s0/summary.json)"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty", "--runs=unif-s0,gap_search-s0"],
         "error: runs: '{tmp}/empty/unif-s0' holds no checkpoint (checkpoints live in the machine-local runs/)"),
        (["{tmp}/pub/s", "--runs_root={tmp}/empty"],
         "error: runs: need at least 2 runs (each is scored on the others' data), got []"),
    ],
    "experiments.task_gradient_alignment": [
        UNKNOWN_FLAG,
        ([], "error: expected 1 positional argument(s) (the study folder), got []"),
        (["{tmp}/nope"], "error: study folder: no such folder '{tmp}/nope'"),
        (["{tmp}/pub/s", "--window=0"], "error: window: must be a positive integer, got 0"),
        (["{tmp}/pub/s", "--evaluator=nope"], "error: evaluator: value should be one of <policy|planner> (got 'nope')"),
        (["{tmp}/pub/s"], "error: rows: no evaluated run of ['admrl'] in '{tmp}/pub/s'"),
        (["{tmp}/pub/s", "--rows=unif"],
         "error: rows: unif-s0 logged no task gradient (metrics.csv has no task_gradient columns)"),
    ],
    "experiments.planner_optimism": [
        UNKNOWN_FLAG,
        STRAY,
        ([], "error: run_dir: give a run directory with a checkpoint"),
        (["--run_dir={tmp}/run"], "error: published: give the study folder that holds the run's published eval.csv"),
        (["--run_dir={tmp}/run", "--published={tmp}/pub/s", "--out={tmp}/empty"],
         "error: out: '{tmp}/empty' is a folder; give the JSON file's path"),
        (["--run_dir={tmp}/run", "--published={tmp}/pub/s"],
         "error: published: no '{tmp}/pub/s/run/eval.csv' (the run's published evaluation)"),
        (["--run_dir={tmp}/pub/s/unif-s0", "--published={tmp}/pub/s"],
         "error: run_dir: '{tmp}/pub/s/unif-s0' holds no checkpoint"),
        (["--table={tmp}/empty"],
         "error: table: no '{tmp}/empty/planner_optimism/*.json' (audit runs first: --run_dir --published)"),
    ],
    "experiments.planner_floor": [
        UNKNOWN_FLAG,
        (["{tmp}/pub/s", *UNKNOWN_FAMILY[0]], "error: family: the planner floor is for the analytic families "
                                               "['point_mass', 'point_mass_corner', 'point_mass_pockets'], got 'nope'"),
        ([], "error: expected 1 positional argument(s) (the study folder), got []"),
        (["{tmp}/nope"], "error: study folder: no such folder '{tmp}/nope'"),
        (["{tmp}/pub/s", "--config.family=hopper_2d"],
         "error: family: the planner floor is for the analytic families ['point_mass', 'point_mass_corner', "
         "'point_mass_pockets'], got 'hopper_2d'"),
    ],
    "experiments.gradient_quality": [
        UNKNOWN_FLAG,
        STRAY,
        UNKNOWN_FAMILY,
        (["--config.loop.iterations=abc"], "error: loop.iterations: invalid literal for int() with base 10: 'abc'"),
        (["--iterations=-1"], "error: iterations: -1 is not a non-negative integer"),
        (["--replicates=1"], "error: replicates: 1 is not integer >= 2"),
        (["--hessians=pathwise,nope"], "error: hessians: unknown value(s) ['nope']; allowed: "
                                       "['pathwise', 'exact', 'lvc']"),
        (["--hessians="], "error: hessians: give at least one; allowed: ['pathwise', 'exact', 'lvc']"),
        (["--fd_eps=0"], "error: fd_eps: must be a positive number, got 0.0"),
        (["--out={tmp}/empty"], "error: out: '{tmp}/empty' is a folder; give the JSON file's path"),
        (["--out={tmp}/afile/x.json"], "error: out: '{tmp}/afile' is a file, not a folder"),
    ],
    "experiments.half_cheetah_linear_stats": [
        UNKNOWN_FLAG,
        STRAY,
        (["--episodes=0"], "error: episodes: 0 is not a positive integer"),
        (["--episodes=many"], "error: episodes: invalid literal for int() with base 10: 'many'"),
    ],
    "experiments.measure_backends": [
        UNKNOWN_FLAG,
        STRAY,
        (["--families=hopper_2d,nope"], "error: families: unknown value(s) ['nope']; allowed: " + ALLOWED_FAMILIES),
        (["--families=point_mass"], "error: backends (of family point_mass): unknown value(s) "
                                    "['positional', 'generalized', 'mjx']; allowed: ['jax']"),
        (["--backends="], "error: backends (of family hopper_2d): give at least one; allowed: ..."),
        (["--batch=0"], "error: batch: 0 is not a positive integer"),
    ],
    "experiments.traced_vs_constant": [UNKNOWN_FLAG, STRAY],
    "experiments.evaluation_cost": [
        UNKNOWN_FLAG,
        STRAY,
        UNKNOWN_FAMILY,
        (["--config.loop.iterations=abc"], "error: loop.iterations: invalid literal for int() with base 10: 'abc'"),
        (["--run_dir={tmp}/afile"], "error: run_dir: '{tmp}/afile' is a file, not a folder"),
    ],
}


def experiment_scripts() -> set[str]:
  return {f"experiments.{name[:-3]}" for name in os.listdir(os.path.join(REPO, "experiments"))
          if name.endswith(".py") and name != "__init__.py"}


def _fixtures(root: str) -> None:
  """The paths the cases name: a file, an empty folder, a config file that raises, run directories
  (one whose config validates but that has no checkpoint, one with an unknown family, one whose
  config.json is not JSON), a published study of two runs and an empty one; cwd/, the children's
  working directory."""
  from admrl_jax.configs.default import get_config

  for name in ("empty", "cwd", "pub/empty", "run", "run_bad_config", "run_not_json"):
    os.makedirs(os.path.join(root, name))
  with open(os.path.join(root, "afile"), "w") as fh:
    fh.write("not a folder\n")
  with open(os.path.join(root, "broken_config.py"), "w") as fh:
    fh.write("raise RuntimeError('a broken config')\n")
  config = get_config()
  with open(os.path.join(root, "run", "config.json"), "w") as fh:
    fh.write(config.to_json_best_effort())
  config.family = "nope"
  with open(os.path.join(root, "run_bad_config", "config.json"), "w") as fh:
    fh.write(config.to_json_best_effort())
  with open(os.path.join(root, "run_not_json", "config.json"), "w") as fh:
    fh.write("not JSON\n")
  for method in ("unif", "gap_search"):
    _fake_finished_run(os.path.join(root, "pub", "s", f"{method}-s0"), method, 0, 5.0)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  """{entry point: [(argv, result of the child)]} for every case, run by one helper process."""
  root = str(tmp_path_factory.mktemp("entry_points"))
  _fixtures(root)
  cases = [(entry, [a.replace("{tmp}", root) for a in argv]) for entry, lines in CASES.items() for argv, _ in lines]
  found = {}
  for (entry, argv), result in zip(cases, run_command_lines(root, cases)):
    found.setdefault(entry, []).append((argv, result))
  return root, found


def test_every_entry_point_has_cases():
  assert set(CASES) == (set(console_scripts()) | experiment_scripts()) - SKIPPED


@pytest.mark.parametrize("entry", sorted(CASES))
def test_bad_input_is_one_error_line_exit_2_nothing_written(results, entry):
  root, found = results
  for (argv, result), (_, expected) in zip(found[entry], CASES[entry]):
    p = subprocess.CompletedProcess([entry, *argv], result["code"], result["stdout"], result["stderr"])
    line = _one_error_line(p, 2)
    assert p.stderr.strip().splitlines() == [line], (argv, p.stderr)
    expected = expected.replace("{tmp}", root)
    assert line.startswith(expected[:-3]) if expected.endswith("...") else line == expected, (argv, line)
    assert result["stdout"] == "", (argv, result["stdout"])
    assert result["changed"] == [], (argv, result["changed"])   # nothing written under the test's folder
    assert not result["jax_backend"], argv                      # refused before any jax work
