"""The gradient-direction link of a study, from its published files alone: does the adversary's task gradient
point up the gap landscape that the study measured?

For each run of the named rows with a task gradient in its metrics.csv, and each of its evaluated kept
checkpoints (iteration i: the model after i iterations; the final model is not used, no gradient comes
after it), the measured gap map M_i over the in-box grid (the chosen evaluator against the folder's shared
V*) is interpolated bilinearly, and at each of the next --window iterations j = i+1 .. i+window (and
before the next evaluated model) the logged task gradient at psi_j is compared with the map's gradient
there: cosine in the box's unit coordinates (the ascent's own). A gradient that ascends the gap points up
M_i more often than not; a direction that carries no information about it does so half the time. The
comparisons of one map share it and lie close together, so the unit of the test is the (run, map): its
mean cosine. Printed per (run, map) and pooled per row: how many units have a positive mean cosine (the
two-sided binomial p against 1/2), the units' mean cosine with its 95 % t-interval, and the share of all
comparisons that are positive (descriptive).

  python -m experiments.task_gradient_alignment docs/runs/hopper_2d_n100 --rows=admrl,admrl_mix \\
      [--evaluator=policy] [--window=5]

The maps are noisy (one evaluation: docs/runs/hopper_2d_n100/evaluation_noise) and stale by up to
--window iterations; the gradient logged at iteration j is the run's own estimate with iteration j's
warm-up model (the model after j - 1, warmed up on psi_j).
"""
import os

import numpy as np
from absl import flags
from scipy import stats

from admrl_jax.cli.common import fail, run, start
from admrl_jax.study_results import (NAMES, checkpoint_points, grid_gradient, group, load_runs, logged_gradients,
                                     shared_v_star, t_half)

_ROWS = flags.DEFINE_list("rows", ["admrl"], "the rows (run names without -s<seed>) whose runs are read")
_EVALUATOR = flags.DEFINE_enum("evaluator", "policy", ["policy", "planner"],
                               "whose gap map: the policy evaluator (the gap the adversary estimates) or the "
                               "model planner")
_WINDOW = flags.DEFINE_integer("window", 5, "iterations after each evaluated model whose gradients are compared")

COLUMN = {"policy": "return", "planner": "planner_return"}


def main(argv):
  (folder,) = start(argv, positional=("the study folder",))
  if not os.path.isdir(folder):
    fail(f"study folder: no such folder {folder!r}")
  if _WINDOW.value < 1:
    fail(f"window: must be a positive integer, got {_WINDOW.value}")
  try:
    runs = load_runs(folder)
  except ValueError as err:
    fail(f"study folder: {err}")
  v_star = shared_v_star(runs)
  mine = [r for r in runs if group(r) in _ROWS.value and r["rows"]]
  if not mine:
    fail(f"rows: no evaluated run of {_ROWS.value} in {folder!r}")
  logged = {}
  for r in mine:
    logged[r["name"]] = logged_gradients(os.path.join(folder, r["name"], "metrics.csv"))
    if not logged[r["name"]]:
      fail(f"rows: {r['name']} logged no task gradient (metrics.csv has no task_gradient columns)")
    if "iterations" not in r["summary"]:
      fail(f"study folder: {os.path.join(folder, r['name'], 'summary.json')!r} has no 'iterations' field")
  column = COLUMN[_EVALUATOR.value]
  units, pooled = {}, {}
  points = sorted(checkpoint_points(mine), key=lambda p: (p["group"], p["seed"], p["iteration"]))
  for p in points:
    name = f"{p['group']}-s{p['seed']}"
    grads = logged[name]
    if p["iteration"] >= max(grads):
      continue                                  # the final model: no gradient was computed after it
    cells = [r for r in p["rows"] if r["set"] == "in_box" and r["budget"] == "zero_shot" and r.get(column) is not None]
    if not cells:
      fail(f"evaluator: {name}'s evaluation at iteration {p['iteration']} has no {column!r} column")
    centers = np.asarray([[float(x) for x in r["psi"].split()] for r in cells])
    if centers.shape[1] != 2:
      fail(f"study folder: its tasks have {centers.shape[1]} coordinates; this reads 2-D grids")
    gaps = np.asarray([v_star[("in_box", r["psi"])] - r[column] for r in cells])
    unit = (centers.max(axis=0) - centers.min(axis=0)) / 2          # d psi / d w: the grid spans the box
    later = [q["iteration"] for q in points if f"{q['group']}-s{q['seed']}" == name and q["iteration"] > p["iteration"]]
    last = min([p["iteration"] + _WINDOW.value] + later)
    cosines = []
    for j in range(p["iteration"] + 1, last + 1):
      for psi, g in grads.get(j, ()):
        up, g = grid_gradient(centers, gaps, psi) * unit, g * unit
        if np.linalg.norm(g) > 0 and np.linalg.norm(up) > 0 and np.all(np.isfinite(g)):
          cosines.append(float(g @ up / (np.linalg.norm(g) * np.linalg.norm(up))))
    if cosines:
      units[(name, p["iteration"], last)] = cosines
      pooled.setdefault(p["group"], []).append(cosines)
  if not units:
    fail(f"rows: no evaluated kept checkpoint of {_ROWS.value} with task gradients after it in {folder!r}")

  print(f"| run | map (iteration) | gradients compared (iterations) | mean cosine with the measured {_EVALUATOR.value} "
        "gap map's slope | share positive |")
  print("|---|---|---|---|---|")
  for (name, i, last), c in units.items():
    print(f"| {name} | {i} | {len(c)} ({i + 1}-{last}) | {np.mean(c):+.2f} | {np.mean(np.asarray(c) > 0):.2f} |")
  print()
  print("| row | (run, map) units with a positive mean cosine (binomial p against 1/2) | their mean cosine ± 95 % t "
        "| share of all comparisons positive |")
  print("|---|---|---|---|")
  for g, lists in pooled.items():
    means = np.asarray([np.mean(c) for c in lists])
    positive = int(np.sum(means > 0))
    p = stats.binomtest(positive, means.size, 0.5).pvalue
    every = np.concatenate([np.asarray(c) for c in lists])
    print(f"| {NAMES.get(g, g)} | {positive} / {means.size} (p {p:.3f}) | {means.mean():+.2f} ± {t_half(means):.2f} "
          f"| {np.mean(every > 0):.2f} of {every.size} |")


if __name__ == "__main__":
  run(main)
