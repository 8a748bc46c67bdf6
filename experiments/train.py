"""Train (and evaluate) one run: python -m experiments.train --config=experiments/configs/default.py

Overrides: --config.method=unif --config.seed=1 ... Bad values print one line naming the field
and the allowed values, exit with code 2, and write nothing.
"""
import datetime
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from admrl_jax.config import ConfigError, validate
from admrl_jax.runner import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", "experiments/configs/default.py",
                                          "ml-collections config file", lock_config=True)
_RUN_DIR = flags.DEFINE_string("run_dir", None, "run directory (default: <workdir>/<family>-<method>-s<seed>-<time>)")


def main(argv):
  del argv
  config = _CONFIG.value
  try:
    validate(config)
  except ConfigError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  run_dir = _RUN_DIR.value or os.path.join(config.workdir, f"{config.family}-{config.method}-s{config.seed}-{stamp}")
  summary = train_and_evaluate(config, run_dir)
  print(f"run directory: {run_dir}")
  print("summary: " + ", ".join(f"{k}={summary[k]:.2f}" if isinstance(summary[k], float) else f"{k}={summary[k]}"
                                for k in ("method", "family", "worst_case_gap", "mean_gap", "cvar10_gap",
                                          "ood_worst_case_gap", "real_env_steps", "wall_time_s")))


def run():
  """Console-script entry point (admrl-train)."""
  app.run(main)


if __name__ == "__main__":
  run()
