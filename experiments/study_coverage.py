"""Where a study's methods trained and where their worst case landed: per run, the share of proposed tasks
inside a region of the task box, the first iteration that proposed one there (metrics.csv), and the in-box
task of the run's worst-case gap for one evaluator against the folder's shared V* (eval.csv; marked * when
inside the region), from the published files alone.

  python -m experiments.study_coverage docs/runs/point_mass_corner_n100 --lo=1.2,1.2 --hi=2.0,2.0

For PointMass2D-Corner the region [1.2, 2]^2 is where the thrust-turning regime lives (4 % of the box;
targets beyond it drive the puck into it); a uniform proposal puts 4 % of its tasks there.

With --local=R, the coverage link instead: for each in-box test task inside the region, across all runs of
the folder, the Spearman rank correlation between a run's share of proposed tasks within L-infinity
distance R of that test task and the run's gap there (the chosen evaluator, the folder's shared V*):

  python -m experiments.study_coverage docs/runs/corner_screening --lo=1.2,1.2 --hi=2,2 --local=0.3333
"""
import csv
import glob
import json
import os

import numpy as np
from absl import flags
from scipy import stats

from admrl_jax.cli.common import fail, run, start
from admrl_jax.study_results import NAMES, proposed_tasks, study_rows

_LO = flags.DEFINE_list("lo", None, "the region's lower corner (one number per task dimension)")
_HI = flags.DEFINE_list("hi", None, "the region's upper corner")
_EVALUATOR = flags.DEFINE_enum("evaluator", "planner", ["planner", "policy", "floor"],
                               "whose worst-case task is located: the model planner, the policy evaluator or the "
                               "adaptation floor (each against the folder's shared V*)")
_LOCAL = flags.DEFINE_float("local", None, "instead of the coverage table, the coverage link: per test task "
                            "in the region, across runs, the rank correlation of the share of a run's tasks "
                            "within this L-infinity distance of it and the run's gap there (> 0)")


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


def local_link(folder: str, lo: np.ndarray, hi: np.ndarray, radius: float, kind: str) -> list[dict]:
  """Per in-box test task inside [lo, hi] (2-D tasks), across every run of the folder with evaluator
  ``kind``: {"task": psi [2], "runs": n, "shares": [n] (each run's share of proposed tasks within
  L-infinity distance ``radius`` of the task), "gaps": [n] (its gap there against the shared V*), "rho",
  "p": Spearman's rank correlation of the two and its two-sided p (NaN when either is constant)}."""
  by_task = {}
  for group, entries in study_rows(folder)[2].items():
    for e in entries:
      gaps = (e.get(kind) or {}).get("gaps", {}).get("in_box")
      if not gaps:
        continue
      proposed = proposed_tasks(os.path.join(folder, f"{group}-s{e['seed']}", "metrics.csv"))
      for key, gap in gaps.items():
        psi = np.asarray([float(x) for x in key.split()])
        if np.all((psi >= lo - 1e-9) & (psi <= hi + 1e-9)):
          share = float(np.mean(np.max(np.abs(proposed - psi), axis=1) <= radius + 1e-9))
          by_task.setdefault(key, (psi, [], []))[1].append(share)
          by_task[key][2].append(gap)
  found = []
  for psi, shares, gaps in by_task.values():
    constant = len(set(shares)) < 2 or len(set(gaps)) < 2
    rho, p = (np.nan, np.nan) if constant else stats.spearmanr(shares, gaps)
    found.append({"task": psi, "runs": len(shares), "shares": np.asarray(shares), "gaps": np.asarray(gaps),
                  "rho": float(rho), "p": float(p)})
  return sorted(found, key=lambda r: tuple(r["task"]))


def print_local_link(folder: str, lo: np.ndarray, hi: np.ndarray, radius: float, kind: str, label: str) -> None:
  rows = local_link(folder, lo, hi, radius, kind)
  if not rows:
    fail(f"lo, hi: no in-box test task with a {label} gap inside [{lo.tolist()}, {hi.tolist()}] in {folder!r}")
  print(f"| test task | runs | share of a run's tasks within {radius:g} (median; max) | {label} gap there, runs "
        "below the median share (mean) | at or above it (mean) | Spearman rho (share, gap) | p |")
  print("|---|---|---|---|---|---|---|")
  for r in rows:
    median = np.median(r["shares"])
    below, above = r["gaps"][r["shares"] < median], r["gaps"][r["shares"] >= median]
    print(f"| ({', '.join(f'{x:.2f}' for x in r['task'])}) | {r['runs']} | {median:.3f}; {r['shares'].max():.3f} "
          f"| {np.mean(below) if below.size else float('nan'):.1f} | {np.mean(above):.1f} | {r['rho']:+.2f} "
          f"| {r['p']:.3f} |")


def main(argv):
  (folder,) = start(argv, positional=("the study folder",))
  lo, hi = region()
  label = {"planner": "model planner", "policy": "policy evaluator", "floor": "adaptation floor"}[_EVALUATOR.value]
  if _LOCAL.value is not None:
    if not _LOCAL.value > 0:
      fail(f"local: the radius must be a number > 0, got {_LOCAL.value}")
    if len(lo) != 2:
      fail(f"lo: --local reads 2-dimensional tasks, got {len(lo)} numbers")
    study_runs(folder, len(lo))   # (the folder's checks: runs, seeds, task dimension)
    print_local_link(folder, lo, hi, _LOCAL.value, _EVALUATOR.value, label)
    return
  by_group = {}
  for name, path, seed in study_runs(folder, len(lo)):
    by_group.setdefault(name[: -len(f"-s{seed}")], []).append((seed, *coverage(path, lo, hi)))
  worst = worst_tasks(folder, _EVALUATOR.value)
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
