"""Aggregate the summary.json files of a folder of runs into the markdown table of docs/results.md.

python -m experiments.results_table runs/results
"""
import glob
import json
import os
import sys

import numpy as np

NAMES = {"admrl": "AdMRL", "unif": "MB-Unif", "gauss": "MB-Gauss"}
FIELDS = ["worst_case_gap", "mean_gap", "cvar10_gap", "ood_worst_case_gap"]


def table(root: str) -> str:
  """Mean ± std over seeds per method, then the per-seed numbers, as markdown."""
  rows = {}
  for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    with open(path) as fh:
      s = json.load(fh)
    rows.setdefault(s["method"], []).append(s)
  lines = ["| method | seeds | worst-case gap | mean gap | CVaR-10% gap | OOD worst-case gap | real steps | wall time (s) |",
           "|---|---|---|---|---|---|---|---|"]
  for method in NAMES:
    if method not in rows:
      continue
    runs = rows[method]
    cells = [f"{np.mean([r[f] for r in runs]):.1f} ± {np.std([r[f] for r in runs]):.1f}" for f in FIELDS]
    steps = int(np.mean([r["real_env_steps"] for r in runs]))
    wall = np.mean([r["wall_time_s"] for r in runs])
    lines.append(f"| {NAMES[method]} | {len(runs)} | " + " | ".join(cells) + f" | {steps} | {wall:.0f} |")
  lines += ["", "Per seed (worst-case / mean / CVaR-10% / OOD worst-case gap):", ""]
  for method, runs in rows.items():
    per = ", ".join(f"s{r['seed']}: " + " / ".join(f"{r[f]:.1f}" for f in FIELDS)
                    for r in sorted(runs, key=lambda r: r["seed"]))
    lines.append(f"- {NAMES[method]}: {per}")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  print(table(sys.argv[1]), end="")
