"""Sweep methods x seeds on one config, one run after another, then the results table.

  python -m experiments.sweep --config=experiments/configs/default.py \
      --methods=admrl,unif,gauss --seeds=0,1,2 --root=runs/sweep [--config.field=value ...]

Each run lives in <root>/<method>-s<seed>. Finished runs (summary.json present) are skipped and
interrupted ones resume from their checkpoint, so re-running the same command completes a sweep.
The table (mean ± std over seeds) goes to <root>/results.md. For many hosts or devices, launch
one sweep per host with disjoint --seeds (see the README).
"""
import json
import os

import ml_collections
from absl import app, flags
from ml_collections import config_flags

from admrl_jax import runner
from admrl_jax.config import ConfigError, validate
from admrl_jax.minimax import METHODS
from admrl_jax.cli.common import DEFAULT_CONFIG_PATH, fail, start
from admrl_jax.cli.results_table import table

_CONFIG = config_flags.DEFINE_config_file("config", DEFAULT_CONFIG_PATH,
                                          "ml-collections config file", lock_config=True)
_METHODS = flags.DEFINE_list("methods", list(METHODS), f"methods to run, from {list(METHODS)}")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds to run (integers)")
_ROOT = flags.DEFINE_string("root", "runs/sweep", "folder of the sweep's run directories")



def main(argv):
  start(argv)
  bad = [m for m in _METHODS.value if m not in METHODS]
  if bad or not _METHODS.value:
    fail(f"methods: unknown value(s) {bad}; allowed: {list(METHODS)}")
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError:
    fail(f"seeds: must be integers, got {_SEEDS.value}")
  configs = {}
  for method in _METHODS.value:
    for seed in seeds:
      config = ml_collections.ConfigDict(_CONFIG.value.to_dict())
      config.method, config.seed = method, seed
      config.lock()
      try:
        validate(config)
      except ConfigError as err:
        fail(str(err))
      configs[f"{method}-s{seed}"] = config
  for name, config in configs.items():
    run_dir = os.path.join(_ROOT.value, name)
    if os.path.exists(os.path.join(run_dir, "summary.json")):
      print(f"{name}: finished already, skipped")
      continue
    resume = bool(os.path.exists(os.path.join(run_dir, "config.json")) and runner.checkpoint_steps(run_dir))
    print(f"{name}: {'resuming' if resume else 'starting'} in {run_dir}")
    summary = runner.train_and_evaluate(config, run_dir, resume=resume)
    print(f"{name}: " + json.dumps({k: summary[k] for k in ("worst_case_gap", "mean_gap", "cvar10_gap")}))
  with open(os.path.join(_ROOT.value, "results.md"), "w") as fh:
    fh.write(table(_ROOT.value))
  print(table(_ROOT.value), end="")


def run():
  """Console-script entry point (admrl-sweep)."""
  app.run(main)


if __name__ == "__main__":
  run()
