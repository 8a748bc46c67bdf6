"""A study folder read back: its runs (summary.json, eval.csv), the shared V* (the best return any run of
the folder reached on each task, SPEC section 5), every gap recomputed against it, seed statistics
(95 % t-intervals) and seed-paired tests. No rendering: ``cli.results_table`` writes the tables and
figures, ``cli.results_readme`` the README's section, ``cli.oracle_winners`` reads the runs' returns.
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
    rows = read_eval_csv(csv_path) if os.path.exists(csv_path) else None
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


def holm(p_values: dict) -> dict:
  """Holm's step-down correction of a family of p-values {name: p} -> {name: adjusted p}: the i-th smallest
  (from 1) times (m - i + 1), made monotone and capped at 1."""
  ordered_names = sorted(p_values, key=lambda n: p_values[n])
  m, running, out = len(ordered_names), 0.0, {}
  for i, name in enumerate(ordered_names):
    running = max(running, min(1.0, (m - i) * p_values[name]))
    out[name] = running
  return out


def confirmation(rows: dict, finalists: list[str], base: str = "unif", kind: str = "planner",
                 field: str = "worst_case_gap") -> dict:
  """The confirmation of a selection (docs/results.md, issue 27's protocol): each finalist's ``field`` of
  evaluator ``kind`` minus ``base``'s, paired by seed (``paired``), the p-values Holm-corrected over the
  finalists that have pairs -> {"rows": {finalist: (mean, half, p, n, p_holm)}, "chosen": the finalist with
  the lowest corrected p (ties: the lower mean) or None, "below": whether its mean is negative with
  corrected p < 0.05}."""
  found = {f: paired(rows, f, base, kind) for f in finalists}
  found = {f: d[field] for f, d in found.items() if d is not None}
  adjusted = holm({f: d[2] for f, d in found.items()})
  out = {f: (*d, adjusted[f]) for f, d in found.items()}
  chosen = min(out, key=lambda f: (out[f][4], out[f][0])) if out else None
  return {"rows": out, "chosen": chosen, "below": bool(chosen and out[chosen][0] < 0 and out[chosen][4] < 0.05)}


def difference(mean: float, half: float, p: float) -> str:
  """A paired difference as the tables write it: +mean ± half-width (p)."""
  return f"{mean:+.1f} ± {half:.1f} (p {p:.2f})"


def verdict(mean: float, half: float) -> str:
  """below / above / tied: where the 95 % interval mean ± half of a paired difference lies against 0."""
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
      rows = read_eval_csv(os.path.join(os.path.dirname(info), "eval.csv"))
      points.append({**base, "iteration": meta["iteration"], "steps": meta["real_env_steps"], "rows": rows})
  return points


def proposed_tasks(metrics_csv: str) -> np.ndarray:
  """The tasks a run trained on, [N * K, 2], from the psi/<task>/<coordinate> columns of metrics.csv."""
  if not os.path.exists(metrics_csv):
    return np.zeros((0, 2))
  with open(metrics_csv) as fh:
    rows = list(csv.DictReader(fh))
  tasks = sorted({c.split("/")[1] for c in rows[0] if c.startswith("psi/")}) if rows else []
  return np.asarray([[float(r[f"psi/{t}/0"]), float(r[f"psi/{t}/1"])] for r in rows for t in tasks]).reshape(-1, 2)
