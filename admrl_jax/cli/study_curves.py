"""The worst-case gap against real training samples: a study's kept checkpoints, evaluated and published.

  python -m experiments.study_curves --study=point_mass_corner_n100 [--runs=admrl-s0,unif-s0] [--commit]
      [--iterations=75 --few_shot]     # one kept checkpoint (a baseline's 1x point) with its few-shot rows

For every run published under --publish/<study>/ whose machine-local run directory
(<workdir>/<study>/<run>) still holds checkpoints, each kept checkpoint before the last (the last is
the run's own summary) is evaluated with the run's own protocol (``EvaluationProtocol``: the same test
sets, V* cache, evaluators; zero-shot only unless --few_shot) and its eval.csv published as
<run>/checkpoints/iteration_<i>/eval.csv, with checkpoint.json (iteration, real steps). Resumable:
published checkpoints are skipped (with --few_shot, those published without few-shot rows are not); --commit
commits after every run. Then the folder's tables and figures are recomputed from the published files
alone (``results_table.write_folder_tables``: gap_vs_samples.{md,png}, and results.md and the gap maps,
since the checkpoints' returns can raise the folder's one shared V*), and the README's results where the
folder is one of its studies; ``experiments.study`` recomputes them too after every run it publishes.
"""
import csv
import dataclasses
import json
import os
import shutil
import tempfile

from absl import flags

from admrl_jax import progress
from admrl_jax.cli.common import checked_folder, checked_run_config, commit, fail, run as run_main, start
from admrl_jax.cli.results_readme import refresh_readme
from admrl_jax.cli.results_table import write_folder_tables, write_gap_vs_samples
from admrl_jax.cli.study_flags import COMMIT, PUBLISH, README_STUDIES, STUDY
from admrl_jax.configs.default import get_config as default_config
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.run_dir import checkpoint_steps, load_run, restore_state

_RUNS = flags.DEFINE_list("runs", [], "run names (<method>-s<seed>) to evaluate; default: every published run")
_WORKDIR = flags.DEFINE_string("workdir", "runs", "folder holding the study's run directories (checkpoints)")
_ITERATIONS = flags.DEFINE_list("iterations", [], "evaluate only these kept checkpoints (iterations), each of which "
                                 "every run named must hold (exit 2 otherwise); default: every kept checkpoint "
                                 "before the last")
_FEW_SHOT = flags.DEFINE_bool("few_shot", False, "evaluate the config's few-shot budgets at every checkpoint too "
                              "(default: zero-shot only, the curve's measure)")


def _published(out_dir: str, step: int, few_shot: bool) -> bool:
  """Whether checkpoint ``step``'s eval.csv is in out_dir, with few-shot rows where ``few_shot`` asks for them
  (a checkpoint published zero-shot only is evaluated again, whole, with them)."""
  path = os.path.join(out_dir, "checkpoints", f"iteration_{step}", "eval.csv")
  if not os.path.exists(path):
    return False
  if not few_shot:
    return True
  with open(path, newline="") as fh:
    return any(row["budget"] != "zero_shot" for row in csv.DictReader(fh))


def pending_checkpoints(run_dir: str, out_dir: str, only: list[int] | None = None, few_shot: bool = False) -> list[int]:
  """The kept checkpoints of run_dir before its last (only those in ``only`` where given) not published in
  out_dir yet (``_published``)."""
  return [s for s in checkpoint_steps(run_dir)[:-1] if (not only or s in only) and not _published(out_dir, s, few_shot)]


