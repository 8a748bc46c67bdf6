"""Shared pieces of the entry points: every bad input is refused the same way, before any work, with
one line ``error: <field or flag>: <what is wrong>`` on stderr and exit code 2, nothing written.

``run(main)`` parses the flags so (an unknown flag, a malformed value or override, a --config file
that does not exist or does not load; absl's usage text never appears), ``start`` refuses stray
positional arguments, and the checks below cover what the entry points share: the --config flag
(``define_config``: the package's default config when --config is absent), methods and seeds, the
folders a command reads or writes, a run directory's saved config.
"""
import os
import re
import subprocess
import sys
import time

from absl import app, flags, logging
from ml_collections import config_dict
from ml_collections.config_flags import config_flags

from admrl_jax import configs

# The installed commands find the default config inside the package, from any working directory.
DEFAULT_CONFIG_PATH = os.path.join(os.path.dirname(configs.__file__), "default.py")


def fail(message: str, code: int = 2) -> None:
  """Print ``error: message`` on one line and exit with ``code`` (2: a bad input, nothing written)."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(code)


def start(argv, positional: tuple[str, ...] = ()) -> list[str]:
  """Keep absl quiet so an error stays one line; exit 2 unless argv holds exactly the positional
  arguments named by ``positional`` (none by default); returns them."""
  logging.set_verbosity(logging.WARNING)  # no backend-discovery chatter on stderr
  given = list(argv[1:])
  if len(given) != len(positional):
    if not positional:
      fail(f"unexpected arguments {given}; use --flag=value or --config.field=value")
    fail(f"expected {len(positional)} positional argument(s) ({', '.join(positional)}), got {given}")
  return given


def shared_bool(name: str, help_text: str):
  """A boolean flag (default False) that several CLI modules define with one meaning (``--commit``): the first
  definition in a process serves the others. One entry point imports one CLI module; the tests import several
  into one process, where absl refuses a name defined twice."""
  if name in flags.FLAGS:
    return flags.FlagHolder(flags.FLAGS, flags.FLAGS[name])
  return flags.DEFINE_bool(name, False, help_text)


def define_config(help_text: str = "ml-collections config file"):
  """The --config flag (a config file; ``--config.field=value`` overrides its fields).

  Without --config, ``parse_flags`` gives the package's default config, so overrides alone apply to
  it. (Defined with a default file instead, ml-collections would load that file and apply the
  overrides while the module is imported, where a bad override is a traceback.) In a process that imports
  several CLI modules (the tests) the first definition serves the others, as ``shared_bool``'s."""
  if "config" in flags.FLAGS:
    return flags.FlagHolder(flags.FLAGS, flags.FLAGS["config"])
  return config_flags.DEFINE_config_file("config", None, f"{help_text} (default: {DEFAULT_CONFIG_PATH})",
                                         lock_config=True)


def _config_values(argv) -> list[str]:
  """The values of --config=VALUE / --config VALUE in argv (with a ``:argument`` suffix, if any)."""
  values = []
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
    values.append(value)
  return values


def config_paths(argv) -> list[str]:
  """The files named by --config=PATH / --config PATH in argv (without a ``:argument`` suffix)."""
  return [value.split(":", 1)[0] for value in _config_values(argv)]


def config_overrides(argv) -> list[str]:
  """The fields overridden by --config.FIELD=value (or --[no]config.FIELD) in argv, dotted, in order."""
  found = [re.match(r"-{1,2}(?:no)?config\.([^=]+)", arg) for arg in argv[1:]]
  return [m.group(1) for m in found if m]


def _unknown_field(config, dotted: str) -> str | None:
  """The error naming the first part of ``dotted`` that is not a field of config; None if all are."""
  node, done = config, []
  for part in dotted.split("."):
    name = ".".join(done + [part])
    if not isinstance(node, config_dict.ConfigDict):
      return f"{name}: unknown field; {'.'.join(done)} is a value, not a section"
    if part not in node:
      return f"{name}: unknown field; allowed: {sorted(node.keys())}"
    node, done = node[part], done + [part]
  return None


def _config_error(argv, err: Exception) -> str:
  """What went wrong while --config was parsed (beyond absl's own errors): the file does not load,
  or an override names a field the config lacks."""
  value = _config_values(argv)[-1]
  try:
    config = config_flags.ConfigFileFlagParser("config", lock_config=False).parse(value)
  except Exception as load_err:  # the config file's own code failed
    return f"config: cannot load {value!r}: {type(load_err).__name__}: {load_err}"
  for dotted in config_overrides(argv):
    problem = _unknown_field(config, dotted)
    if problem:
      return problem
  return f"config: {type(err).__name__}: {err}"


