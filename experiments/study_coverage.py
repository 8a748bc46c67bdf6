"""Where a study's methods trained and where their worst case landed: per run, the share of proposed tasks
inside a region of the task box, the first iteration that proposed one there (metrics.csv), and the in-box
task of the run's worst-case gap for one evaluator against the folder's shared V* (eval.csv; marked * when
inside the region), from the published files alone.

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
from admrl_jax.study_results import NAMES, study_rows

_LO = flags.DEFINE_list("lo", None, "the region's lower corner (one number per task dimension)")
_HI = flags.DEFINE_list("hi", None, "the region's upper corner")
_EVALUATOR = flags.DEFINE_enum("evaluator", "planner", ["planner", "policy", "floor"],
                               "whose worst-case task is located: the model planner, the policy evaluator or the "
                               "adaptation floor (each against the folder's shared V*)")


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


def worst_tasks(folder: str, kind: str) -> dict:
  """{(group, seed): (psi [d], gap)}: each run's in-box task of its worst-case gap with evaluator ``kind``
  against the folder's shared V* (``study_results.study_rows``); runs without that evaluator are absent."""
  found = {}
  for group, entries in study_rows(folder)[2].items():
    for e in entries:
      gaps = (e.get(kind) or {}).get("gaps", {}).get("in_box")
      if gaps:
        psi = max(gaps, key=gaps.get)
        found[(group, e["seed"])] = (np.asarray([float(x) for x in psi.split()]), gaps[psi])
  return found


def main(argv):
  (folder,) = start(argv, positional=("the study folder",))
  lo, hi = region()
  by_group = {}
  for name, path, seed in study_runs(folder, len(lo)):
    by_group.setdefault(name[: -len(f"-s{seed}")], []).append((seed, *coverage(path, lo, hi)))
  worst = worst_tasks(folder, _EVALUATOR.value)
  label = {"planner": "model planner", "policy": "policy evaluator", "floor": "adaptation floor"}[_EVALUATOR.value]
  print(f"| method | seeds | share of tasks in [{', '.join(map(str, lo))}] - [{', '.join(map(str, hi))}] "
        f"(mean; per seed) | first iteration there (per seed) | worst task, {label} (per seed: psi gap; * in "
        "the region) | worst task in the region |")
  print("|---|---|---|---|---|---|")
  for group, runs in by_group.items():
    runs.sort()
    shares = " ".join(f"{s:.2f}" for _, s, _, _ in runs)
    firsts = " ".join("-" if f is None else str(f) for _, _, f, _ in runs)
    located = [worst.get((group, seed)) for seed, *_ in runs]
    inside = [None if w is None else bool(np.all((w[0] >= lo - 1e-9) & (w[0] <= hi + 1e-9))) for w in located]
    cells = "; ".join("-" if w is None else "(" + ", ".join(f"{x:.2f}" for x in w[0]) + f") {w[1]:.1f}"
                      + ("*" if hit else "") for w, hit in zip(located, inside))
    inside = [hit for hit in inside if hit is not None]
    print(f"| {NAMES.get(group, group)} | {len(runs)} | {np.mean([s for _, s, _, _ in runs]):.3f}; {shares} | {firsts} "
          f"| {cells} | " + (f"{sum(inside)}/{len(inside)}" if inside else "-") + " |")


if __name__ == "__main__":
  run(main)
