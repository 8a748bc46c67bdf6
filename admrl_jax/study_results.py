"""A study folder read back: its runs (summary.json, eval.csv, and the eval.csv of every evaluated kept
checkpoint), the shared V* (the best return any run of the folder reached on each task, checkpoint
evaluations included, SPEC section 5: one V* for every table of the folder), every gap recomputed
against it, seed statistics (95 % t-intervals) and seed-paired tests (between model-based methods only;
a model-free baseline is compared unpaired). No rendering: ``cli.results_table`` writes the tables and
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
  the folder (results.md, gap_vs_samples.md, the README's section, --confirm / --finalists /
  --not_worse)."""
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


def ordered(groups) -> list[str]:
  """The methods in NAMES' order, then any other group (a labelled variant) by name."""
  return [m for m in NAMES if m in groups] + sorted(set(groups) - set(NAMES))


def paired_differences(a: dict, b: dict) -> dict | None:
  """Seed-paired differences a - b of every gap field: {field: (mean, 95 % half-width, p, n)}; a, b:
  {seed: {field: value}}. None with fewer than 2 common seeds. A difference that is not finite on some
  seed (a NaN or infinite gap, e.g. an OOD gap where a run has no OOD set) gives mean, half-width and p
  NaN: no test, never chosen, never below or above (``verdict``: n/a; ``difference``: n/a)."""
  seeds = sorted(set(a) & set(b))
  if len(seeds) < 2:
    return None
  out = {}
  for f in FIELDS:
    d = np.asarray([a[s][f] - b[s][f] for s in seeds], np.float64)
    if not np.all(np.isfinite(d)):
      out[f] = (float("nan"), float("nan"), float("nan"), d.size)
      continue
    if d.std() > 0:
      p = float(stats.ttest_rel([a[s][f] for s in seeds], [b[s][f] for s in seeds]).pvalue)
    else:   # every seed the same difference: certain, unless it is 0
      p = 1.0 if d.mean() == 0 else 0.0
    out[f] = (float(d.mean()), t_half(d), p, d.size)
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


def holm(p_values: dict) -> dict:
  """Holm's step-down correction of a family of p-values {name: p} -> {name: adjusted p}: the i-th smallest
  (from 1) times (m - i + 1), made monotone and capped at 1."""
  ordered_names = sorted(p_values, key=lambda n: p_values[n])   # (no NaN here: ``confirmation`` counts it as 1)
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
  the lowest corrected p or None, "below": whether its mean is negative with corrected p < 0.05}.

  Ties: Holm's corrected p values often tie (the step-down is made monotone, so several finalists can
  share one corrected p). Among the finalists with the lowest corrected p, the chosen one is the one
  with the lowest raw (uncorrected) p; if those tie too, the one with the lower (more negative) mean
  difference; then the name. A finalist whose difference is not finite on some seed (p NaN) is never
  chosen: it counts in the correction's family with p = 1 (so the others' correction is as for every
  finalist with pairs) and its own corrected p is NaN."""
  found = {f: paired(rows, f, base, kind) for f in finalists}
  found = {f: d[field] for f, d in found.items() if d is not None}
  adjusted = holm({f: d[2] if np.isfinite(d[2]) else 1.0 for f, d in found.items()})
  out = {f: (*d, adjusted[f] if np.isfinite(d[2]) else float("nan")) for f, d in found.items()}
  valid = [f for f in out if np.isfinite(out[f][2])]
  chosen = min(valid, key=lambda f: (out[f][4], out[f][2], out[f][0], f)) if valid else None
  return {"rows": out, "chosen": chosen, "below": bool(chosen and out[chosen][0] < 0 and out[chosen][4] < 0.05)}


def screening(rows: dict, candidates: list[str], base: str = "unif", kind: str = "planner",
              field: str = "worst_case_gap", tie_field: str = "mean_gap", tie: float = 0.1,
              at_most: int = 3) -> dict:
  """The finalists of a screening (docs/results.md, issue 27's protocol): the candidates whose mean of
  ``field`` (evaluator ``kind``) over their seeds in the folder is below ``base``'s mean, the ``at_most``
  lowest. Ties (means within ``tie`` of each other) go to the lower mean of ``tie_field``. As a rule:
  repeatedly, among the candidates below ``base`` not yet picked, take those whose mean is within
  ``tie`` (+1e-9 for rounding) of the lowest remaining mean, and pick the one with the lowest mean
  ``tie_field`` (then the lower mean ``field``, then the name); stop at ``at_most``. Unpaired: each
  row's own seeds. -> {"base": (mean, n) or None, "rows": {candidate: (mean, mean of tie_field, n)} for
  the candidates with that evaluator, "finalists": [...] in pick order, "none": [candidates without
  it]}."""
  def means(name):
    entries = [r[kind] for r in rows.get(name, []) if r.get(kind) is not None]
    if not entries:
      return None
    return (float(np.mean([e[field] for e in entries])), float(np.mean([e[tie_field] for e in entries])),
            len(entries))

  found = {c: means(c) for c in candidates if c != base}
  none = [c for c, m in found.items() if m is None]
  found = {c: m for c, m in found.items() if m is not None}
  base_m = means(base)
  below = [c for c, m in found.items() if base_m is not None and np.isfinite(m[0]) and m[0] < base_m[0]]
  picked = []
  while below and len(picked) < at_most:
    lowest = min(found[c][0] for c in below)
    group_ = [c for c in below if found[c][0] <= lowest + tie + 1e-9]
    best = min(group_, key=lambda c: (found[c][1] if np.isfinite(found[c][1]) else np.inf, found[c][0], c))
    picked.append(best)
    below.remove(best)
  return {"base": None if base_m is None else (base_m[0], base_m[2]), "rows": found, "finalists": picked,
          "none": none}


NOT_WORSE_MARGIN = 5.0   # the held-out check's margin (docs/results.md): upper end of the interval below +5


def not_worse(rows: dict, row: str, base: str = "unif", kind: str = "planner", field: str = "worst_case_gap",
              margin: float = NOT_WORSE_MARGIN) -> dict | None:
  """The held-out check of issue 27's protocol: ``row``'s ``field`` (evaluator ``kind``) minus ``base``'s,
  paired by seed; "not worse" when the upper end of the 95 % t-interval of the mean difference is below
  ``margin`` -> {mean, half, p, n, upper, not_worse (True / False, None where the difference is not
  finite)}; None with fewer than 2 seed pairs."""
  diff = paired(rows, row, base, kind)
  if diff is None:
    return None
  mean, half, p, n = diff[field]
  upper = mean + half
  return {"mean": mean, "half": half, "p": p, "n": n, "upper": upper,
          "not_worse": bool(upper < margin) if np.isfinite(upper) else None}


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
  """The tasks a run trained on, [N * K, 2], from the psi/<task>/<coordinate> columns of metrics.csv."""
  if not os.path.exists(metrics_csv):
    return np.zeros((0, 2))
  with open(metrics_csv) as fh:
    rows = list(csv.DictReader(fh))
  tasks = sorted({c.split("/")[1] for c in rows[0] if c.startswith("psi/")}) if rows else []
  return np.asarray([[float(r[f"psi/{t}/0"]), float(r[f"psi/{t}/1"])] for r in rows for t in tasks]).reshape(-1, 2)
