"""The selection rules of issue 27's protocol (docs/results.md, "An adversary that covers the whole box"),
applied to a folder's ``study_results.method_rows``: the screening's finalists (unpaired means), their
confirmation (seed-paired, Holm-corrected) and the held-out "not worse" check. No rendering:
``cli.selection_tables`` writes them.
"""
import numpy as np

from admrl_jax.study_results import paired


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
