"""The results table of a folder of runs, recomputed from their eval.csv files with a shared V*.

  python -m experiments.results_table runs/results

Every run directory (<root>/<run>/ with summary.json and eval.csv) contributes its per-task returns.
V* of a task (same set, same psi) is the best known return over the runs: the max of every run's
v_star column (the cached oracle, the zero action, the floor; one computation for all runs of a study)
and every return any run reached on it (policy evaluator at every budget, model planner, floor), as
SPEC section 5 asks. Then per method: worst-case, mean, CVaR-10% and OOD worst-case gap, as mean and
95 % t-interval half-width over seeds, for the policy evaluator (zero-shot) and, where it ran, the
model planner; and the adaptation floor beside them (the floor does not depend on the run: the mean of
the runs' floor columns, which agree when the floor came from one cache). A run directory without
eval.csv (written before it existed) is reported from its summary.json, against its own V*, marked *.
A run's row is its directory name without -s<seed> (the method, or a labelled variant such as
admrl_restart). Below the table: every method or variant against MB-Unif and MB-Gauss paired by seed
(mean difference, 95 % t-interval, paired t-test). ``study_figure`` draws the seed-mean gap maps with
the proposed tasks from the same files.

  python -m experiments.results_table --readme docs/runs                      # print the README section
  python -m experiments.results_table --write_readme=README.md docs/runs      # replace it in README.md

The README's "Results at a glance" (``results_readme.readme_section``): per study under the folder (docs/runs/<study>/
with run directories) the worst-case gap per method, policy evaluator and model planner, with the
seed-paired test against MB-Unif and the adaptation floor, sentences generated from those tests (below,
tied: the paired interval contains 0, above), and the study's seed-mean gap maps; --write_readme
replaces the lines from <!-- results-at-a-glance:start --> to <!-- results-at-a-glance:end -->.
A bad input (a folder that does not exist or holds no runs, an unreadable run file, a bad flag, a README
without the two markers) exits 2 with one line ``error: ...`` and writes nothing.
"""
import argparse
import csv
import glob
import json
import os
import sys

import numpy as np
from scipy import stats

from admrl_jax import tables
from admrl_jax.cli.common import fail

NAMES = {"admrl": "AdMRL", "unif": "MB-Unif", "gauss": "MB-Gauss", "gap_search": "Gap search", "random_walk": "Random walk", "plr": "PLR",
         "multitask": "Multi-task PPO", "maml": "MAML-TRPO", "pearl": "PEARL"}
BASELINES = ("unif", "gauss")
FIELDS = ["worst_case_gap", "mean_gap", "cvar10_gap", "ood_worst_case_gap"]
RETURN_COLUMNS = ("return", "floor_return", "planner_return")
HEADER = ("method", "seeds", "worst-case gap", "mean gap", "CVaR-10% gap", "OOD worst-case gap", "real steps",
          "wall time (s)")


def _float(x: str):
  return float(x) if x not in ("", None) else None


def _read_eval_csv(path: str) -> list[dict]:
  """eval.csv as dicts (numbers as floats, empty cells None); ValueError naming the file if it is not one."""
  with open(path) as fh:
    reader = csv.DictReader(fh)
    missing = sorted({"set", "budget", "psi"} - set(reader.fieldnames or ()))
    if missing:
      raise ValueError(f"{path}: no {missing[0]!r} column")
    try:
      return [{k: (v if k in ("set", "budget", "psi") else _float(v)) for k, v in r.items()} for r in reader]
    except (TypeError, ValueError) as e:
      raise ValueError(f"{path}: line {reader.line_num}: {e}") from None


def load_runs(root: str) -> list[dict]:
  """[{name, summary, rows (eval.csv as dicts, or None)}] of the run directories under root.
  A file that cannot be read as a run's raises ValueError naming it."""
  runs = []
  for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    run_dir = os.path.dirname(path)
    try:
      with open(path) as fh:
        summary = json.load(fh)
    except ValueError as e:
      raise ValueError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in ("method", "seed") if not isinstance(summary, dict) or k not in summary]
    if missing:
      raise ValueError(f"{path}: no {missing[0]!r} field")
    csv_path = os.path.join(run_dir, "eval.csv")
    rows = _read_eval_csv(csv_path) if os.path.exists(csv_path) else None
    runs.append({"name": os.path.basename(run_dir), "summary": summary, "rows": rows})
  return runs


