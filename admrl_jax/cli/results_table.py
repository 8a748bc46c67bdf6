"""The results table of a folder of runs, recomputed from their eval.csv files with a shared V*.

  python -m experiments.results_table runs/results

Every run directory (<root>/<run>/ with summary.json and eval.csv) contributes its per-task returns.
V* of a task (same set, same psi) is the best known return over the runs: the max of every run's
v_star column (the cached oracle, the zero action, the floor; one computation for all runs of a study)
and every return any run reached on it (policy evaluator at every budget, model planner, floor), in its
final evaluation and in every evaluated kept checkpoint's (``experiments.study_curves``), as SPEC section
5 asks: one V* (``study_results.shared_v_star``) for every table of the folder, results.md and
gap_vs_samples.md alike. Every evaluation must hold the folder's task set (else exit 2 naming the file).
Then per method: worst-case, mean, CVaR-10% and OOD worst-case gap, as mean and 95 % t-interval
half-width over seeds, for the policy evaluator (zero-shot) and, where it ran, the
model planner; and the adaptation floor beside them (the floor does not depend on the run: the mean of
the runs' floor columns, which agree when the floor came from one cache). A run directory without
eval.csv (written before it existed) is reported from its summary.json, against its own V*, marked *.
A run's row is its directory name without -s<seed> (the method, or a labelled variant such as
admrl_restart). Below the table: every model-based method or variant against MB-Unif and MB-Gauss paired
by seed (mean difference, 95 % t-interval, paired t-test; n/a where a difference is not finite); a
model-free baseline (multitask, maml, pearl) against them unpaired, the two intervals side by side; and,
where a model-free baseline ran, ``model_free_table``: every model-based row beside each baseline's first
kept checkpoint (1x in the Hopper2D study) and final evaluation at each few-shot budget, with the Welch
interval of each difference (``study_results.welch_difference``).
Where runs have few-shot rows: the test-time gap per budget, and per task the change of the gap from
zero-shot (median, 90th percentile, share of tasks made worse). The comparison tables are
``cli.comparison_tables``'.
``study_figure`` draws the seed-mean gap maps with the proposed tasks from the same files.

  python -m experiments.results_table docs/runs/corner_confirmation --confirm=admrl_k2,plr   # and a selection's
                                                                        # confirmation (Holm over the rows)
  python -m experiments.results_table docs/runs/corner_screening --finalists    # a screening's finalists
  python -m experiments.results_table docs/runs/corner_screening --finalists --candidates=admrl_k2,plr
  python -m experiments.results_table docs/runs/pockets --not_worse=admrl_k2  # the held-out check of a row
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
import glob
import os
import sys

import numpy as np

from admrl_jax import tables
from admrl_jax.cli.common import fail
from admrl_jax.cli.results_readme import README_END, README_START, readme_section, replace_readme_section, studies
from admrl_jax.cli.selection_tables import confirmation_table, finalists_table, not_worse_table
from admrl_jax.cli.comparison_tables import few_shot_table, model_free_table, paired_table
from admrl_jax.study_results import (FIELDS, NAMES, checkpoint_points, floor_summary, group, interval, load_runs,
                                     ordered, proposed_tasks, recompute, shared_v_star, study_rows, t_half)

HEADER = ("method", "seeds", "worst-case gap", "mean gap", "CVaR-10% gap", "OOD worst-case gap", "real steps",
          "wall time (s)")


def table(root: str) -> str:
  """Markdown: per method (policy evaluator, then model planner) mean ± 95 % t half-width over seeds,
  the adaptation floor, then the per-seed numbers."""
  runs, v_star, rows = study_rows(root)
  cells = []
  for method in ordered(rows):
    for kind in ("policy", "planner"):
      runs_m = [r for r in rows.get(method, []) if r.get(kind)]
      if not runs_m:
        continue
      label = NAMES.get(method, method) + (" (model planner)" if kind == "planner" else "")
      label += " *" if any(r["own_v_star"] for r in runs_m) else ""
      gaps = [interval([r[kind][f] for r in runs_m]) for f in FIELDS]
      steps = [r["steps"] for r in runs_m if r["steps"] is not None]
      wall = [r["wall"] for r in runs_m if r["wall"] is not None]
      cells.append([label, len(runs_m), *gaps, int(np.mean(steps)) if steps else "",
                    f"{np.mean(wall):.0f}" if wall else ""])
  notes = []
  if any(r.get("floor") for runs_m in rows.values() for r in runs_m):
    floor = floor_summary(runs, v_star)
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
    for kind, label in (("policy", ""), ("planner", " (model planner)")):
      per = ", ".join(f"s{r['seed']}: " + " / ".join(f"{r[kind][f]:.1f}" for f in FIELDS)
                      for r in sorted(runs_m, key=lambda r: r["seed"]) if r.get(kind))
      if per or kind == "policy":
        lines.append(f"- {NAMES.get(method, method)}{label}: {per}")
  few = few_shot_table(runs, v_star)
  if few:
    lines += ["", few.rstrip("\n")]
  free = model_free_table(runs, v_star)
  if free:
    lines += ["", free.rstrip("\n")]
  paired = paired_table(rows)
  if paired:
    lines += ["", "Paired by seed (method minus baseline, seeds both ran; negative: the method's gap is lower): "
              "mean difference ± half-width of its 95 % t-interval, and the two-sided paired t-test's p. An "
              "interval that contains 0 is a tie; n/a: a difference that is not finite on some seed. A "
              "model-free baseline is not paired with the model-based methods (the protocols compare them "
              "unpaired): its rows give both intervals side by side, method vs baseline.",
              "", paired.rstrip("\n")]
  return "\n".join(lines) + "\n"


def study_figure(root: str, path: str, column: str = "return", label: str = "policy evaluator") -> bool:
  """Heat maps of a study's in-box gaps against the shared V*: per method the mean over seeds of
  ``column`` with every seed's proposed tasks (metrics.csv) on top, then the adaptation floor. Only
  for 2-D task boxes; False (nothing written) otherwise or without eval.csv files."""
  from admrl_jax import plots   # matplotlib only where a figure is drawn

  every = load_runs(root)
  runs = [r for r in every if r["rows"]]
  if not runs:
    return False
  v_star = shared_v_star(every)
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
    paths[name] = [proposed_tasks(os.path.join(root, r["name"], "metrics.csv")) for r in mine]
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


def gap_vs_samples(root: str, path: str | None = None) -> str:
  """Markdown (and, given ``path``, a figure): per method and evaluated iteration, the worst-case gap
  (policy evaluator; model planner where it ran) mean ± 95 % t half-width over seeds, against the real
  samples used in training. V* is the folder's one shared V* (``shared_v_star``: every evaluated model of
  the study, checkpoints included), the same as results.md's."""
  runs = load_runs(root)
  points = checkpoint_points(runs)
  if not points:
    return "No evaluated models.\n"
  v_star = shared_v_star(runs)
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
      cells.append([label, iteration, int(steps.mean()), gaps.size, interval(list(gaps))])
      xs.append(steps.mean()), means.append(gaps.mean()), halves.append(half)
    curves.setdefault(kind, {})[label] = (np.asarray(xs), np.asarray(means), np.asarray(halves))
  ratios = sample_ratios(curves.get("policy", {}))
  if path:
    from admrl_jax import plots
    plots.gap_vs_samples_bands(path, curves, f"{os.path.basename(os.path.normpath(root))}: worst-case gap against "
                                             "real training samples (mean ± 95 % t over seeds)")
  return ("Worst-case gap against real training samples: every evaluated model (kept checkpoints and the "
          "final one), mean ± 95 % t half-width over seeds, against the best known return over all of them "
          "(the folder's one V*, as in results.md).\n\n"
          + tables.markdown(("method", "iteration", "real steps (mean)", "seeds", "worst-case gap"), cells)
          + ("\n" + ratios if ratios else ""))


