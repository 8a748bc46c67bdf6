"""Train and evaluate one run (the main job).

  python -m experiments.train --config=experiments/configs/default.py [--config.field=value ...]
  python -m experiments.train --resume --run_dir=runs/<run>      # continue from the last checkpoint

Exit codes:
  0    trained, evaluated, summary.json written;
  2    a bad input (a config field, a missing --config file, a run directory without config.json, ...):
       one line naming the field, and nothing written;
  3    a metric of the outer loop became NaN or infinite: one line naming the metric, the outer
       iteration and the last good checkpoint (or that none was saved); the non-finite state is not
       saved, the metrics files keep its row;
  130, 143 (128 + signal number)  SIGINT / SIGTERM: the run stopped after the chunk in flight with a
       checkpoint saved; --resume continues it and ends in exactly the state of an uninterrupted run.

Several processes (one per host, or several on one machine): start the same command in each with
--num_processes=N --process_id=i --coordinator=<process 0's host:port> and the same --run_dir
(on a shared file system), --config.devices = the devices of all processes together. They train
together (the K tasks split over every process's devices); process 0 writes the run directory.
The evaluation is not run: evaluate the final checkpoint afterwards with one process
(``python -m experiments.evaluate --run_dir=...``).
"""
import datetime
import os
import sys

import jax
from absl import flags

from admrl_jax import runner
from admrl_jax.config import ConfigError, validate
from admrl_jax.evaluation_protocol import summary_lines
from admrl_jax.cli.common import (checked_folder, checked_run_config, config_overrides, config_paths, define_config,
                                  fail, run as run_main, start)

NON_FINITE_EXIT = 3

_CONFIG = define_config()
_RUN_DIR = flags.DEFINE_string("run_dir", None, "run directory (default: <workdir>/<family>-<method>-s<seed>-<time>)")
_RESUME = flags.DEFINE_bool("resume", False, "continue the run in --run_dir from its latest checkpoint, "
                            "with the config saved there")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 1, "processes training together (jax.distributed); "
                                      "each is started with the same flags and its own --process_id")
_PROCESS_ID = flags.DEFINE_integer("process_id", 0, "this process's index, 0..num_processes-1 (0 writes the "
                                   "run directory)")
_COORDINATOR = flags.DEFINE_string("coordinator", None, "host:port of process 0, which coordinates "
                                   "(needed with --num_processes > 1)")


def _join_processes() -> None:
  """jax.distributed.initialize for a run of several processes (before anything touches jax)."""
  n, i = _NUM_PROCESSES.value, _PROCESS_ID.value
  if n < 1:
    fail(f"num_processes: must be a positive integer, got {n}")
  if not 0 <= i < n:
    fail(f"process_id: must be in 0..{n - 1} (num_processes={n}), got {i}")
  if n == 1:
    return
  if not _COORDINATOR.value:
    fail(f"coordinator: a run of {n} processes needs --coordinator=<host:port of process 0>")
  if not _RUN_DIR.value:
    fail(f"run_dir: a run of {n} processes needs --run_dir, the same for every process")
  jax.distributed.initialize(coordinator_address=_COORDINATOR.value, num_processes=n, process_id=i)


def main(argv):
  start(argv)
  if _RESUME.value:
    if not _RUN_DIR.value:
      fail("--resume needs --run_dir: the run directory to continue")
    if config_paths(sys.argv) or config_overrides(sys.argv):
      fail("config: --resume continues with the config saved in the run directory; drop --config and --config.*")
    config = checked_run_config(_RUN_DIR.value)
    run_dir = _RUN_DIR.value
  else:
    config = _CONFIG.value
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = _RUN_DIR.value or os.path.join(config.workdir, f"{config.family}-{config.method}-s{config.seed}-{stamp}")
    checked_folder("run_dir", run_dir)
    if os.path.exists(os.path.join(run_dir, "config.json")):   # before any process writes it
      fail(f"run_dir: {run_dir!r} holds a run already; continue it with --resume, or choose another --run_dir")
  _join_processes()
  try:
    validate(config)
    runner.run_mesh(config)
  except (ConfigError, ValueError) as err:
    fail(str(err))
  primary = jax.process_index() == 0
  try:
    if jax.process_count() > 1:
      result = runner.train(config, run_dir, resume=_RESUME.value)
      if primary:
        print(f"run directory: {run_dir} ({jax.process_count()} processes, {int(result.state.iteration)} "
              f"iterations); evaluate it with: python -m experiments.evaluate --run_dir={run_dir}")
      return
    summary = runner.train_and_evaluate(config, run_dir, resume=_RESUME.value)
  except runner.TrainingInterrupted as err:
    print(f"interrupted: {err}", file=sys.stderr)
    sys.exit(130 if str(err).startswith("SIGINT") else 143)
  except runner.NonFiniteError as err:
    fail(f"training stopped: {err}", NON_FINITE_EXIT)
  print("\n".join(summary_lines(summary, run_dir)))
  print(f"run directory: {run_dir} (summary.json, eval.csv, metrics.jsonl; {summary['wall_time_s']:.0f} s)")


def run():
  """Console-script entry point (admrl-train)."""
  run_main(main)


if __name__ == "__main__":
  run()
