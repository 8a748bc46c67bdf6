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
from absl import app, flags

from admrl_jax.cli.results_table import NAMES

_LO = flags.DEFINE_list("lo", None, "the region's lower corner (one number per task dimension)")
_HI = flags.DEFINE_list("hi", None, "the region's upper corner")


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
  if len(argv) != 2 or not _LO.value or not _HI.value:
    raise app.UsageError("usage: study_coverage <study folder> --lo=... --hi=...")
  lo, hi = np.asarray([float(x) for x in _LO.value]), np.asarray([float(x) for x in _HI.value])
  by_group = {}
  for path in sorted(glob.glob(os.path.join(argv[1], "*", "metrics.csv"))):
    name = os.path.basename(os.path.dirname(path))
    with open(os.path.join(os.path.dirname(path), "summary.json")) as fh:
      seed = json.load(fh)["seed"]
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
  app.run(main)
