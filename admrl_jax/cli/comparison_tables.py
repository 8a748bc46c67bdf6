"""A study folder's comparison tables, rendered as markdown from ``study_results``' rows (``cli.results_table``
puts them under its per-method table): the test-time gap per few-shot budget and its per-task change
(``few_shot_table``, ``few_shot_changes``), the model-based methods paired by seed against MB-Unif and
MB-Gauss (``paired_table``), and the model-based methods beside each model-free baseline's first kept
checkpoint and final evaluation with Welch intervals (``model_free_table``).
"""
import numpy as np

from admrl_jax import tables
from admrl_jax.study_results import (BASELINES, FIELDS, NAMES, difference, group, interval, model_free,
                                     model_free_groups, model_free_points, ordered, paired, recompute,
                                     welch_difference)


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
          f"{interval([g['worst_case_gap'] for g in found[b]])} / {interval([g['mean_gap'] for g in found[b]])}"
          if found[b] else "-" for b in ["zero_shot"] + budgets])
  head = ["method"] + [f"{'0' if b == 'zero_shot' else b.rsplit('_', 1)[1]} real samples" for b in ["zero_shot"] + budgets]
  changes = few_shot_changes(runs, v_star, budgets)
  return ("Test-time gap (worst case / mean, in-box) after real samples of each test task (mean ± 95 % t over "
          "seeds; '-': the method was not evaluated at that budget; the model planner's through the model refit "
          "on those samples):\n\n" + tables.markdown(head, cells)
          + ("\nPer task, the change of the gap from zero-shot (few-shot gap minus zero-shot gap, every in-box task "
             "of every seed pooled; negative: the real samples helped): median / 90th percentile, and the share "
             "of tasks made worse:\n\n" + tables.markdown(head[:1] + head[2:], changes) if changes else ""))


def few_shot_changes(runs: list[dict], v_star: dict, budgets: list[str]) -> list[list[str]]:
  """Rows (method, then a cell per few-shot budget) of the per-task change of the in-box gap from zero-shot,
  pooled over seeds and tasks: median / 90th percentile (+share made worse): a few-shot row whose worst case
  rises may have a few tasks made much worse or all of them a little; [] without few-shot rows."""
  cells = []
  for name in ordered({group(r) for r in runs}):
    mine = [r for r in runs if group(r) == name and r["rows"]]
    for column, label in (("return", ""), ("planner_return", " (model planner)")):
      zero = [recompute(r, v_star, column) for r in mine]
      row = []
      for b in budgets:
        change = [few["gaps"]["in_box"][psi] - z["gaps"]["in_box"][psi]
                  for z, few in zip(zero, (recompute(r, v_star, column, b) for r in mine)) if z and few
                  for psi in few["gaps"]["in_box"]]
        row.append(f"{np.median(change):+.1f} / {np.percentile(change, 90):+.1f} ({np.mean(np.greater(change, 0)):.0%})"
                   if change else "-")
      if any(c != "-" for c in row):
        cells.append([NAMES.get(name, name) + label] + row)
  return cells


def paired_table(rows: dict) -> str:
  """Markdown: every non-baseline method against each baseline for the policy evaluator and (where both
  ran it) the model planner: paired by seed where both are model-based; a model-free baseline
  (``study_results.model_free_groups``) unpaired, its interval and the baseline's side by side."""
  cells = []
  free = model_free_groups(rows)
  for method in sorted(set(rows) - set(BASELINES), key=lambda m: (m not in NAMES, m)):
    for base in BASELINES:
      for kind in ("policy", "planner"):
        if method in free or base in free:
          mine, theirs = ([r[kind] for r in rows.get(name, []) if r.get(kind)] for name in (method, base))
          if mine and theirs:
            label = f"{NAMES.get(method, method)} vs {NAMES.get(base, base)}" + (
                " (model planner)" if kind == "planner" else "") + " (unpaired: model-free)"
            cells.append([label, f"{len(mine)} / {len(theirs)}", *(
                f"{interval([g[f] for g in mine])} vs {interval([g[f] for g in theirs])}" for f in FIELDS)])
          continue
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


def model_free_table(runs: list[dict], v_star: dict) -> str:
  """Markdown: the primary statistic between model-based and model-free methods (the policy evaluator's
  in-box worst-case gap at 0 and each few-shot budget, unpaired): each model-based method, and each
  model-free baseline at its first kept checkpoint and at its final evaluation
  (``study_results.model_free_points``), mean ± 95 % t half-width over seeds; then every model-based method
  outside MB-Unif / MB-Gauss minus each of those points, the mean difference ± its 95 % Welch half-width
  (Welch's p). "" without model-free runs."""
  points = model_free_points(runs, v_star)
  if not points:
    return ""
  budgets = sorted({b for p in points.values() for b in p if b.startswith(("zero_shot", "few_shot_"))},
                   key=lambda b: -1 if b == "zero_shot" else int(b.rsplit("_", 1)[1]))
  based = {}
  for name in ordered({group(r) for r in runs}):
    mine = [r for r in runs if group(r) == name and r["rows"] and not model_free(r["summary"]["method"])]
    if mine:
      based[name] = {"steps": [r["summary"].get("real_env_steps") for r in mine],
                     **{b: [g for g in (recompute(r, v_star, "return", b) for r in mine) if g] for b in budgets}}
  labels = {key: f"{NAMES.get(key[0], key[0])}, {'first kept checkpoint' if key[1] == 'first' else 'final'}"
                 + ("" if p["iteration"] is None else f" (iteration {p['iteration']})") for key, p in points.items()}
  worst = lambda entry, b: [g["worst_case_gap"] for g in entry.get(b, ())]
  steps = lambda entry: [x for x in entry["steps"] if x is not None]
  cells = [[label, len(entry["steps"]), f"{np.mean(steps(entry)):.0f}" if steps(entry) else "",
            *(interval(worst(entry, b)) if worst(entry, b) else "-" for b in budgets)]
           for label, entry in [(NAMES.get(n, n), e) for n, e in based.items()]
           + [(labels[k], p) for k, p in points.items()]]
  heads = [f"{'0' if b == 'zero_shot' else b.rsplit('_', 1)[1]} real samples" for b in budgets]
  diffs = []
  for name, entry in based.items():
    if name in BASELINES:
      continue
    for key, point in points.items():
      cells_b = []
      for b in budgets:
        mean, half, p = welch_difference(worst(entry, b), worst(point, b))
        cells_b.append(difference(mean, half, p))
      diffs.append([f"{NAMES.get(name, name)} - {labels[key]}", f"{len(worst(entry, budgets[0]))} / "
                    f"{len(worst(point, budgets[0]))}", *cells_b])
  text = ("Model-based against model-free (the policy evaluator's in-box worst-case gap after 0 and each "
          "few-shot budget of real samples of the test task; unpaired): mean ± 95 % t half-width over seeds; "
          "real steps: the training's real samples at that point.\n\n"
          + tables.markdown(["method", "seeds", "real steps (mean)", *heads], cells))
  if diffs:
    text += ("\nThe difference, model-based method minus model-free point (negative: the model-based gap is "
             "lower): mean ± half-width of its 95 % Welch t-interval (Welch's two-sided p); an interval that "
             "contains 0 is a tie; n/a with fewer than 2 seeds on a side.\n\n"
             + tables.markdown(["comparison", "seeds", *heads], diffs))
  return text
