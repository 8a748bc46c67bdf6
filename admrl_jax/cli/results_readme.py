"""The README's "Results at a glance", written from the published studies (docs/runs/<study>/): per study
the worst-case gap per method and evaluator (mean ± 95 % t half-width), the seed-paired tests against
MB-Unif as tables and generated sentences (below, tied: the paired interval contains 0, above), and the
study's seed-mean gap maps. ``readme_section`` builds it, ``replace_readme_section`` puts it between its
two marker lines; ``experiments.results_table --readme / --write_readme`` and ``experiments.study``
(after each run published under docs/runs) call them, and a test keeps README.md equal to it.
"""
import glob
import os

import numpy as np

from admrl_jax import tables
from admrl_jax.study_results import (FIELDS, NAMES, difference, floor_summary, interval, model_free_groups, ordered,
                                     paired, study_rows, t_half, verdict)

README_START, README_END = "<!-- results-at-a-glance:start -->", "<!-- results-at-a-glance:end -->"
FAMILY_NAMES = {"point_mass": "PointMass2D", "point_mass_corner": "PointMass2D-Corner",
                "point_mass_pockets": "PointMass2D-Pockets", "hopper_2d": "Hopper2D", "walker_2d": "Walker2D",
                "half_cheetah_2d": "HalfCheetah2D", "half_cheetah_linear": "HalfCheetah-Linear", "ant_2d": "Ant2D",
                "ant_3d": "Ant3D", "humanoid_3d": "Humanoid3D"}   # the paper's names; others print as they are
EVALUATORS = (("policy", "policy evaluator"), ("planner", "model planner"))
REFERENCE = "unif"   # the README's paired tests: every method against MB-Unif


def studies(root: str) -> list[str]:
  """The study folders under root: its subfolders that hold run directories (<run>/summary.json)."""
  return [d for d in sorted(glob.glob(os.path.join(root, "*", ""))) if glob.glob(os.path.join(d, "*", "summary.json"))]


def _joined(items: list[str]) -> str:
  return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _paired_with_reference(rows: dict, method: str, kind: str) -> dict | None:
  """``paired`` of a model-based method against MB-Unif; None for MB-Unif itself and for the model-free
  baselines, which the protocols compare unpaired (``unpaired_sentence``)."""
  if method == REFERENCE or method in model_free_groups(rows):
    return None
  return paired(rows, method, REFERENCE, kind)


def verdict_sentence(rows: dict, kind: str, label: str) -> str:
  """One sentence from the seed-paired tests of every model-based method against MB-Unif's worst-case gap
  with one evaluator: which are below, tied (the 95 % interval of the difference contains 0) and above,
  with the numbers; "" where no method pairs with MB-Unif."""
  found = {"below": [], "tied": [], "above": []}
  for method in ordered(rows):
    diff = _paired_with_reference(rows, method, kind)
    if diff:
      mean, half, p, _ = diff[FIELDS[0]]
      word = verdict(mean, half)   # n/a: a difference not finite on some seed
      found.setdefault(word, []).append(f"{NAMES.get(method, method)} (" + (
          "n/a" if word == "n/a" else f"{mean:+.1f} ± {half:.1f}, p {p:.2f}") + ")")
  parts = [f"{_joined(names)} {'is' if len(names) == 1 else 'are'} {word}" for word, names in found.items() if names]
  if not parts:
    return ""
  return (f"With the {label}, against {NAMES[REFERENCE]}'s worst-case gap (paired by seed, method minus "
          f"{NAMES[REFERENCE]}): " + "; ".join(parts) + ".")


def unpaired_sentence(rows: dict) -> str:
  """The model-free baselines' policy-evaluator worst-case gap beside AdMRL's and MB-Unif's, unpaired (mean ±
  95 % t half-width each; the protocols' comparison of model-based with model-free methods); "" where the
  study has no model-free baseline or neither AdMRL nor MB-Unif."""
  free = [m for m in ordered(rows) if m in model_free_groups(rows)]
  worst = lambda m: [r["policy"][FIELDS[0]] for r in rows.get(m, []) if r.get("policy")]
  bases = [f"{NAMES[m]} {interval(worst(m))}" for m in ("admrl", REFERENCE) if worst(m)]
  if not free or not bases:
    return ""
  cells = [f"{NAMES.get(m, m)} {interval(worst(m))}" for m in free]
  return (f"The model-free baselines, unpaired (their own zero-shot policies beside the policy evaluator's "
          f"{_joined(bases)}): {_joined(cells)}.")


