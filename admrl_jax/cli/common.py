"""Shared pieces of the entry points: one-line errors with exit code 2."""
import os
import sys

from absl import logging

from admrl_jax import configs

# The installed commands find the default config inside the package, from any working directory.
DEFAULT_CONFIG_PATH = os.path.join(os.path.dirname(configs.__file__), "default.py")


def fail(message: str) -> None:
  """Print ``error: message`` on one line and exit with code 2 (nothing has been written)."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def start(argv) -> None:
  """Reject stray positional arguments; keep absl quiet so an error stays one line."""
  logging.set_verbosity(logging.WARNING)  # no backend-discovery chatter on stderr
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; use --flag=value or --config.field=value")
