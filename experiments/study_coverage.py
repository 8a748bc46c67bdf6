"""Where a study's methods trained: per run, the share of proposed tasks inside a region of the task
box and the first iteration that proposed one there, from the published metrics.csv files alone.

  python -m experiments.study_coverage docs/runs/point_mass_corner_n100 --lo=1.2,1.2 --hi=2.0,2.0

For PointMass2D-Corner the region [1.2, 2]^2 is where the thrust-turning regime lives (4 % of the box;
targets beyond it drive the puck into it); a uniform proposal puts 4 % of its tasks there.
"""
import csv
import glob
import json
import os

import numpy as np
from absl import flags

from admrl_jax.cli.common import fail, run, start
from admrl_jax.study_results import NAMES

_LO = flags.DEFINE_list("lo", None, "the region's lower corner (one number per task dimension)")
_HI = flags.DEFINE_list("hi", None, "the region's upper corner")


def region() -> tuple[np.ndarray, np.ndarray]:
  """(lo, hi) of --lo and --hi; exit 2 naming the flag unless both are numbers, as many, lo <= hi."""
  corners = []
  for flag in (_LO, _HI):
    if not flag.value:
      fail(f"{flag.name}: give the region's {'lower' if flag is _LO else 'upper'} corner, one number per task "
           "dimension")
    try:
      corners.append(np.asarray([float(x) for x in flag.value]))
    except ValueError:
      fail(f"{flag.name}: must be numbers, got {flag.value}")
  lo, hi = corners
  if lo.shape != hi.shape or np.any(lo > hi):
    fail(f"lo, hi: need as many numbers in each and lo <= hi in every dimension, got lo={lo.tolist()} "
         f"hi={hi.tolist()}")
  return lo, hi


def study_runs(folder: str, dim: int) -> list[tuple[str, str, int]]:
  """(name, metrics.csv, seed) of every run in the study folder; exit 2 naming the folder or file unless
  there is one, each with a summary.json naming its seed and a metrics.csv of dim-dimensional tasks."""
  if not os.path.isdir(folder):
    fail(f"study folder: no such folder {folder!r}")
  found = []
  for path in sorted(glob.glob(os.path.join(folder, "*", "metrics.csv"))):
    summary = os.path.join(os.path.dirname(path), "summary.json")
    try:
      with open(summary) as fh:
        seed = int(json.load(fh)["seed"])
    except (OSError, ValueError, KeyError, TypeError) as err:
      fail(f"study folder: cannot read the seed in {summary!r}: {type(err).__name__}: {err}")
    with open(path) as fh:
      rows = csv.reader(fh)
      header, first = next(rows, []), next(rows, None)
    if first is None:
      fail(f"study folder: {path!r} holds no iteration")
    dims = {c.split("/")[2] for c in header if c.startswith("psi/0/")}
    if len(dims) != dim:
      fail(f"lo: {path!r} holds {len(dims)}-dimensional tasks, got {dim} numbers")
    found.append((os.path.basename(os.path.dirname(path)), path, seed))
  if not found:
    fail(f"study folder: {folder!r} holds no run (<run>/metrics.csv)")
  return found


def coverage(metrics_csv: str, lo: np.ndarray, hi: np.ndarray) -> tuple[float, int | None, int]:
  """(share of proposed tasks inside [lo, hi], first iteration with one inside or None, tasks)."""
  with open(metrics_csv) as fh:
    rows = list(csv.DictReader(fh))
  tasks = sorted({c.split("/")[1] for c in rows[0] if c.startswith("psi/")})
  dim = len(lo)
  inside, first = [], None
  for r in rows:
    for t in tasks:
      psi = np.asarray([float(r[f"psi/{t}/{j}"]) for j in range(dim)])
      hit = bool(np.all((psi >= lo) & (psi <= hi)))
      inside.append(hit)
      if hit and first is None:
        first = int(float(r["iteration"]))
  return float(np.mean(inside)), first, len(inside)


def main(argv):
  (folder,) = start(argv, positional=("the study folder",))
  lo, hi = region()
  by_group = {}
  for name, path, seed in study_runs(folder, len(lo)):
    by_group.setdefault(name[: -len(f"-s{seed}")], []).append((seed, *coverage(path, lo, hi)))
  print(f"| method | seeds | share of tasks in [{', '.join(map(str, lo))}] - [{', '.join(map(str, hi))}] "
        "(mean; per seed) | first iteration there (per seed) |")
  print("|---|---|---|---|")
  for group, runs in by_group.items():
    runs.sort()
    shares = " ".join(f"{s:.2f}" for _, s, _, _ in runs)
    firsts = " ".join("-" if f is None else str(f) for _, _, f, _ in runs)
    print(f"| {NAMES.get(group, group)} | {len(runs)} | {np.mean([s for _, s, _, _ in runs]):.3f}; {shares} | {firsts} |")


if __name__ == "__main__":
  run(main)
