"""A study: methods x seeds on one config, run one after another and published as each finishes.

  python -m experiments.study --study=point_mass_corner_n100 \\
      --config=experiments/configs/point_mass_corner_study.py \\
      --methods=unif,gauss,admrl,gap_search --seeds=0,1,2,3,4 [--commit] [--config.field=value ...]

Runs train in <workdir>/<study>/<method>-s<seed> (checkpoints; machine-local); with --variant=V
(for --config overrides, e.g. --config.adversary.step_rule=raw) in <method>_V-s<seed>, a row of its own. Seeds go outermost
(every method of seed 0, then of seed 1, ...), so a study stopped part-way holds complete pairs.
After each run its evidence is published under --publish (default docs/runs)/<study>/<method>-s<seed>/:
summary.json, eval.csv, metrics.csv (the tasks the method proposed, per iteration) and config.json;
then <study>/results.md is recomputed from those files alone (``experiments.results_table``) and
<study>/README.md records the command. --commit commits the published files with git after every run,
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
import ml_collections
from absl import flags
from ml_collections import config_flags

from admrl_jax import runner
from admrl_jax.cli.common import DEFAULT_CONFIG_PATH, checked_methods_and_seeds, commit, fail, run as run_main, start
from admrl_jax.cli.results_table import study_figure, table
from admrl_jax.config import ConfigError, validate
from admrl_jax.methods import names as method_names
from admrl_jax.run_dir import checkpoint_steps

_CONFIG = config_flags.DEFINE_config_file("config", DEFAULT_CONFIG_PATH, "ml-collections config file",
                                          lock_config=True)
_STUDY = flags.DEFINE_string("study", None, "the study's name: its folder under --publish and the workdir")
_METHODS = flags.DEFINE_list("methods", ["unif", "gauss", "admrl"], f"methods, from {list(method_names())}")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "seeds (integers)")
_PUBLISH = flags.DEFINE_string("publish", "docs/runs", "folder the studies' evidence is published in")
_COMMIT = flags.DEFINE_bool("commit", False, "git commit the published files after every finished run")
_VARIANT = flags.DEFINE_string("variant", "", "a label for runs whose config differs by --config overrides: "
                               "run directories <method>_<variant>-s<seed>, a row of their own in the table")

PUBLISHED_FILES = ("summary.json", "eval.csv", "metrics.csv", "config.json")


def publish(run_dir: str, out_dir: str) -> None:
  """Copy a finished run's small evidence files to out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  for name in PUBLISHED_FILES:
    shutil.copyfile(os.path.join(run_dir, name), os.path.join(out_dir, name))


def write_index(study_dir: str, command: str) -> None:
  """results.md (recomputed from the published files), the gap maps, and README.md: every command that
  ran into this study (commands.txt, one per line, in order)."""
  with open(os.path.join(study_dir, "results.md"), "w") as fh:
    fh.write(table(study_dir))
  study_figure(study_dir, os.path.join(study_dir, "gap_maps.png"))
  study_figure(study_dir, os.path.join(study_dir, "planner_gap_maps.png"), "planner_return", "model planner")
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
             "(`admrl_jax.cli.results_table.study_figure`).\n")


def main(argv):
  start(argv)
  if not _STUDY.value or os.sep in _STUDY.value:
    fail(f"study: needs a folder name without {os.sep!r}, got {_STUDY.value!r}")
  seeds = checked_methods_and_seeds(_METHODS.value, _SEEDS.value)
  base = _CONFIG.value
  work_root = os.path.join(base.workdir, _STUDY.value)
  study_dir = os.path.join(_PUBLISH.value, _STUDY.value)
  command = " ".join(["python -m experiments.study"] + [shlex.quote(a) for a in sys.argv[1:]])
  jobs = []
  for seed in seeds:
    for method in _METHODS.value:
      config = ml_collections.ConfigDict(base.to_dict())
      config.method, config.seed = method, seed
      config.lock()
      try:
        validate(config)
      except ConfigError as err:
        fail(str(err))
      label = f"{method}_{_VARIANT.value}" if _VARIANT.value else method
      jobs.append((f"{label}-s{seed}", config))
  jax.config.update("jax_compilation_cache_dir", os.path.join(base.workdir, "jax_cache"))
  for name, config in jobs:
    run_dir, out_dir = os.path.join(work_root, name), os.path.join(study_dir, name)
    if os.path.exists(os.path.join(out_dir, "summary.json")):
      print(f"{name}: published already, skipped")
      continue
    if not os.path.exists(os.path.join(run_dir, "summary.json")):
      resume = bool(os.path.exists(os.path.join(run_dir, "config.json")) and checkpoint_steps(run_dir))
      print(f"{name}: {'resuming' if resume else 'starting'} in {run_dir}", flush=True)
      summary = runner.train_and_evaluate(config, run_dir, resume=resume)
      print(f"{name}: " + json.dumps({k: round(summary[k], 2) for k in ("worst_case_gap", "mean_gap", "cvar10_gap")}),
            flush=True)
    publish(run_dir, out_dir)
    write_index(study_dir, command)
    if _COMMIT.value:
      commit([study_dir], f"Study {_STUDY.value}: {name} finished (summary.json, eval.csv, metrics.csv, config.json; "
                          "results.md recomputed)")
  write_index(study_dir, command)     # also when every run was published already: tables and figures redrawn
  print(table(study_dir), end="")


def run():
  """Console-script entry point (admrl-study)."""
  run_main(main)


if __name__ == "__main__":
  run()
