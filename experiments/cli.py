"""Shared pieces of the entry points: one-line errors with exit code 2."""
import sys

from absl import logging


def fail(message: str) -> None:
  """Print ``error: message`` on one line and exit with code 2 (nothing has been written)."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def start(argv) -> None:
  """Reject stray positional arguments; keep absl quiet so an error stays one line."""
  logging.set_verbosity(logging.WARNING)  # no backend-discovery chatter on stderr
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; use --flag=value or --config.field=value")
