"""Shared pieces of the entry points: one-line errors with exit code 2, the --config file check."""
import os
import subprocess
import sys
import time

from absl import app, logging

from admrl_jax import configs

# The installed commands find the default config inside the package, from any working directory.
DEFAULT_CONFIG_PATH = os.path.join(os.path.dirname(configs.__file__), "default.py")


def fail(message: str, code: int = 2) -> None:
  """Print ``error: message`` on one line and exit with ``code`` (2: a bad input, nothing written)."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(code)


def start(argv) -> None:
  """Reject stray positional arguments; keep absl quiet so an error stays one line."""
  logging.set_verbosity(logging.WARNING)  # no backend-discovery chatter on stderr
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; use --flag=value or --config.field=value")


def checked_methods_and_seeds(methods: list[str], seeds: list[str]) -> list[int]:
  """Exit 2 naming the field unless every method is registered and every seed an integer; the seeds."""
  from admrl_jax.methods import names as method_names

  bad = [m for m in methods if m not in method_names()]
  if bad or not methods:
    fail(f"methods: unknown value(s) {bad}; allowed: {sorted(method_names())}")
  try:
    return [int(s) for s in seeds]
  except ValueError:
    fail(f"seeds: must be integers, got {seeds}")


def config_paths(argv) -> list[str]:
  """The files named by --config=PATH / --config PATH in argv (without a ``:argument`` suffix)."""
  paths = []
  for i, arg in enumerate(argv[1:], 1):
    if arg == "--":
      break
    name, eq, value = arg.lstrip("-").partition("=")
    if not arg.startswith("-") or name != "config":
      continue
    if not eq:
      if i + 1 >= len(argv):
        continue
      value = argv[i + 1]
    paths.append(value.split(":", 1)[0])
  return paths


def parse_flags(argv):
  """absl's flag parsing, after checking that the --config file exists: ml-collections would
  otherwise fail later with a traceback (or absl's usage text and exit 1)."""
  for path in config_paths(argv):
    if not os.path.isfile(path):
      fail(f"config: no such file {path!r}" + ("" if os.path.isabs(path) else f" (from {os.getcwd()})"))
  return app.parse_flags_with_usage(argv)


def run(main) -> None:
  """``app.run(main)`` with the --config file check."""
  app.run(main, flags_parser=parse_flags)


def commit(paths: list[str], message: str, tries: int = 5) -> None:
  """git add + commit of paths only; a failure (another git process holding the index) is retried,
  then reported without stopping the study (the files stay published; the next run commits them)."""
  for attempt in range(tries):
    added = subprocess.run(["git", "add", "--", *paths]).returncode == 0
    done = added and subprocess.run(["git", "commit", "-q", "-m", message, "--", *paths]).returncode in (0, 1)
    if done:
      return
    time.sleep(2 + 3 * attempt)
  print(f"warning: could not commit {paths} (git busy?); the files are published and the next run commits them",
        file=sys.stderr)