def study_glance(study: str, relative_to: str = ".") -> str:
  """A study's part of the README section: the worst-case gap per method and evaluator (mean ± 95 % t
  over seeds) with its seed-paired difference to MB-Unif, the adaptation floor, one sentence per
  evaluator from the paired tests, and the seed-mean gap maps (the model planner's where it ran)."""
  runs, v_star, rows = study_rows(study)
  families = sorted({r["summary"].get("family") for r in runs} - {None})
  name = os.path.basename(os.path.normpath(study))
  rel = lambda path: os.path.relpath(path, relative_to).replace(os.sep, "/")
  cells = []
  for method in ordered(rows):
    row = [NAMES.get(method, method), len(rows[method])]
    for kind, _ in EVALUATORS:
      runs_m = [r for r in rows[method] if r.get(kind)]
      diff = _paired_with_reference(rows, method, kind)
      unpaired = runs_m and method in model_free_groups(rows)
      row += [interval([r[kind][FIELDS[0]] for r in runs_m]) if runs_m else "-",
              difference(*diff[FIELDS[0]][:3]) if diff else "unpaired" if unpaired else "-"]
    cells.append(row)
  lines = [f"### {', '.join(FAMILY_NAMES.get(f, f) for f in families) or name}: [`{rel(study)}`]({rel(study)})", ""]
  floor = floor_summary(runs, v_star)[FIELDS[0]] if any(r.get("floor") for g in rows.values() for r in g) else None
  if floor is not None:
    cells.append(["adaptation floor", "-", f"{floor:.1f}", "-", "-", "-"])
  base = NAMES[REFERENCE]
  lines += [tables.markdown(("method", "seeds", "worst-case gap, policy evaluator", f"minus {base}",
                             "worst-case gap, model planner", f"minus {base}"), cells).rstrip("\n"), ""]
  sentences = [verdict_sentence(rows, kind, label) for kind, label in EVALUATORS] + [unpaired_sentence(rows)]
  model_based = [m for m in ordered(rows) if any(r.get("planner") for r in rows[m])]
  if floor is not None and model_based:
    worst = {m: [r["policy"][FIELDS[0]] for r in rows[m] if r.get("policy")] for m in model_based}
    reach = [NAMES.get(m, m) for m, v in worst.items() if v and np.mean(v) - t_half(v) <= floor]
    sentences.append(f"The adaptation floor (the policy evaluator's adaptation run on the true dynamics) has a "
                     f"worst-case gap of {floor:.1f}; the policy evaluator's interval reaches it for {len(reach)} of "
                     f"{len(model_based)} model-based methods" + (f" ({_joined(reach)}), where it measures the "
                                                                  "adaptation budget rather than the model" if reach
                                                                  else "") + ".")
  lines += [" ".join(x for x in sentences if x)]
  figures = [f for f, kind in (("planner_gap_maps.png", "model planner"), ("gap_maps.png", "policy evaluator"))
             if os.path.exists(os.path.join(study, f)) and (kind != "model planner" or model_based)]
  if figures:
    what = "model-planner" if figures[0].startswith("planner") else "policy-evaluator"
    lines += ["", f"![{name}: the {what} gap per task, mean over seeds, with every seed's proposed tasks]"
                  f"({rel(os.path.join(study, figures[0]))})"]
    if len(figures) > 1:
      lines[-1] += f" (the policy evaluator's, with the floor: [`gap_maps.png`]({rel(os.path.join(study, figures[1]))}))"
  return "\n".join(lines) + "\n"


def readme_section(root: str, relative_to: str = ".") -> str:
  """The README's "Results at a glance", between its two marker comments: every study under root
  (``study_glance``), paths relative to ``relative_to`` (the README's folder)."""
  results = os.path.join(os.path.dirname(os.path.normpath(root)), "results.md")
  rel = os.path.relpath(results, relative_to).replace(os.sep, "/")
  head = [README_START, "## Results at a glance", "",
          "Written by `python -m experiments.results_table --write_readme=README.md docs/runs` from the published "
          "studies (a test checks that it is current). Worst-case gap over the in-box task grid against the best "
          "known return of each task over a study's runs: mean ± half-width of the 95 % t-interval over seeds. "
          f"\"minus {NAMES[REFERENCE]}\": a model-based method's worst-case gap minus {NAMES[REFERENCE]}'s, paired by "
          "seed, ± its 95 % t half-width, and the paired t-test's p; an interval that contains 0 is a tie; the "
          "model-free baselines are compared unpaired (the intervals side by side). The policy "
          "evaluator adapts a policy on the learned model (model-free methods: their own zero-shot policy); the "
          "model planner optimises a trajectory through the learned model and runs it on the true system.", ""]
  tail = [f"Everything else (per-seed numbers, mean, CVaR-10 % and OOD gaps, MB-Gauss as the baseline, few-shot "
          f"budgets, sample efficiency, the analysis): [{rel}]({rel})." if os.path.exists(results) else "", README_END]
  return "\n".join(head + [study_glance(s, relative_to) for s in studies(root)] + [t for t in tail if t]) + "\n"


def readme_part(text: str) -> tuple[int, int] | None:
  """(first, last line index) of the section in ``text``: the lines that are exactly README_START and
  README_END, once each, in that order; None otherwise."""
  lines = [line.strip() for line in text.splitlines()]
  starts = [i for i, line in enumerate(lines) if line == README_START]
  ends = [i for i, line in enumerate(lines) if line == README_END]
  if len(starts) != 1 or len(ends) != 1 or starts[0] > ends[0]:
    return None
  return starts[0], ends[0]


def replace_readme_section(text: str, section: str) -> str | None:
  """``text`` with its section (``readme_part``, markers included) replaced by ``section``; None
  without one."""
  part = readme_part(text)
  if part is None:
    return None
  lines = text.splitlines(keepends=True)
  return "".join(lines[: part[0]]) + section + "".join(lines[part[1] + 1:])


def refresh_readme(publish_root: str, readme_studies: str) -> list[str]:
  """Where ``publish_root`` is the README's studies folder ``readme_studies`` (``docs/runs`` under the
  working directory, whose README.md has the section "Results at a glance"), that section rewritten from
  them; [README.md], else []. Called after a study publishes a run or evaluates kept checkpoints."""
  readme = os.path.abspath("README.md")
  if os.path.abspath(publish_root) != os.path.abspath(readme_studies) or not os.path.isfile(readme):
    return []
  with open(readme) as fh:
    text = replace_readme_section(fh.read(), readme_section(publish_root, os.path.dirname(readme)))
  if text is None:
    return []
  with open(readme, "w") as fh:
    fh.write(text)
  return [readme]
