"""A study folder read back: its runs (summary.json, eval.csv, and the eval.csv of every evaluated kept
checkpoint), the shared V* (the best return any run of the folder reached on each task, checkpoint
evaluations included, SPEC section 5: one V* for every table of the folder), every gap recomputed
against it, seed statistics (95 % t-intervals) and seed-paired tests (between model-based methods only;
a model-free baseline is compared unpaired). No rendering: ``cli.results_table`` writes the tables and
figures, ``cli.results_readme`` the README's section, ``cli.oracle_winners`` reads the runs' returns;
the selection rules of issue 27's protocol that read these rows are in ``study_selection``.
"""
import csv
import glob
import json
import os

import numpy as np
from scipy import stats

NAMES = {"admrl": "AdMRL", "unif": "MB-Unif", "gauss": "MB-Gauss", "gap_search": "Gap search", "random_walk": "Random walk", "plr": "PLR",
         "multitask": "Multi-task PPO", "maml": "MAML-TRPO", "pearl": "PEARL"}
BASELINES = ("unif", "gauss")
FIELDS = ["worst_case_gap", "mean_gap", "cvar10_gap", "ood_worst_case_gap"]
RETURN_COLUMNS = ("return", "floor_return", "planner_return")


def _float(x: str):
  return float(x) if x not in ("", None) else None


def read_eval_csv(path: str) -> list[dict]:
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
  """[{name, summary, rows (eval.csv as dicts, or None), checkpoints}] of the run directories under root;
  checkpoints: the run's evaluated kept checkpoints (<run>/checkpoints/iteration_<i>/: checkpoint.json,
  eval.csv) as [{iteration, steps, rows}], by iteration. A file that cannot be read as a run's raises
  ValueError naming it, and so does an evaluation whose task set differs from the folder's
  (``check_task_sets``)."""
  runs = []
  for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    run_dir = os.path.dirname(path)
    summary = _read_json(path)
    missing = [k for k in ("method", "seed") if not isinstance(summary, dict) or k not in summary]
    if missing:
      raise ValueError(f"{path}: no {missing[0]!r} field")
    csv_path = os.path.join(run_dir, "eval.csv")
    rows = read_eval_csv(csv_path) if os.path.exists(csv_path) else None
    checkpoints = []
    for info in glob.glob(os.path.join(run_dir, "checkpoints", "iteration_*", "checkpoint.json")):
      if not os.path.exists(os.path.join(os.path.dirname(info), "eval.csv")):
        continue   # a point being published (study_curves writes eval.csv last): not evaluated yet
      meta = _read_json(info)
      missing = [k for k in ("iteration", "real_env_steps") if not isinstance(meta, dict) or k not in meta]
      if missing:
        raise ValueError(f"{info}: no {missing[0]!r} field")
      checkpoints.append({"iteration": meta["iteration"], "steps": meta["real_env_steps"],
                          "rows": read_eval_csv(os.path.join(os.path.dirname(info), "eval.csv"))})
    runs.append({"name": os.path.basename(run_dir), "summary": summary, "rows": rows,
                 "checkpoints": sorted(checkpoints, key=lambda c: c["iteration"])})
  check_task_sets(root, runs)
  return runs


def _read_json(path: str):
  try:
    with open(path) as fh:
      return json.load(fh)
  except ValueError as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from None


def evaluations(run: dict) -> list[tuple[str, list[dict]]]:
  """A run's evaluations as (where: its eval.csv's path relative to the folder, rows): the final model's
  (where it has eval.csv), then each evaluated kept checkpoint's."""
  name = run.get("name", "")
  found = [(os.path.join(name, "eval.csv"), run["rows"])] if run.get("rows") is not None else []
  return found + [(os.path.join(name, "checkpoints", f"iteration_{c['iteration']}", "eval.csv"), c["rows"])
                  for c in run.get("checkpoints", ())]


