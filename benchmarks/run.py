"""Run every benchmark figure, one process per figure, and write docs/benchmarks.md (and the raw
numbers to docs/benchmarks.json).

    .venv/bin/python -m benchmarks.run            # all figures (1-7: about 20 min on 2 CPU cores; 8: 18 more)
    .venv/bin/python -m benchmarks.run --only=task_gradient,compiles   # re-run some, keep the rest
    .venv/bin/python -m benchmarks.run --quick --out=/tmp/bench.md    # small sizes: a smoke run
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata as metadata
import json
import os
import platform
import subprocess
import sys
import time

from benchmarks import report

FIGURES = ("model_rollout", "outer_iteration", "task_gradient", "collection", "task_vectorisation", "compiles",
           "seeds", "hopper_phases")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine() -> dict:
  cpu = platform.processor()
  try:
    cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  try:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
  except (ValueError, OSError):
    memory = float("nan")
  versions = {name: metadata.version(name) for name in ("jax", "jaxlib", "brax", "flax")}
  return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory, 1), "python": platform.python_version(),
          **versions, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def run_figure(name: str, quick: bool, extra: list[str]) -> dict:
  """One figure in its own process; its last stdout line is its JSON result."""
  t0 = time.perf_counter()
  cmd = [sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if quick else []), *extra]
  p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
  if p.returncode != 0:
    raise SystemExit(f"error: benchmark {name} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
  result = json.loads(p.stdout.strip().splitlines()[-1])
  result["wall_seconds"] = time.perf_counter() - t0
  result["command"] = " ".join(["python", "-m", f"benchmarks.{name}", *cmd[3:]])
  return result


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run; not for the doc)")
  parser.add_argument("--only", default="", help=f"comma-separated figures among {list(FIGURES)}")
  parser.add_argument("--full", action="store_true", help="outer_iteration: the paper config's full 100 rounds")
  parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.md"))
  parser.add_argument("--report_only", action="store_true",
                      help="measure nothing: rewrite the markdown from the saved .json (after editing notes.py)")
  args = parser.parse_args(argv)
  raw_path = os.path.splitext(args.out)[0] + ".json"
  if args.report_only:
    if not os.path.exists(raw_path):
      raise SystemExit(f"error: --report_only: {raw_path} does not exist; run the benchmarks first")
    results = json.load(open(raw_path))
    with open(args.out, "w") as fh:
      fh.write(report.markdown(results, quick=args.quick))
    print(f"wrote {args.out} from {raw_path}")
    return
  only = [f for f in args.only.split(",") if f] or list(FIGURES)
  unknown = sorted(set(only) - set(FIGURES))
  if unknown:
    raise SystemExit(f"error: --only: unknown figure(s) {unknown}; allowed: {list(FIGURES)}")
  results = json.load(open(raw_path)) if os.path.exists(raw_path) and args.only else {}
  for key, r in results.items():   # figures kept from an earlier run keep the machine they ran on
    if key != "machine" and isinstance(r, dict) and "machine" not in r:
      r["machine"] = results["machine"]
  results["machine"] = machine()
  for name in only:
    print(f"running {name} ...", flush=True)
    extra = ["--full"] if args.full and name == "outer_iteration" else []
    results[name] = run_figure(name, args.quick, extra)
    results[name]["machine_date"] = results["machine"]["date"]
    results[name]["machine"] = results["machine"]
    print(f"  {name}: met={results[name]['met']} ({results[name]['wall_seconds']:.0f} s)", flush=True)
    with open(raw_path, "w") as fh:   # after every figure: an interrupted run keeps what it measured
      json.dump(results, fh, indent=1)
  with open(args.out, "w") as fh:
    fh.write(report.markdown(results, quick=args.quick))
  print(f"wrote {args.out} and {raw_path}")


if __name__ == "__main__":
  main()