def group(run: dict) -> str:
  """The row a run belongs to: its directory name without the -s<seed> suffix (the method, or a
  labelled variant of it such as admrl_raw), else the summary's method."""
  name, seed = run["name"], run["summary"].get("seed")
  suffix = f"-s{seed}"
  return name[: -len(suffix)] if seed is not None and name.endswith(suffix) else run["summary"]["method"]


def shared_v_star(runs: list[dict]) -> dict:
  """(set, psi) -> the best known return over every run's v_star and every return it reached."""
  best = {}
  for run in runs:
    for r in run["rows"] or ():
      values = [r[c] for c in ("v_star",) + RETURN_COLUMNS if r.get(c) is not None]
      key = (r["set"], r["psi"])
      best[key] = max([best.get(key, -np.inf)] + values)
  return best


def _summary(gaps_by_set: dict) -> dict:
  gaps = np.asarray(gaps_by_set["in_box"])
  n_tail = max(1, int(np.ceil(0.1 * gaps.size)))
  ood = gaps_by_set.get("ood")
  return {"worst_case_gap": float(gaps.max()), "mean_gap": float(gaps.mean()),
          "cvar10_gap": float(np.sort(gaps)[-n_tail:].mean()),
          "ood_worst_case_gap": float(np.max(ood)) if ood else float("nan")}


def recompute(run: dict, v_star: dict, column: str = "return", budget: str = "zero_shot") -> dict | None:
  """A run's gap summary of ``column`` (return, planner_return, floor_return) at ``budget`` against the
  shared V*, with the per-task gaps ({set: {psi: gap}}); None where the run has no such column."""
  per_set = {}
  for r in run["rows"]:
    if r["budget"] == budget and r.get(column) is not None:
      per_set.setdefault(r["set"], {})[r["psi"]] = v_star[(r["set"], r["psi"])] - r[column]
  if "in_box" not in per_set:
    return None
  return {**_summary({s: list(g.values()) for s, g in per_set.items()}), "gaps": per_set}


def t_half(values) -> float:
  """The half-width of the 95 % t-interval of the mean of ``values`` (0 for fewer than 2)."""
  v = np.asarray(values, np.float64)
  return float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def _interval(values: list[float]) -> str:
  """mean ± the half-width of the 95 % t-interval over seeds (the mean alone for one seed)."""
  v = np.asarray(values, np.float64)
  return f"{v.mean():.1f}" if v.size < 2 else f"{v.mean():.1f} ± {t_half(v):.1f}"


def method_rows(runs: list[dict], v_star: dict) -> dict:
  """group -> one entry per run: seed, real steps, wall time and the gap summaries of the policy
  evaluator, the model planner and the floor (a run without eval.csv: its summary.json, own V*)."""
  rows = {}
  for run in runs:
    s = run["summary"]
    entry = {"seed": s["seed"], "steps": s.get("real_env_steps"), "wall": s.get("wall_time_s")}
    if run["rows"] is None:
      entry.update(policy={f: s[f] for f in FIELDS}, own_v_star=True)
    else:
      entry.update(policy=recompute(run, v_star), planner=recompute(run, v_star, "planner_return"),
                   floor=recompute(run, v_star, "floor_return"), own_v_star=False)
    rows.setdefault(group(run), []).append(entry)
  return rows


def ordered(groups) -> list[str]:
  """The methods in NAMES' order, then any other group (a labelled variant) by name."""
  return [m for m in NAMES if m in groups] + sorted(set(groups) - set(NAMES))