def check_task_sets(root: str, runs: list[dict]) -> None:
  """ValueError unless every evaluation of the folder (every run's eval.csv and its checkpoints') holds,
  at every budget it has, the in-box tasks of the folder's first evaluation (its zero-shot rows), and of
  any other set (ood) it has there the tasks of the first evaluation with that set: a truncated or
  foreign eval.csv would otherwise give a worst case over other tasks. (A set other than in_box may be
  absent altogether: a run written before it existed.) The message names the file, the set, the budget
  and the missing and extra tasks."""
  found = []
  for where, rows in (e for run in runs for e in evaluations(run)):
    per = {}
    for r in rows:
      per.setdefault(r["budget"], {}).setdefault(r["set"], set()).add(r["psi"])
    if "in_box" not in per.get("zero_shot", {}):
      raise ValueError(f"{os.path.join(root, where)}: no in_box zero_shot rows")
    found.append((where, per))
  reference = {}   # set -> (where, tasks): the first evaluation that has it (zero-shot first)
  for budget in ("zero_shot", None):
    for where, per in found:
      for name, tasks in (per["zero_shot"].items() if budget else (x for b in per.values() for x in b.items())):
        reference.setdefault(name, (where, tasks))
  for where, per in found:
    for budget, sets in per.items():
      for name in sorted({"in_box"} | set(sets)):
        mine, (ref_where, ref) = sets.get(name, set()), reference[name]
        if mine != ref:
          missing, extra = sorted(ref - mine), sorted(mine - ref)
          raise ValueError(
              f"{os.path.join(root, where)}: set {name!r} at {budget}: {len(mine)} tasks, the folder's "
              f"{len(ref)} ({os.path.join(root, ref_where)})" + (f"; missing {missing}" if missing else "")
              + (f"; extra {extra}" if extra else "") + " (a truncated or foreign eval.csv?)")


def group(run: dict) -> str:
  """The row a run belongs to: its directory name without the -s<seed> suffix (the method, or a
  labelled variant of it such as admrl_raw), else the summary's method."""
  name, seed = run["name"], run["summary"].get("seed")
  suffix = f"-s{seed}"
  return name[: -len(suffix)] if seed is not None and name.endswith(suffix) else run["summary"]["method"]


def shared_v_star(runs: list[dict]) -> dict:
  """(set, psi) -> the best known return over every run's v_star and every return it reached, in its
  final evaluation and in every evaluated checkpoint's (``evaluations``): the one V* of every table of
  the folder (results.md, gap_vs_samples.md, the README's section, the selection tables of
  ``cli.selection_tables``)."""
  best = {}
  for run in runs:
    for r in (r for _, rows in evaluations(run) for r in rows):
      values = [r[c] for c in ("v_star",) + RETURN_COLUMNS if r.get(c) is not None]
      key = (r["set"], r["psi"])
      best[key] = max([best.get(key, -np.inf)] + values)
  return best


def gap_summary(gaps_by_set: dict) -> dict:
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
  return {**gap_summary({s: list(g.values()) for s, g in per_set.items()}), "gaps": per_set}


def t_half(values) -> float:
  """The half-width of the 95 % t-interval of the mean of ``values`` (0 for fewer than 2)."""
  v = np.asarray(values, np.float64)
  return float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def interval(values: list[float]) -> str:
  """mean ± the half-width of the 95 % t-interval over seeds (the mean alone for one seed)."""
  v = np.asarray(values, np.float64)
  return f"{v.mean():.1f}" if v.size < 2 else f"{v.mean():.1f} ± {t_half(v):.1f}"


def method_rows(runs: list[dict], v_star: dict) -> dict:
  """group -> one entry per run: seed, method (the summary's), real steps, wall time and the gap summaries
  of the policy evaluator, the model planner and the floor (a run without eval.csv: its summary.json, own
  V*)."""
  rows = {}
  for run in runs:
    s = run["summary"]
    entry = {"seed": s["seed"], "method": s["method"], "steps": s.get("real_env_steps"),
             "wall": s.get("wall_time_s")}
    if run["rows"] is None:
      entry.update(policy={f: s[f] for f in FIELDS}, own_v_star=True)
    else:
      entry.update(policy=recompute(run, v_star), planner=recompute(run, v_star, "planner_return"),
                   floor=recompute(run, v_star, "floor_return"), own_v_star=False)
    rows.setdefault(group(run), []).append(entry)
  return rows


def study_rows(root: str) -> tuple[list[dict], dict, dict]:
  """A folder read back at once: (``load_runs``, its ``shared_v_star``, their ``method_rows``)."""
  runs = load_runs(root)
  v_star = shared_v_star(runs)
  return runs, v_star, method_rows(runs, v_star)


def ordered(groups) -> list[str]:
  """The methods in NAMES' order, then any other group (a labelled variant) by name."""
  return [m for m in NAMES if m in groups] + sorted(set(groups) - set(NAMES))