def evaluate_checkpoints(run_dir: str, out_dir: str, few_shot: bool = False, log=print, bar=None,
                         only: list[int] | None = None) -> int:
  """Evaluate every kept checkpoint of run_dir before its last (only those in ``only`` where given) into
  out_dir/checkpoints/iteration_<i>/ (eval.csv, checkpoint.json); skips those published already. Returns
  how many it evaluated. bar: a progress bar advanced by one per checkpoint."""
  todo = pending_checkpoints(run_dir, out_dir, only, few_shot)
  if not todo:
    return 0
  config, loop, evaluator = load_run(run_dir, default_config())
  protocol = EvaluationProtocol.from_config(config, evaluator, loop)
  if not few_shot:
    protocol = dataclasses.replace(protocol, few_shot_episodes=())
  for step in todo:
    if bar is not None:
      bar.set_postfix_str(f"{os.path.basename(run_dir)} iteration {step}")
    state, history = restore_state(run_dir, loop, config.seed, step)
    with tempfile.TemporaryDirectory() as tmp:
      summary = protocol.evaluate_state(state, history, tmp, log=lambda *_: None)
      dest = os.path.join(out_dir, "checkpoints", f"iteration_{step}")
      os.makedirs(dest, exist_ok=True)
      with open(os.path.join(dest, "checkpoint.json"), "w") as fh:   # first: eval.csv marks the point done
        json.dump({"iteration": step, "real_env_steps": summary["real_env_steps"]}, fh)
      shutil.copyfile(os.path.join(tmp, "eval.csv"), os.path.join(dest, "eval.csv"))
    log(f"{os.path.basename(run_dir)} iteration {step}: worst-case gap {summary['worst_case_gap']:.2f} "
        f"({summary['real_env_steps']} real steps)")
    if bar is not None:
      bar.update()
  return len(todo)


def main(argv):
  start(argv)
  if not STUDY.value:
    fail("study: give the study's name (its folder under --publish)")
  study_dir = os.path.join(PUBLISH.value, STUDY.value)
  if not os.path.isdir(study_dir):
    fail(f"study: no published study {study_dir!r}")
  published = sorted(d for d in os.listdir(study_dir) if os.path.exists(os.path.join(study_dir, d, "summary.json")))
  if not published:
    fail(f"study: {study_dir!r} holds no published run (a folder with summary.json)")
  unknown = [r for r in _RUNS.value if r not in published]
  if unknown:
    fail(f"runs: not published in {study_dir}: {unknown}; allowed: {published}")
  checked_folder("workdir", _WORKDIR.value)
  try:
    only = [int(i) for i in _ITERATIONS.value]
  except ValueError:
    fail(f"iterations: must be integers (kept checkpoints' iterations), got {_ITERATIONS.value}")
  skipped, todo = [], []   # every run's config is checked before any is evaluated
  for name in _RUNS.value or published:
    run_dir = os.path.join(_WORKDIR.value, STUDY.value, name)
    kept = checkpoint_steps(run_dir)[:-1]
    out_dir = os.path.join(study_dir, name)
    missing = [i for i in only if i not in kept and not _published(out_dir, i, _FEW_SHOT.value)]
    if missing:   # an asked-for point (e.g. a baseline's 1x) must not be skipped quietly
      fail(f"iterations: {name} has no kept checkpoint {missing} before its last in {run_dir} and none published"
           f"{' with few-shot rows' if _FEW_SHOT.value else ''}; allowed: {kept} (kept) and the published ones")
    if not checkpoint_steps(run_dir):
      skipped.append(f"{name}: no checkpoints in {run_dir} (machine-local), skipped")
      continue
    checked_run_config(run_dir)
    todo.append((name, run_dir, len(pending_checkpoints(run_dir, out_dir, only, _FEW_SHOT.value))))
  print("\n".join(skipped), end="\n" if skipped else "")
  total = sum(n for *_, n in todo)
  bar = progress.bar(total, f"study {STUDY.value}: kept checkpoints evaluated", "checkpoint", disable=not total)
  for name, run_dir, _ in todo:
    evaluated = evaluate_checkpoints(run_dir, os.path.join(study_dir, name), _FEW_SHOT.value, bar=bar, only=only)
    if evaluated and COMMIT.value:
      commit([os.path.join(study_dir, name, "checkpoints")],
             f"Study {STUDY.value}: {name}'s kept checkpoints evaluated (eval.csv per checkpoint)")
  bar.close()
  # the checkpoints' returns can raise the folder's shared V*: every table of the folder is redrawn
  written = write_folder_tables(study_dir)
  curves = [p for p in written if p.endswith("gap_vs_samples.md")] or write_gap_vs_samples(study_dir, always=True)
  readme = refresh_readme(PUBLISH.value, README_STUDIES)
  if COMMIT.value:
    commit(sorted(set(written + curves)) + readme, f"Study {STUDY.value}: gap against real samples, results.md and the gap "
                                          "maps recomputed" + (" (and the README's results)" if readme else ""))
  with open(curves[0]) as fh:
    print(fh.read(), end="")


def run():
  """Console-script entry point."""
  run_main(main)


if __name__ == "__main__":
  run()