def table(root: str) -> str:
  """Markdown: per method (policy evaluator, then model planner) mean ± 95 % t half-width over seeds,
  the adaptation floor, then the per-seed numbers."""
  runs = load_runs(root)
  v_star = shared_v_star(runs)
  rows = method_rows(runs, v_star)
  cells = []
  for method in ordered(rows):
    for kind in ("policy", "planner"):
      runs_m = [r for r in rows.get(method, []) if r.get(kind)]
      if not runs_m:
        continue
      label = NAMES.get(method, method) + (" (model planner)" if kind == "planner" else "")
      label += " *" if any(r["own_v_star"] for r in runs_m) else ""
      gaps = [_interval([r[kind][f] for r in runs_m]) for f in FIELDS]
      steps = [r["steps"] for r in runs_m if r["steps"] is not None]
      wall = [r["wall"] for r in runs_m if r["wall"] is not None]
      cells.append([label, len(runs_m), *gaps, int(np.mean(steps)) if steps else "",
                    f"{np.mean(wall):.0f}" if wall else ""])
  notes = []
  if any(r.get("floor") for runs_m in rows.values() for r in runs_m):
    floor = _floor(runs, v_star)
    cells.append(["adaptation floor (the same adaptation on the true dynamics)", "-",
                  *(f"{floor[f]:.1f}" for f in FIELDS), "-", "-"])
    std = [r["floor_std"] for run in runs for r in run["rows"] or () if r["set"] == "in_box"
           and r["budget"] == "zero_shot" and r.get("floor_std") is not None]
    if std:
      notes = ["", f"The floor's seed-to-seed std per in-box task: mean {np.mean(std):.1f}, max {np.max(std):.1f}; "
               "differences between methods smaller than the floor's spread are noise."]
  lines = [tables.markdown(HEADER, cells).rstrip("\n"), *notes]
  own = any(r["own_v_star"] for runs_m in rows.values() for r in runs_m)
  lines += ["", "Gaps against the best known return of each task over all runs here (SPEC section 5); mean ± "
            "half-width of the 95 % t-interval over seeds." + (" *: from summary.json (no eval.csv), against the "
                                                               "run's own V*." if own else ""),
            "", "Per seed (worst-case / mean / CVaR-10% / OOD worst-case gap):", ""]
  for method, runs_m in rows.items():
    per = ", ".join(f"s{r['seed']}: " + " / ".join(f"{r['policy'][f]:.1f}" for f in FIELDS)
                    for r in sorted(runs_m, key=lambda r: r["seed"]) if r["policy"])
    lines.append(f"- {NAMES.get(method, method)}: {per}")
  few = few_shot_table(runs, v_star)
  if few:
    lines += ["", few.rstrip("\n")]
  paired = paired_table(rows)
  if paired:
    lines += ["", "Paired by seed (method minus baseline, seeds both ran; negative: the method's gap is lower): "
              "mean difference ± half-width of its 95 % t-interval, and the two-sided paired t-test's p. An "
              "interval that contains 0 is a tie.", "", paired.rstrip("\n")]
  return "\n".join(lines) + "\n"


def few_shot_table(runs: list[dict], v_star: dict) -> str:
  """Markdown: the test-time worst-case and mean gap per method and budget (zero-shot, then each few-shot
  budget in real samples of the test task), mean ± 95 % t half-width over seeds, for the policy evaluator
  and, where it ran through the refit models, the model planner; "" without few-shot rows."""
  budgets = sorted({r["budget"] for run in runs for r in run["rows"] or () if r["budget"].startswith("few_shot_")},
                   key=lambda b: int(b.rsplit("_", 1)[1]))
  if not budgets:
    return ""
  cells = []
  for name in ordered({group(r) for r in runs}):
    mine = [r for r in runs if group(r) == name and r["rows"]]
    for column, label in (("return", ""), ("planner_return", " (model planner)")):
      found = {b: [g for g in (recompute(r, v_star, column, b) for r in mine) if g] for b in ["zero_shot"] + budgets}
      if not any(found[b] for b in (budgets if column == "planner_return" else found)):
        continue   # the planner's row only where it ran through refit models
      cells.append([NAMES.get(name, name) + label] + [
          f"{_interval([g['worst_case_gap'] for g in found[b]])} / {_interval([g['mean_gap'] for g in found[b]])}"
          if found[b] else "-" for b in ["zero_shot"] + budgets])
  head = ["method"] + [f"{'0' if b == 'zero_shot' else b.rsplit('_', 1)[1]} real samples" for b in ["zero_shot"] + budgets]
  return ("Test-time gap (worst case / mean, in-box) after real samples of each test task (mean ± 95 % t over "
          "seeds; '-': the method was not evaluated at that budget; the model planner's through the model refit "
          "on those samples):\n\n" + tables.markdown(head, cells))


def paired_differences(a: dict, b: dict) -> dict | None:
  """Seed-paired differences a - b of every gap field: {field: (mean, 95 % half-width, p, n)}; a, b:
  {seed: {field: value}}. None with fewer than 2 common seeds."""
  seeds = sorted(set(a) & set(b))
  if len(seeds) < 2:
    return None
  out = {}
  for f in FIELDS:
    d = np.asarray([a[s][f] - b[s][f] for s in seeds], np.float64)
    if d.std() > 0:
      p = float(stats.ttest_rel([a[s][f] for s in seeds], [b[s][f] for s in seeds]).pvalue)
    else:   # every seed the same difference: certain, unless it is 0
      p = 1.0 if d.mean() == 0 else 0.0
    out[f] = (float(d.mean()), t_half(d), p, d.size)
  return out


