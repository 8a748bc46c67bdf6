"""Aggregate summary.json files into the markdown results table of docs/results.md.

python -m experiments.results_table runs/results
"""
import glob
import json
import os
import sys

import numpy as np


def main(root: str) -> None:
  rows = {}
  for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    with open(path) as fh:
      s = json.load(fh)
    rows.setdefault(s["method"], []).append(s)
  names = {"admrl": "AdMRL", "unif": "MB-Unif", "gauss": "MB-Gauss"}
  fields = ["worst_case_gap", "mean_gap", "cvar10_gap", "ood_worst_case_gap"]
  print("| method | seeds | worst-case gap | mean gap | CVaR-10% gap | OOD worst-case gap | real steps | wall time (s) |")
  print("|---|---|---|---|---|---|---|---|")
  for method in ("admrl", "unif", "gauss"):
    if method not in rows:
      continue
    runs = rows[method]
    cells = []
    for f in fields:
      v = np.array([r[f] for r in runs])
      cells.append(f"{v.mean():.1f} ± {v.std():.1f}")
    steps = int(np.mean([r["real_env_steps"] for r in runs]))
    wall = np.mean([r["wall_time_s"] for r in runs])
    print(f"| {names[method]} | {len(runs)} | " + " | ".join(cells) + f" | {steps} | {wall:.0f} |")
  print()
  print("Per seed (worst-case / mean / CVaR-10% gap):")
  print()
  for method, runs in rows.items():
    per = ", ".join(f"s{r['seed']}: {r['worst_case_gap']:.1f} / {r['mean_gap']:.1f} / {r['cvar10_gap']:.1f}"
                    for r in sorted(runs, key=lambda r: r["seed"]))
    print(f"- {names[method]}: {per}")


if __name__ == "__main__":
  main(sys.argv[1])
