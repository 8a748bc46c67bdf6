"""A study: methods x seeds on one config, run one after another and published as each finishes.

  python -m experiments.study --study=point_mass_corner_n100 \\
      --config=experiments/configs/point_mass_corner_study.py \\
      --methods=unif,gauss,admrl,gap_search --seeds=0,1,2,3,4 [--commit] [--config.field=value ...]

Runs train in <workdir>/<study>/<method>-s<seed> (checkpoints; machine-local); with --variant=V
(for --config overrides, e.g. --config.adversary.step_rule=raw) in <method>_V-s<seed>, a row of its own. Seeds go outermost
(every method of seed 0, then of seed 1, ...), so a study stopped part-way holds complete pairs.
After each run its evidence is published under --publish (default docs/runs)/<study>/<method>-s<seed>/:
summary.json, eval.csv, metrics.csv (the tasks the method proposed, per iteration) and config.json;
then <study>/results.md is recomputed from those files alone (``experiments.results_table``), and so are
<study>/gap_vs_samples.{md,png} where a run of the folder has evaluated kept checkpoints
(``experiments.study_curves``; same V*, so a new run's returns reach both), and <study>/README.md
records the command; published under docs/runs, the repository README's "Results at a
glance" is rewritten too (``experiments.results_table --write_readme``). --commit commits the published files with git after every run,
so a session that ends mid-study keeps what finished. Re-running the same command resumes: published
runs are skipped, finished ones published, interrupted ones continue from their checkpoint.

Why not side by side (``experiments.sweep`` vmaps a method's seeds in one jit): on a CPU five seeds
take 5.4 x one seed's time (docs/benchmarks.md, figure 7), so side by side saves only compiles, which
the persistent compilation cache (<workdir>/jax_cache) saves here too, and it would publish nothing
until every seed had finished.
"""
import json
import os
import shlex
import shutil
import sys

import jax
from absl import flags

from admrl_jax import progress, runner
from admrl_jax.cli.common import (checked_configs, checked_folder, checked_methods_and_seeds, commit, define_config,
                                  fail, run as run_main, start)
from admrl_jax.cli.results_readme import refresh_readme
from admrl_jax.cli.results_table import table, write_folder_tables
from admrl_jax.cli.study_flags import COMMIT, PUBLISH, README_STUDIES, STUDY
from admrl_jax.methods import names as method_names
from admrl_jax.run_dir import checkpoint_steps

_CONFIG = define_config()
_METHODS = flags.DEFINE_list("methods", ["unif", "gauss", "admrl"], f"methods, from {list(method_names())}")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "seeds (integers)")
_VARIANT = flags.DEFINE_string("variant", "", "a label for runs whose config differs by --config overrides: "
                               "run directories <method>_<variant>-s<seed>, a row of their own in the table")

PUBLISHED_FILES = ("summary.json", "eval.csv", "metrics.csv", "config.json")


def publish(run_dir: str, out_dir: str) -> None:
  """Copy a finished run's small evidence files to out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  for name in PUBLISHED_FILES:
    shutil.copyfile(os.path.join(run_dir, name), os.path.join(out_dir, name))


def write_index(study_dir: str, command: str) -> None:
  """The folder's tables and figures (``results_table.write_folder_tables``: results.md, the gap maps,
  gap_vs_samples.{md,png} where the folder has evaluated kept checkpoints, since a new run changes the
  shared V* they are measured against too), and README.md: every command that ran into this study
  (commands.txt, one per line, in order)."""
  curves = any(p.endswith("gap_vs_samples.md") for p in write_folder_tables(study_dir))
  listed = os.path.join(study_dir, "commands.txt")
  commands = open(listed).read().splitlines() if os.path.exists(listed) else []
  if command not in commands:
    commands.append(command)
    with open(listed, "w") as fh:
      fh.write("\n".join(commands) + "\n")
  with open(os.path.join(study_dir, "README.md"), "w") as fh:
    fh.write(f"# {os.path.basename(study_dir)}\n\nProduced (and resumed) by\n\n```bash\n" + "\n".join(commands)
             + "\n```\n\nEach <method>-s<seed>/ holds a run's summary.json, eval.csv, metrics.csv and config.json; "
             "`results.md` is `python -m experiments.results_table` of this folder; `gap_maps.png` and "
             "`planner_gap_maps.png` are the seed-mean gap maps with the proposed tasks "
             "(`admrl_jax.cli.results_table.study_figure`)" + (
                 "; `gap_vs_samples.md` and `.png` are the worst-case gap against real training samples over the "
                 "evaluated kept checkpoints (`python -m experiments.study_curves`, redrawn after every run)"
                 if curves else "") + ".\n")


def main(argv):
  start(argv)
  for flag, value in (("study", STUDY.value), ("variant", _VARIANT.value)):
    if (flag == "study" and not value) or os.sep in value or value in (".", ".."):
      fail(f"{flag}: needs a folder name (without {os.sep!r}, not '.' or '..'), got {value!r}")
  seeds = checked_methods_and_seeds(_METHODS.value, _SEEDS.value)
  base = _CONFIG.value
  work_root = checked_folder("workdir", os.path.join(base.workdir, STUDY.value))
  study_dir = checked_folder("publish", os.path.join(PUBLISH.value, STUDY.value))
  command = " ".join(["python -m experiments.study"] + [shlex.quote(a) for a in sys.argv[1:]])
  label = f"_{_VARIANT.value}" if _VARIANT.value else ""
  jobs = [(f"{method}{label}-s{seed}", config)
          for (method, seed), config in checked_configs(base, _METHODS.value, seeds).items()]
  jax.config.update("jax_compilation_cache_dir", os.path.join(base.workdir, "jax_cache"))
  runs = progress.bar(len(jobs), f"study {STUDY.value}: runs (method-seed)", "run")
  for name, config in jobs:
    runs.set_postfix_str(name)
    run_dir, out_dir = os.path.join(work_root, name), os.path.join(study_dir, name)
    if os.path.exists(os.path.join(out_dir, "summary.json")):
      print(f"{name}: published already, skipped")
      runs.update()
      continue
    if not os.path.exists(os.path.join(run_dir, "summary.json")):
      resume = bool(os.path.exists(os.path.join(run_dir, "config.json")) and checkpoint_steps(run_dir))
      print(f"{name}: {'resuming' if resume else 'starting'} in {run_dir}", flush=True)
      summary = runner.train_and_evaluate(config, run_dir, resume=resume)
      print(f"{name}: " + json.dumps({k: round(summary[k], 2) for k in ("worst_case_gap", "mean_gap", "cvar10_gap")}),
            flush=True)
    publish(run_dir, out_dir)
    write_index(study_dir, command)
    readme = refresh_readme(PUBLISH.value, README_STUDIES)
    if COMMIT.value:
      commit([study_dir, *readme], f"Study {STUDY.value}: {name} finished (summary.json, eval.csv, metrics.csv, "
                                   "config.json; results.md" + (" and the README's results" if readme else "")
                                   + " recomputed)")
    runs.update()
  runs.close()
  write_index(study_dir, command)     # also when every run was published already: tables and figures redrawn
  print(table(study_dir), end="")


def run():
  """Console-script entry point (admrl-study)."""
  run_main(main)


if __name__ == "__main__":
  run()