def paired(rows: dict, method: str, base: str, kind: str) -> dict | None:
  """``paired_differences`` of ``method`` minus ``base`` (groups of ``method_rows``) for one evaluator
  (``policy`` or ``planner``), over the seeds both ran it; None with fewer than 2."""
  per = {name: {r["seed"]: r[kind] for r in rows.get(name, []) if r.get(kind) is not None} for name in (method, base)}
  return paired_differences(per[method], per[base])


def difference(mean: float, half: float, p: float) -> str:
  """A paired difference as the tables write it: +mean ± half-width (p)."""
  return f"{mean:+.1f} ± {half:.1f} (p {p:.2f})"


def verdict(mean: float, half: float) -> str:
  """below / above / tied: where the 95 % interval mean ± half of a paired difference lies against 0."""
  return "below" if mean + half < 0 else "above" if mean - half > 0 else "tied"


def paired_table(rows: dict) -> str:
  """Markdown: every non-baseline method against each baseline, paired by seed, for the policy evaluator
  and (where both ran it) the model planner."""
  cells = []
  for method in sorted(set(rows) - set(BASELINES), key=lambda m: (m not in NAMES, m)):
    for base in BASELINES:
      for kind in ("policy", "planner"):
        diff = paired(rows, method, base, kind)
        if diff is None:
          continue
        label = f"{NAMES.get(method, method)} - {NAMES.get(base, base)}" + (" (model planner)" if kind == "planner"
                                                                           else "")
        cells.append([label, diff[FIELDS[0]][3], *(difference(*diff[f][:3]) for f in FIELDS)])
  if not cells:
    return ""
  return tables.markdown(("comparison", "seeds", "worst-case gap", "mean gap", "CVaR-10% gap", "OOD worst-case gap"),
                         cells)


def _floor(runs: list[dict], v_star: dict) -> dict:
  """The floor's gap summary: per task the mean of the runs' floor_return columns, against V*."""
  per_task = {}
  for run in runs:
    for r in run["rows"] or ():
      if r["budget"] == "zero_shot" and r.get("floor_return") is not None:
        per_task.setdefault((r["set"], r["psi"]), []).append(r["floor_return"])
  gaps = {}
  for (s, psi), values in per_task.items():
    gaps.setdefault(s, []).append(v_star[(s, psi)] - float(np.mean(values)))
  return _summary(gaps)


def study_figure(root: str, path: str, column: str = "return", label: str = "policy evaluator") -> bool:
  """Heat maps of a study's in-box gaps against the shared V*: per method the mean over seeds of
  ``column`` with every seed's proposed tasks (metrics.csv) on top, then the adaptation floor. Only
  for 2-D task boxes; False (nothing written) otherwise or without eval.csv files."""
  from admrl_jax import plots   # matplotlib only where a figure is drawn

  runs = [r for r in load_runs(root) if r["rows"]]
  if not runs:
    return False
  v_star = shared_v_star(runs)
  grid = sorted({r["psi"] for run in runs for r in run["rows"] if r["set"] == "in_box"},
                key=lambda p: tuple(float(x) for x in p.split()))
  psi = np.asarray([[float(x) for x in p.split()] for p in grid])
  if psi.shape[1] != 2 or len(grid) != len(np.unique(psi[:, 0])) * len(np.unique(psi[:, 1])):
    return False
  maps, paths = {}, {}
  order = list(NAMES) + sorted({group(r) for r in runs} - set(NAMES))
  for method in order:
    mine = [r for r in runs if group(r) == method]
    per_seed = [recompute(r, v_star, column) for r in mine]
    per_seed = [p["gaps"]["in_box"] for p in per_seed if p]
    if not per_seed:
      continue
    name = NAMES.get(method, method)
    maps[name] = np.mean([[p[g] for g in grid] for p in per_seed], axis=0)
    paths[name] = [_proposed_tasks(os.path.join(root, r["name"], "metrics.csv")) for r in mine]
  # beside the policy evaluator, the same adaptation on the true dynamics (the planner's floor is V* itself)
  floor = [recompute(r, v_star, "floor_return") for r in runs] if column == "return" else []
  floor = [f["gaps"]["in_box"] for f in floor if f]
  if floor:
    maps["adaptation floor"] = np.mean([[f[g] for g in grid] for f in floor], axis=0)
  if not maps:
    return False
  plots.study_gap_maps(path, maps, psi, paths, f"{os.path.basename(os.path.normpath(root))}: {label} gap, "
                                                 f"mean over seeds; dots: proposed tasks")
  return True




