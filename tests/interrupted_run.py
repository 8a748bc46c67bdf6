"""Train a config in a run directory and send this process a signal after an iteration.

Run by tests/test_workflow.py in a subprocess, so the kill is a real one:
  python -m tests.interrupted_run RUN_DIR --iterations=4 --at=3 --signal=SIGKILL [--resume]
Exit code 3: the run stopped with TrainingInterrupted (checkpoint saved).
"""
import argparse
import os
import signal
import sys

from admrl_jax.runner import TrainingInterrupted, train
from tests.tiny_config import get_config


def resume_config(iterations: int):
  c = get_config()
  c.loop.iterations = iterations
  c.checkpoint.every = 2
  return c


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("run_dir")
  parser.add_argument("--iterations", type=int, default=4)
  parser.add_argument("--at", type=int, required=True, help="outer iteration after which the signal is sent")
  parser.add_argument("--signal", choices=["SIGTERM", "SIGINT", "SIGKILL"], required=True)
  parser.add_argument("--resume", action="store_true")
  args = parser.parse_args()

  def on_iteration(row):
    if row["iteration"] == args.at:
      os.kill(os.getpid(), getattr(signal, args.signal))

  try:
    train(resume_config(args.iterations), args.run_dir, log=lambda *_: None, resume=args.resume,
          on_iteration=on_iteration)
  except TrainingInterrupted as err:
    print(err, file=sys.stderr)
    sys.exit(3)


if __name__ == "__main__":
  main()
