"""Bad command lines of the entry points, many in one process.

``run_command_lines(root, cases)`` starts this module as ``python -m tests.command_lines <spec.json>``: it
imports the heavy shared modules once, then forks one child per command line. The child imports the entry
point (absl's flags are defined and parsed afresh in every child, so entry points defining the same flags
never meet) and runs it as its command would, in an empty working directory inside ``root`` (or in
``cwd``). A fresh interpreter per command line would spend about 2 s importing jax and the package.
"""
import configparser
import importlib
import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def console_scripts() -> dict[str, str]:
  """setup.cfg's console scripts: name -> ``module:function``."""
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
  return {name.strip(): target.strip() for name, target in (line.split("=") for line in lines)}


def run_command_lines(root: str, cases: list, cwd: str | None = None) -> list[dict]:
  """Run each ``(entry point, argv)`` of ``cases`` (a console script's name or a module run as
  ``__main__``) in a child of one helper process, from ``cwd`` (default: ``root``/cwd, which must exist).
  One result per case: ``code`` (exit code), ``stdout``, ``stderr``, ``changed`` (the paths under ``root``
  written, changed or removed by the command) and ``jax_backend`` (whether it started one)."""
  with tempfile.TemporaryDirectory() as folder:
    spec = os.path.join(folder, "spec.json")
    with open(spec, "w") as fh:
      json.dump({"root": root, "cwd": cwd or os.path.join(root, "cwd"), "cases": cases,
                 "targets": console_scripts()}, fh)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # only what the install provides
    p = subprocess.run([sys.executable, "-m", "tests.command_lines", spec], cwd=REPO, capture_output=True,
                       text=True, timeout=600, env=env)
  assert p.returncode == 0, p.stderr[-3000:]
  return json.loads(p.stdout.splitlines()[-1])


_SHARED = ("jax", "matplotlib.pyplot", "ml_collections.config_flags", "admrl_jax.runner", "admrl_jax.sweep",
           "admrl_jax.evaluation_protocol", "admrl_jax.run_dir", "admrl_jax.cli.common", "admrl_jax.cli.results_table",
           "admrl_jax.oracles.shipped", "admrl_jax.hyperparams", "admrl_jax.task_gradient", "tqdm")


def _snapshot(root: str) -> dict:
  found = {}
  for folder, dirs, files in os.walk(root):
    for name in dirs + files:
      path = os.path.join(folder, name)
      st = os.lstat(path)
      found[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
  return found


def _child(target: str, argv: list[str], cwd: str, out: str) -> None:
  """Run one entry point as its command would (never returns): ``module:function`` (a console script) or
  a module run as ``__main__``; writes out.json (exit code, whether a jax backend started)."""
  for fd, name in ((1, "stdout"), (2, "stderr")):
    os.dup2(os.open(f"{out}.{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
  code = 0
  try:
    os.chdir(cwd)
    sys.argv = [target.split(":")[0], *argv]
    if ":" in target:
      module, function = target.split(":")
      getattr(importlib.import_module(module), function)()
    else:
      runpy.run_module(target, run_name="__main__", alter_sys=True)
  except SystemExit as err:
    code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
  except BaseException:
    traceback.print_exc()
    code = 1
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    bridge = sys.modules.get("jax._src.xla_bridge")
    with open(f"{out}.json", "w") as fh:
      json.dump({"code": code, "jax_backend": bool(bridge and bridge._backends)}, fh)
    os._exit(0)


def _drive(spec_path: str) -> None:
  with open(spec_path) as fh:
    spec = json.load(fh)
  root, cwd, targets = spec["root"], spec["cwd"], spec["targets"]
  sys.path.insert(0, REPO)
  os.environ["MPLBACKEND"] = "Agg"
  for module in _SHARED:
    importlib.import_module(module)
  scratch = tempfile.mkdtemp()
  results = []
  for i, (entry, argv) in enumerate(spec["cases"]):
    before, out = _snapshot(root), os.path.join(scratch, str(i))
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      _child(targets.get(entry, entry), argv, cwd, out)
    deadline = time.time() + 120
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
      if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        break
      time.sleep(0.01)
    result = {"code": "timeout", "jax_backend": None}
    if os.path.exists(f"{out}.json"):
      with open(f"{out}.json") as fh:
        result = json.load(fh)
    for name in ("stdout", "stderr"):
      with open(f"{out}.{name}") as fh:
        result[name] = fh.read()
    after = _snapshot(root)
    result["changed"] = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    results.append(result)
  print(json.dumps(results))


if __name__ == "__main__":
  _drive(sys.argv[1])