def checkpoint_points(root: str) -> list[dict]:
  """Every evaluated model of a study: per published run its kept checkpoints
  (<run>/checkpoints/iteration_<i>/: eval.csv, checkpoint.json) and its final evaluation ->
  [{group, seed, iteration, steps, rows}]."""
  points = []
  for run in load_runs(root):
    if not run["rows"]:
      continue
    s = run["summary"]
    base = {"group": group(run), "seed": s["seed"]}
    points.append({**base, "iteration": s["iterations"], "steps": s["real_env_steps"], "rows": run["rows"]})
    for info in glob.glob(os.path.join(root, run["name"], "checkpoints", "iteration_*", "checkpoint.json")):
      with open(info) as fh:
        meta = json.load(fh)
      rows = _read_eval_csv(os.path.join(os.path.dirname(info), "eval.csv"))
      points.append({**base, "iteration": meta["iteration"], "steps": meta["real_env_steps"], "rows": rows})
  return points


def gap_vs_samples(root: str, path: str | None = None) -> str:
  """Markdown (and, given ``path``, a figure): per method and evaluated iteration, the worst-case gap
  (policy evaluator; model planner where it ran) mean ± 95 % t half-width over seeds, against the real
  samples used in training. V* is the best known return over every evaluated model of the study
  (checkpoints included), so it can sit above the final-model table's."""
  points = checkpoint_points(root)
  if not points:
    return "No evaluated models.\n"
  v_star = shared_v_star([{"rows": p["rows"]} for p in points])
  series = {}   # (kind, group) -> {iteration: [(steps, worst gap)]}
  for p in points:
    for kind, column in (("policy", "return"), ("planner", "planner_return")):
      gaps = recompute({"rows": p["rows"]}, v_star, column)
      if gaps:
        series.setdefault((kind, p["group"]), {}).setdefault(p["iteration"], []).append(
            (p["steps"], gaps["worst_case_gap"]))
  cells, curves = [], {}
  order = lambda key: (key[0] != "policy", list(NAMES).index(key[1]) if key[1] in NAMES else len(NAMES), key[1])
  for kind, name in sorted(series, key=order):
    label = NAMES.get(name, name) + (" (model planner)" if kind == "planner" else "")
    xs, means, halves = [], [], []
    for iteration, values in sorted(series[(kind, name)].items()):
      steps, gaps = np.asarray(values, np.float64).T
      half = t_half(gaps)
      cells.append([label, iteration, int(steps.mean()), gaps.size, _interval(list(gaps))])
      xs.append(steps.mean()), means.append(gaps.mean()), halves.append(half)
    curves.setdefault(kind, {})[label] = (np.asarray(xs), np.asarray(means), np.asarray(halves))
  ratios = sample_ratios(curves.get("policy", {}))
  if path:
    from admrl_jax import plots
    plots.gap_vs_samples_bands(path, curves, f"{os.path.basename(os.path.normpath(root))}: worst-case gap against "
                                             "real training samples (mean ± 95 % t over seeds)")
  return ("Worst-case gap against real training samples: every evaluated model (kept checkpoints and the "
          "final one), mean ± 95 % t half-width over seeds, against the best known return over all of them.\n\n"
          + tables.markdown(("method", "iteration", "real steps (mean)", "seeds", "worst-case gap"), cells)
          + ("\n" + ratios if ratios else ""))


