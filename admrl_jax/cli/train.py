"""Train and evaluate one run (the main job).

  python -m experiments.train --config=experiments/configs/default.py [--config.field=value ...]
  python -m experiments.train --resume --run_dir=runs/<run>      # continue from the last checkpoint

Bad values print one line naming the field and the allowed values, exit with code 2 and write
nothing. SIGINT/SIGTERM stop the run after the chunk in flight with a checkpoint saved (exit code
128 + signal number); --resume continues it and ends in exactly the state of an uninterrupted run.
"""
import datetime
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from admrl_jax import runner, sharding
from admrl_jax.config import ConfigError, validate
from admrl_jax.cli.common import DEFAULT_CONFIG_PATH, fail, start
from admrl_jax.configs.default import get_config as default_config

_CONFIG = config_flags.DEFINE_config_file("config", DEFAULT_CONFIG_PATH,
                                          "ml-collections config file", lock_config=True)
_RUN_DIR = flags.DEFINE_string("run_dir", None, "run directory (default: <workdir>/<family>-<method>-s<seed>-<time>)")
_RESUME = flags.DEFINE_bool("resume", False, "continue the run in --run_dir from its latest checkpoint, "
                            "with the config saved there")



def main(argv):
  start(argv)
  if _RESUME.value:
    if not _RUN_DIR.value:
      fail("--resume needs --run_dir: the run directory to continue")
    try:
      config = runner.load_config(_RUN_DIR.value, default_config())
    except FileNotFoundError as err:
      fail(str(err))
    run_dir = _RUN_DIR.value
  else:
    config = _CONFIG.value
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = _RUN_DIR.value or os.path.join(config.workdir, f"{config.family}-{config.method}-s{config.seed}-{stamp}")
  try:
    validate(config)
    sharding.task_mesh(config.devices)
  except (ConfigError, ValueError) as err:
    fail(str(err))
  try:
    summary = runner.train_and_evaluate(config, run_dir, resume=_RESUME.value)
  except runner.TrainingInterrupted as err:
    print(f"interrupted: {err}", file=sys.stderr)
    sys.exit(130 if str(err).startswith("SIGINT") else 143)
  print(f"run directory: {run_dir}")
  print("summary: " + ", ".join(f"{k}={summary[k]:.2f}" if isinstance(summary[k], float) else f"{k}={summary[k]}"
                                for k in ("method", "family", "worst_case_gap", "mean_gap", "cvar10_gap",
                                          "ood_worst_case_gap", "real_env_steps", "wall_time_s")))


def run():
  """Console-script entry point (admrl-train)."""
  app.run(main)


if __name__ == "__main__":
  run()