def has_checkpoint_evaluations(root: str) -> bool:
  """Whether a published run of the folder has an evaluated kept checkpoint (<run>/checkpoints/iteration_<i>/
  with checkpoint.json): then gap_vs_samples.{md,png} belong to the folder."""
  return bool(glob.glob(os.path.join(root, "*", "checkpoints", "iteration_*", "checkpoint.json")))


def write_gap_vs_samples(root: str, always: bool = False) -> list[str]:
  """<root>/gap_vs_samples.md and .png recomputed (``gap_vs_samples``) from the published files; the paths
  written ([] where no run has an evaluated checkpoint, unless ``always``: nothing written). Called by
  ``experiments.study`` after every published run and by ``experiments.study_curves`` (always)."""
  if not (always or has_checkpoint_evaluations(root)):
    return []
  md, png = os.path.join(root, "gap_vs_samples.md"), os.path.join(root, "gap_vs_samples.png")
  text = gap_vs_samples(root, png)
  with open(md, "w") as fh:
    fh.write(text)
  return [p for p in (md, png) if os.path.exists(p)]


def write_folder_tables(root: str) -> list[str]:
  """A study folder's tables and figures recomputed from its published files against its one V*:
  results.md (``table``), gap_maps.png and planner_gap_maps.png (``study_figure``) and, where a run has an
  evaluated kept checkpoint, gap_vs_samples.md and .png; the paths written. Called by ``experiments.study``
  after every published run and by ``experiments.study_curves`` after it evaluates checkpoints (whose
  returns can raise the shared V*, so every table of the folder is redrawn, not only the curves)."""
  results = os.path.join(root, "results.md")
  with open(results, "w") as fh:
    fh.write(table(root))
  maps = [os.path.join(root, "gap_maps.png"), os.path.join(root, "planner_gap_maps.png")]
  study_figure(root, maps[0])
  study_figure(root, maps[1], "planner_return", "model planner")
  return [results, *(m for m in maps if os.path.exists(m)), *write_gap_vs_samples(root)]


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
  parser = _Parser(prog="admrl-results-table", allow_abbrev=False, description=main.__doc__)
  parser.add_argument("folder", nargs="?", help="a folder of run directories (with --readme: of studies; "
                                                "default docs/runs)")
  parser.add_argument("--readme", action="store_true", help="print the README section \"Results at a glance\"")
  parser.add_argument("--write_readme", metavar="README", help="replace that section in this README, between "
                                                               f"{README_START} and {README_END}")
  parser.add_argument("--confirm", metavar="ROWS", help="comma-separated rows (run names without -s<seed>): after "
                                                        "the table, their confirmation against MB-Unif (the model "
                                                        "planner's worst case, paired, Holm-corrected)")
  parser.add_argument("--finalists", action="store_true",
                      help="after the table, a screening's finalists: the candidate rows whose mean planner "
                           "worst-case gap is below MB-Unif's, the 3 lowest (ties within 0.1: the lower mean "
                           "planner mean gap)")
  parser.add_argument("--candidates", metavar="ROWS", help="with --finalists: the candidate rows, comma-separated "
                                                           "(default: every row but unif)")
  parser.add_argument("--not_worse", metavar="ROW", help="after the table, the held-out check of a row: the upper end "
                                                         "of the 95 %% t-interval of its paired planner worst-case "
                                                         "gap minus MB-Unif's is below +5")
  args = parser.parse_args(argv)
  for flag in ("confirm", "finalists", "candidates", "not_worse"):
    if getattr(args, flag) not in (None, False) and (args.readme or args.write_readme is not None):
      fail(f"{flag}: a folder of runs' table only; not with --readme / --write_readme")
  if args.candidates is not None and not args.finalists:
    fail("candidates: only with --finalists")
  if not (args.readme or args.write_readme is not None):
    if args.folder is None:
      fail("folder: needs a folder of run directories (usage: admrl-results-table <folder>, or --readme)")
    folder = _checked_folder(args.folder, "folder")
    if not glob.glob(os.path.join(folder, "*", "summary.json")):
      fail(f"folder: no run directories (<run>/summary.json) in {folder!r}"
           + ("; it holds studies: use --readme" if studies(folder) else ""))
    _checked_runs(folder)
    text = table(folder)
    known = {group(r) for r in load_runs(folder)}

    def checked_rows(flag: str, value: str, default: list[str] | None = None) -> list[str]:
      names = [f for f in value.split(",") if f] or (default or [])
      unknown = [f for f in names if f not in known]
      if not names or unknown:
        fail(f"{flag}: rows of {folder!r} (run names without -s<seed>): allowed {sorted(known)}, got "
             f"{unknown or value!r}")
      if "unif" not in known:
        fail(f"{flag}: compares against MB-Unif; {folder!r} has no unif-s<seed> run")
      return names

    if args.confirm is not None:
      text += "\n" + confirmation_table(folder, checked_rows("confirm", args.confirm))
    if args.finalists:
      text += "\n" + finalists_table(folder, checked_rows("candidates", args.candidates or "",
                                                          [g for g in ordered(known) if g != "unif"]))
    if args.not_worse is not None:
      rows = checked_rows("not_worse", args.not_worse)
      if len(rows) != 1 or rows == ["unif"]:
        fail(f"not_worse: one row other than unif, got {args.not_worse!r}")
      text += "\n" + not_worse_table(folder, rows[0])
    print(text, end="")
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