def sample_ratios(curves: dict, reference: str = "AdMRL") -> str:
  """Markdown: for each other method of ``curves`` (label -> (steps, mean worst gap, half-width)), the real
  samples at its first evaluated model whose mean worst-case gap is at most the reference's at its last
  model, as a ratio to the reference's samples; else the gap it reached with its most samples."""
  if reference not in curves:
    return ""
  ref_steps, ref_gap = curves[reference][0][-1], curves[reference][1][-1]
  cells = []
  for label, (steps, mean, _) in curves.items():
    if label == reference:
      continue
    hit = np.flatnonzero(mean <= ref_gap)
    cells.append([label, f"{steps[hit[0]] / ref_steps:.2f}x ({int(steps[hit[0]])} steps)" if hit.size else
                  f"never: {mean[-1]:.1f} at {steps[-1] / ref_steps:.1f}x ({int(steps[-1])} steps)"])
  return (f"Real samples to reach {reference}'s zero-shot worst-case gap ({ref_gap:.1f} at {int(ref_steps)} steps), "
          f"as a ratio to {reference}'s samples (policy evaluator, seed means):\n\n"
          + tables.markdown(("method", "samples to reach it"), cells))


def _proposed_tasks(metrics_csv: str) -> np.ndarray:
  """The tasks a run trained on, [N * K, 2], from the psi/<task>/<coordinate> columns of metrics.csv."""
  if not os.path.exists(metrics_csv):
    return np.zeros((0, 2))
  with open(metrics_csv) as fh:
    rows = list(csv.DictReader(fh))
  tasks = sorted({c.split("/")[1] for c in rows[0] if c.startswith("psi/")}) if rows else []
  return np.asarray([[float(r[f"psi/{t}/0"]), float(r[f"psi/{t}/1"])] for r in rows for t in tasks]).reshape(-1, 2)


class _Parser(argparse.ArgumentParser):
  def error(self, message):   # one line, exit 2
    fail(message)


def _checked_folder(path: str, what: str) -> str:
  if not os.path.exists(path):
    fail(f"{what}: no such folder {path!r}" + ("" if os.path.isabs(path) else f" (from {os.getcwd()})"))
  if not os.path.isdir(path):
    fail(f"{what}: {path!r} is a file, not a folder")
  return path


def _checked_runs(folder: str) -> None:
  """Exit 2 unless every run directory under folder reads as one."""
  try:
    load_runs(folder)
  except ValueError as e:
    fail(str(e))


def main(argv: list[str]) -> None:
  """The results table of a folder of runs; with --readme / --write_readme the README section of a
  folder of studies instead. Every bad input exits 2 with one ``error:`` line."""
  from admrl_jax.cli.results_readme import (README_END, README_START, readme_section,  # it imports this module
                                            replace_readme_section, studies)
  parser = _Parser(prog="admrl-results-table", allow_abbrev=False, description=main.__doc__)
  parser.add_argument("folder", nargs="?", help="a folder of run directories (with --readme: of studies; "
                                                "default docs/runs)")
  parser.add_argument("--readme", action="store_true", help="print the README section \"Results at a glance\"")
  parser.add_argument("--write_readme", metavar="README", help="replace that section in this README, between "
                                                               f"{README_START} and {README_END}")
  args = parser.parse_args(argv)
  if not (args.readme or args.write_readme is not None):
    if args.folder is None:
      fail("folder: needs a folder of run directories (usage: admrl-results-table <folder>, or --readme)")
    folder = _checked_folder(args.folder, "folder")
    if not glob.glob(os.path.join(folder, "*", "summary.json")):
      fail(f"folder: no run directories (<run>/summary.json) in {folder!r}"
           + ("; it holds studies: use --readme" if studies(folder) else ""))
    _checked_runs(folder)
    print(table(folder), end="")
    return
  root = _checked_folder(args.folder or os.path.join("docs", "runs"), "folder")
  found = studies(root)
  if not found:
    fail(f"folder: no studies (<study>/<run>/summary.json) in {root!r}")
  for study in found:
    _checked_runs(study)
  readme = args.write_readme
  if readme is not None and not os.path.isfile(readme):
    fail(f"write_readme: no such file {readme!r}" if not os.path.exists(readme) else
         f"write_readme: {readme!r} is not a file")
  section = readme_section(root, os.path.dirname(os.path.abspath(readme or "README.md")))
  if readme is not None:
    with open(readme) as fh:
      text = replace_readme_section(fh.read(), section)
    if text is None:
      fail(f"write_readme: {readme!r} needs the lines {README_START} and {README_END}, once each, in that order")
    with open(readme, "w") as fh:
      fh.write(text)
  if args.readme:
    print(section, end="")
  else:
    print(f"wrote the section \"Results at a glance\" of {readme} from {len(found)} studies under {root}")


def run():
  """Console-script entry point (admrl-results-table)."""
  main(sys.argv[1:])


if __name__ == "__main__":
  run()
