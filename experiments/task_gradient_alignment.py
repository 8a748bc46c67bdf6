"""The gradient-direction link of a study, from its published files alone: does the adversary's task gradient
point up the gap landscape that the study measured?

For each run of the named rows with a task gradient in its metrics.csv, and each of its evaluated models
(the kept checkpoints' eval.csv and the final one; iteration i), the measured gap map M_i over the in-box
grid (the chosen evaluator against the folder's shared V*) is interpolated bilinearly, and at each of the
next --window iterations j = i+1 .. i+window (j = i alone for the final model) the logged task gradient at
psi_j is compared with the map's gradient there: cosine in the box's unit coordinates (the ascent's own).
A gradient that ascends the gap points up M_i more often than not; a direction that carries no
information about it does so half the time. Printed per run and pooled: the share of positive cosines
with its two-sided binomial p against 1/2, and the mean cosine with its 95 % t-interval.

  python -m experiments.task_gradient_alignment docs/runs/hopper_2d_n100 --rows=admrl,admrl_mix \\
      [--evaluator=policy] [--window=5]

The maps are noisy (one evaluation: docs/runs/hopper_2d_n100/evaluation_noise) and stale by up to
--window iterations; the logged gradient is the run's own estimate at the model of iteration j.
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
  by_run, pooled = {}, {}
  for p in sorted(checkpoint_points(mine), key=lambda p: (p["group"], p["seed"], p["iteration"])):
    name = f"{p['group']}-s{p['seed']}"
    grads = logged[name]
    cells = [r for r in p["rows"] if r["set"] == "in_box" and r["budget"] == "zero_shot" and r.get(column) is not None]
    if not cells:
      fail(f"evaluator: {name}'s evaluation at iteration {p['iteration']} has no {column!r} column")
    centers = np.asarray([[float(x) for x in r["psi"].split()] for r in cells])
    if centers.shape[1] != 2:
      fail(f"study folder: its tasks have {centers.shape[1]} coordinates; this reads 2-D grids")
    gaps = np.asarray([v_star[("in_box", r["psi"])] - r[column] for r in cells])
    unit = (centers.max(axis=0) - centers.min(axis=0)) / 2          # d psi / d w: the grid spans the box
    final = p["iteration"] == max(grads)
    for j in ([p["iteration"]] if final else range(p["iteration"] + 1, p["iteration"] + _WINDOW.value + 1)):
      for psi, g in grads.get(j, ()):
        up = grid_gradient(centers, gaps, psi) * unit
        g = g * unit
        if np.linalg.norm(g) > 0 and np.linalg.norm(up) > 0 and np.all(np.isfinite(g)):
          cos = float(g @ up / (np.linalg.norm(g) * np.linalg.norm(up)))
          by_run.setdefault((p["group"], name), []).append(cos)
          pooled.setdefault(p["group"], []).append(cos)

  def row(label: str, cosines: list[float]) -> str:
    c = np.asarray(cosines)
    positive = int(np.sum(c > 0))
    p = stats.binomtest(positive, c.size, 0.5).pvalue
    return (f"| {label} | {c.size} | {positive / c.size:.2f} (p {p:.3f}) | {c.mean():+.2f} ± {t_half(c):.2f} |")

  print(f"| run | comparisons | share of gradients pointing up the measured {_EVALUATOR.value} gap map (binomial "
        "p against 1/2) | mean cosine ± 95 % t |")
  print("|---|---|---|---|")
  for (g, name), cosines in by_run.items():
    print(row(name, cosines))
  for g, cosines in pooled.items():
    print(row(f"**{NAMES.get(g, g)}, pooled**", cosines))


if __name__ == "__main__":
  run(main)
