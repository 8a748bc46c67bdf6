"""The selection tables of issue 27's protocol (``study_selection``), as ``experiments.results_table`` prints
them after a folder's table: --finalists (a screening), --confirm (the confirmation of finalists), and
--not_worse (the held-out check of a row). Each reads the folder with its one shared V*.
"""
import numpy as np

from admrl_jax import tables
from admrl_jax.study_results import NAMES, study_rows
from admrl_jax.study_selection import NOT_WORSE_MARGIN, confirmation, not_worse, screening


def confirmation_table(root: str, finalists: list[str]) -> str:
  """Markdown: the confirmation of a selection (``study_selection.confirmation``): each finalist's model
  planner worst-case gap minus MB-Unif's, paired by seed, with its Holm-corrected p, and the chosen one."""
  found = confirmation(study_rows(root)[2], finalists)
  cells = [[NAMES.get(f, f), n, f"{mean:+.1f} ± {half:.1f}" if np.isfinite(p) else "n/a", _p(p), _p(p_holm)]
           for f, (mean, half, p, n, p_holm) in found["rows"].items()]
  missing = [f for f in finalists if f not in found["rows"]]
  lines = [f"Confirmation over {', '.join(NAMES.get(f, f) for f in finalists)}: the model planner's in-box worst-case "
           "gap minus MB-Unif's, paired by seed (mean ± 95 % t half-width), two-sided paired t-test, p "
           "Holm-corrected over the finalists with pairs (n/a: a difference not finite on some seed, counted "
           "with p 1, never chosen).", "",
           tables.markdown(("finalist - MB-Unif (model planner)", "seeds", "worst-case gap difference", "p",
                            "Holm p"), cells).rstrip("\n")]
  if missing:
    lines += ["", f"No seed pairs with MB-Unif (not counted in the correction): {', '.join(missing)}."]
  if found["chosen"] is not None:
    mean, _, _, _, p_holm = found["rows"][found["chosen"]]
    lines += ["", f"Chosen (lowest corrected p; ties: the lower raw p, then the lower mean): "
                  f"{NAMES.get(found['chosen'], found['chosen'])}, {mean:+.1f}, Holm p "
                  f"{p_holm:.3f}: " + ("below MB-Unif." if found["below"] else "not below MB-Unif (needs a negative "
                                                                                 "mean with Holm p < 0.05).")]
  return "\n".join(lines) + "\n"


def _p(p: float) -> str:
  return f"{p:.3f}" if np.isfinite(p) else "n/a"


def finalists_table(root: str, candidates: list[str]) -> str:
  """Markdown: a screening's finalists (``study_selection.screening``): each candidate's mean model planner
  in-box worst-case gap over its seeds against MB-Unif's, and the finalists, or "none below MB-Unif"."""
  found = screening(study_rows(root)[2], candidates)
  if found["base"] is None:
    return "Screening against MB-Unif: n/a (MB-Unif has no model planner evaluation here).\n"
  base_mean, base_n = found["base"]
  cells = [[NAMES.get(c, c), n, f"{worst:.2f}", f"{mean:.2f}", "yes" if worst < base_mean else "no"]
           for c, (worst, mean, n) in sorted(found["rows"].items(), key=lambda kv: (kv[1][0], kv[0]))]
  lines = [f"Screening against MB-Unif (mean model planner in-box worst-case gap over each row's seeds, unpaired; "
           f"MB-Unif: {base_mean:.2f} over {base_n} seeds). Finalists: the candidates below MB-Unif's mean, the "
           "3 lowest; means within 0.1 of the lowest remaining one tie, broken by the lower mean planner mean gap.",
           "", tables.markdown(("candidate", "seeds", "mean worst-case gap (model planner)",
                                "mean mean gap (model planner)", "below MB-Unif"), cells).rstrip("\n")]
  if found["none"]:
    lines += ["", f"Without a model planner (not candidates): {', '.join(found['none'])}."]
  if found["finalists"]:
    lines += ["", "Finalists: " + ", ".join(f"{NAMES.get(c, c)} ({found['rows'][c][0]:.2f})"
                                            for c in found["finalists"]) + f", against MB-Unif's {base_mean:.2f}."]
  else:
    best = min(found["rows"].items(), key=lambda kv: kv[1][0], default=None)
    lines += ["", f"Finalists: none below MB-Unif (MB-Unif {base_mean:.2f}" + (
        f"; the lowest candidate, {NAMES.get(best[0], best[0])}, {best[1][0]:.2f})." if best else "; no candidates).")]
  return "\n".join(lines) + "\n"


def not_worse_table(root: str, row: str) -> str:
  """The held-out check of a row (``study_selection.not_worse``): its model planner in-box worst-case gap
  minus MB-Unif's, paired by seed, the 95 % t-interval, and whether its upper end is below +5."""
  found = not_worse(study_rows(root)[2], row)
  name = NAMES.get(row, row)
  head = (f"Held-out check, {name} - MB-Unif (model planner in-box worst-case gap, paired by seed): ")
  if found is None:
    return head + "n/a (fewer than 2 seeds both ran with the model planner).\n"
  if found["not_worse"] is None:
    return head + f"n/a (a difference not finite on some of its {found['n']} seeds).\n"
  lo, hi = found["mean"] - found["half"], found["upper"]
  return (head + f"{found['mean']:+.1f}, 95 % t-interval [{lo:+.1f}, {hi:+.1f}] over {found['n']} seeds (p "
          f"{found['p']:.2f}): " + (f"not worse (upper end {hi:+.1f} < +{NOT_WORSE_MARGIN:g})." if found["not_worse"]
                                    else f"not shown not worse (upper end {hi:+.1f} >= +{NOT_WORSE_MARGIN:g}).")
          + "\n")