def paired_t(a, b) -> tuple[float, float, float]:
  """a - b paired (equal-length sequences): (mean difference, half-width of its 95 % t-interval, the
  two-sided paired t-test's p). A difference that is not finite somewhere gives NaN for all three (no test);
  every pair differing alike gives half-width 0 and p 1 where that difference is 0, else 0 (certain)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  d = a - b
  if not np.all(np.isfinite(d)):
    return float("nan"), float("nan"), float("nan")
  if d.std() > 0:
    p = float(stats.ttest_rel(a, b).pvalue)
  else:
    p = 1.0 if d.mean() == 0 else 0.0
  return float(d.mean()), t_half(d), p


def paired_differences(a: dict, b: dict) -> dict | None:
  """Seed-paired differences a - b of every gap field: {field: (mean, 95 % half-width, p, n)}; a, b:
  {seed: {field: value}}. None with fewer than 2 common seeds. A difference that is not finite on some
  seed (a NaN or infinite gap, e.g. an OOD gap where a run has no OOD set) gives mean, half-width and p
  NaN: no test, never chosen, never below or above (``verdict``: n/a; ``difference``: n/a)."""
  seeds = sorted(set(a) & set(b))
  if len(seeds) < 2:
    return None
  return {f: (*paired_t([a[s][f] for s in seeds], [b[s][f] for s in seeds]), len(seeds)) for f in FIELDS}


def welch_difference(a, b) -> tuple[float, float, float]:
  """a - b of two independent samples (unpaired: a model-based method against a model-free baseline):
  (mean difference, half-width of its 95 % Welch t-interval, the two-sided Welch t-test's p); NaN for all
  three with fewer than 2 values on a side or a non-finite value. Two samples without spread: half-width 0,
  p 1 where the means agree and 0 where they differ (as ``paired_differences``)."""
  a, b = (np.asarray(x, np.float64) for x in (a, b))
  if min(a.size, b.size) < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
    return float("nan"), float("nan"), float("nan")
  diff = float(a.mean() - b.mean())
  va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
  if va + vb == 0:
    return diff, 0.0, 1.0 if diff == 0 else 0.0
  dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))   # Welch-Satterthwaite
  half = float(stats.t.ppf(0.975, dof) * np.sqrt(va + vb))
  return diff, half, float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def model_free_points(runs: list[dict], v_star: dict) -> dict:
  """The model-free baselines' two points of the protocols (issue 26: the first kept checkpoint is 1x the
  model-based real samples, the final evaluation 10x): {(group, point): {"iteration", "steps": [per run],
  budget: [gap summary per run]}}, point "first" (each run's evaluated kept checkpoint at the group's
  smallest evaluated iteration; a run without that one is left out) and "final" (its eval.csv); budget
  "zero_shot" or "few_shot_<samples>", policy evaluator, against the shared V*."""
  out = {}
  for name in ordered({group(r) for r in runs}):
    mine = [r for r in runs if group(r) == name and r["rows"] and model_free(r["summary"]["method"])]
    if not mine:
      continue
    first = min((c["iteration"] for r in mine for c in r.get("checkpoints", ())), default=None)
    for point, evals in (("first", [(c["iteration"], c["steps"], c["rows"]) for r in mine
                                    for c in r.get("checkpoints", ()) if c["iteration"] == first]),
                         ("final", [(r["summary"].get("iterations"), r["summary"].get("real_env_steps"), r["rows"])
                                    for r in mine])):
      if not evals:
        continue
      entry = {"iteration": evals[0][0], "steps": [e[1] for e in evals]}   # None where a summary lacks them
      for _, _, rows in evals:
        for budget in sorted({row["budget"] for row in rows}):
          gaps = recompute({"rows": rows}, v_star, "return", budget)
          if gaps:
            entry.setdefault(budget, []).append(gaps)
      out[(name, point)] = entry
  return out


def model_free(method: str) -> bool:
  """Whether ``method`` (a summary's method) is a model-free baseline (``config.is_model_free``: its
  registered class runs the ``meta_rl`` loop: multitask, maml, pearl). Imported here, not at the top,
  so reading a folder needs no jax."""
  from admrl_jax.config import is_model_free
  return is_model_free(method)


def model_free_groups(rows: dict) -> set[str]:
  """The groups of ``method_rows`` whose runs are of a model-free method: compared with the model-based
  ones unpaired (their intervals side by side), never in a seed-paired test."""
  return {g for g, entries in rows.items() if any(model_free(e["method"]) for e in entries)}


def paired(rows: dict, method: str, base: str, kind: str) -> dict | None:
  """``paired_differences`` of ``method`` minus ``base`` (groups of ``method_rows``) for one evaluator
  (``policy`` or ``planner``), over the seeds both ran it; None with fewer than 2."""
  per = {name: {r["seed"]: r[kind] for r in rows.get(name, []) if r.get(kind) is not None} for name in (method, base)}
  return paired_differences(per[method], per[base])


def difference(mean: float, half: float, p: float) -> str:
  """A paired difference as the tables write it: +mean ± half-width (p); n/a where it is not finite."""
  if not (np.isfinite(mean) and np.isfinite(half) and np.isfinite(p)):
    return "n/a"
  return f"{mean:+.1f} ± {half:.1f} (p {p:.2f})"


def verdict(mean: float, half: float) -> str:
  """below / above / tied: where the 95 % interval mean ± half of a paired difference lies against 0;
  n/a where it is not finite."""
  if not (np.isfinite(mean) and np.isfinite(half)):
    return "n/a"
  return "below" if mean + half < 0 else "above" if mean - half > 0 else "tied"


def floor_summary(runs: list[dict], v_star: dict) -> dict:
  """The floor's gap summary: per task the mean of the runs' floor_return columns, against V*."""
  per_task = {}
  for run in runs:
    for r in run["rows"] or ():
      if r["budget"] == "zero_shot" and r.get("floor_return") is not None:
        per_task.setdefault((r["set"], r["psi"]), []).append(r["floor_return"])
  gaps = {}
  for (s, psi), values in per_task.items():
    gaps.setdefault(s, []).append(v_star[(s, psi)] - float(np.mean(values)))
  return gap_summary(gaps)


def checkpoint_points(runs: list[dict]) -> list[dict]:
  """Every evaluated model of a study's runs (``load_runs``): per run with eval.csv its final evaluation and
  its evaluated kept checkpoints (<run>/checkpoints/iteration_<i>/: eval.csv, checkpoint.json) ->
  [{group, seed, iteration, steps, rows}]."""
  points = []
  for run in runs:
    if not run["rows"]:
      continue
    s = run["summary"]
    base = {"group": group(run), "seed": s["seed"]}
    points.append({**base, "iteration": s["iterations"], "steps": s["real_env_steps"], "rows": run["rows"]})
    points += [{**base, "iteration": c["iteration"], "steps": c["steps"], "rows": c["rows"]}
               for c in run.get("checkpoints", ())]
  return points


def proposed_tasks(metrics_csv: str) -> np.ndarray:
  """The tasks a run trained on, [N * K, k] (iteration-major, then task 0 .. K-1), from the
  psi/<task>/<coordinate> columns of metrics.csv ([0, 2] without the file)."""
  if not os.path.exists(metrics_csv):
    return np.zeros((0, 2))
  with open(metrics_csv) as fh:
    rows = list(csv.DictReader(fh))
  columns = [c.split("/") for c in (rows[0] if rows else ()) if c.startswith("psi/")]
  tasks = sorted({c[1] for c in columns}, key=int)
  dims = sorted({c[2] for c in columns}, key=int)
  if not dims:
    return np.zeros((0, 2))
  return np.asarray([[float(r[f"psi/{t}/{j}"]) for j in dims] for r in rows for t in tasks]).reshape(-1, len(dims))


def grid_gradient(centers: np.ndarray, values: np.ndarray, psi: np.ndarray) -> np.ndarray:
  """[2]: the gradient at psi [2] of the bilinear interpolant of values [G] on a regular 2-D grid of
  centres [G, 2] (psi clipped into the grid)."""
  xs, ys = np.unique(centers[:, 0]), np.unique(centers[:, 1])
  table = {(round(x, 6), round(y, 6)): v for (x, y), v in zip(centers, values)}
  f = lambda i, j: table[(round(xs[i], 6), round(ys[j], 6))]
  p = np.clip(psi, [xs[0], ys[0]], [xs[-1], ys[-1]])
  i = int(np.clip(np.searchsorted(xs, p[0], side="right") - 1, 0, len(xs) - 2))
  j = int(np.clip(np.searchsorted(ys, p[1], side="right") - 1, 0, len(ys) - 2))
  dx, dy = xs[i + 1] - xs[i], ys[j + 1] - ys[j]
  tx, ty = (p[0] - xs[i]) / dx, (p[1] - ys[j]) / dy
  f00, f10, f01, f11 = f(i, j), f(i + 1, j), f(i, j + 1), f(i + 1, j + 1)
  return np.asarray([((1 - ty) * (f10 - f00) + ty * (f11 - f01)) / dx,
                     ((1 - tx) * (f01 - f00) + tx * (f11 - f10)) / dy])


def logged_gradients(metrics_csv: str) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
  """iteration -> [(psi [2], task gradient [2])] per task, from metrics.csv ({} without a task gradient)."""
  with open(metrics_csv) as fh:
    rows = list(csv.DictReader(fh))
  if not rows or "task_gradient/0/0" not in rows[0]:
    return {}
  tasks = sorted({c.split("/")[1] for c in rows[0] if c.startswith("task_gradient/")}, key=int)
  return {int(float(r["iteration"])): [(np.asarray([float(r[f"psi/{t}/0"]), float(r[f"psi/{t}/1"])]),
                                        np.asarray([float(r[f"task_gradient/{t}/0"]), float(r[f"task_gradient/{t}/1"])]))
                                       for t in tasks] for r in rows}