def _flag_error(err: flags.Error) -> str:
  """absl's message as ``name: problem`` (a config field named as validation names it, without
  ``config.``)."""
  if isinstance(err, flags.UnrecognizedFlagError):
    tip = re.search(r"Did you mean: (.*) \?$", str(err))
    return (f"{err.flagname.removeprefix('config.')}: unknown flag"
            + (f"; did you mean {tip.group(1)}?" if tip else "; see --helpshort"))
  found = re.match(r"flag --([^=]+)=(.*?): (.*)$", str(err), re.S)
  if not found:   # ml-collections' (an override before --config, ...) or absl's own
    return f"config: {err}" if type(err).__module__.startswith("ml_collections") else str(err)
  name, value, problem = found.groups()
  problem = re.sub(r"^\('(.*)', .*\)$", r"\1", problem)   # a ValueError(text, value)'s repr: its text
  return f"{name.removeprefix('config.')}: {problem}" + ("" if value in problem else f" (got {value!r})")


def parse_flags(argv):
  """absl's flag parsing with every error one ``error:`` line and exit 2 (not absl's usage text and
  exit 1, nor a traceback); with a --config flag and no --config given, the default config."""
  argv = list(argv)
  if "config" in flags.FLAGS and not _config_values(argv):
    argv.insert(1, f"--config={DEFAULT_CONFIG_PATH}")
  for path in config_paths(argv):
    if not os.path.isfile(path):
      where = "" if os.path.isabs(path) else f" (from {os.getcwd()})"
      fail(f"config: {'not a file' if os.path.exists(path) else 'no such file'} {path!r}{where}")
  try:
    return flags.FLAGS(argv)
  except flags.Error as err:
    fail(_flag_error(err))
  except Exception as err:  # raised while the config file loads or an override is applied
    fail(_config_error(argv, err))


def run(main) -> None:
  """``app.run(main)`` with ``parse_flags``: the entry point of every command."""
  app.run(main, flags_parser=parse_flags)


def checked_choices(name: str, values: list[str], allowed) -> list[str]:
  """Exit 2 naming the flag unless values holds at least one value and only values in allowed."""
  allowed = list(allowed)
  if not values:
    fail(f"{name}: give at least one; allowed: {allowed}")
  bad = [v for v in values if v not in allowed]
  if bad:
    fail(f"{name}: unknown value(s) {bad}; allowed: {allowed}")
  return values


def checked_methods_and_seeds(methods: list[str], seeds: list[str]) -> list[int]:
  """Exit 2 naming the field unless every method is registered and every seed an integer, each at
  least once and none twice; the seeds."""
  from admrl_jax.methods import names as method_names

  checked_choices("methods", methods, sorted(method_names()))
  try:
    numbers = [int(s) for s in seeds]
  except ValueError:
    fail(f"seeds: must be integers, got {seeds}")
  if not numbers:
    fail("seeds: give at least one integer")
  for name, values in (("methods", methods), ("seeds", numbers)):
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
      fail(f"{name}: each at most once, got {twice} more than once")
  return numbers


def checked_configs(base, methods: list[str], seeds: list[int]) -> dict:
  """{(method, seed): the locked, validated config of that run}: base with method and seed set;
  exit 2 naming the field of the first that does not validate."""
  from admrl_jax.config import ConfigError, validate

  found = {}
  for seed in seeds:
    for method in methods:
      config = config_dict.ConfigDict(base.to_dict())
      config.method, config.seed = method, seed
      config.lock()
      try:
        validate(config)
      except ConfigError as err:
        fail(str(err))
      found[method, seed] = config
  return found


def checked_folder(name: str, path: str) -> str:
  """Exit 2 naming the flag unless ``path`` is a folder, or can be made one (the part of it that
  exists is a folder); nothing is created. Returns path."""
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    fail(f"{name}: {path!r} is a file, not a folder" if existing == os.path.abspath(path)
         else f"{name}: {path!r} cannot be a folder: {existing!r} is a file")
  return path


def checked_json_out(name: str, path: str) -> str:
  """Exit 2 naming the flag unless ``path`` (a JSON file to write; "" for none) can be a file: not a
  folder, in a folder that is or can be made one. Returns path."""
  if path:
    if os.path.isdir(path):
      fail(f"{name}: {path!r} is a folder; give the JSON file's path")
    checked_folder(name, os.path.dirname(path) or ".")
  return path


def write_json(path: str, value) -> None:
  """``value`` as indented JSON at ``path`` (its folder made), announced on stderr."""
  import json

  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "w") as fh:
    json.dump(value, fh, indent=1)
  print(f"wrote {path}", file=sys.stderr)


def checked_run_config(run_dir: str):
  """The config a run directory was started with (``run_dir.load_config``, validated); exit 2
  naming the run directory and what is wrong (no config.json, one that does not parse or validate)."""
  import json

  from admrl_jax.config import ConfigError, validate
  from admrl_jax.configs.default import get_config as default_config
  from admrl_jax.run_dir import load_config

  path = os.path.join(run_dir, "config.json")
  try:
    config = load_config(run_dir, default_config())
    validate(config)
  except FileNotFoundError as err:
    fail(str(err))
  except json.JSONDecodeError as err:
    fail(f"run_dir: {path!r} is not valid JSON: {err}")
  except ConfigError as err:
    fail(f"run_dir: {path!r}: {err}")
  except (ValueError, TypeError, AttributeError, KeyError) as err:   # JSON, but not a config's
    fail(f"run_dir: {path!r} is not a run's config: {type(err).__name__}: {err}")
  return config


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
