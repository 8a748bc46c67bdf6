"""The V* candidates of a test set side by side: per task the winner and its margin over the runner-up, where
the oracles disagree, the best known return as a grid, and the best return a study folder's runs reached
(``admrl-oracle-winners`` prints them; ``cli.oracle_winners``)."""
import numpy as np

from admrl_jax import study_results, tables

NOT_ORACLES = ("zero_action", "runs")   # candidates that are no oracle: left out of the disagreement


def psi_label(psi) -> str:
  """A task as eval.csv writes it: '-2.000 1.200'."""
  return " ".join(f"{x:.3f}" for x in np.asarray(psi))


def runs_best(folder: str, set_name: str, psis: np.ndarray) -> np.ndarray | None:
  """[G]: the best return any run of the study folder reached on each task (NaN where none has it); None
  when no run has the set."""
  best = {}
  for r in (row for run in study_results.load_runs(folder) for row in run["rows"] or ()):
    if r["set"] == set_name:
      values = [r[c] for c in study_results.RETURN_COLUMNS if r.get(c) is not None]
      best[r["psi"]] = max([best.get(r["psi"], -np.inf)] + values)
  if not best:
    return None
  return np.array([best.get(psi_label(p), np.nan) for p in psis])


def winners(values: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray, np.ndarray]:
  """{candidate: [G]} -> (the winner per task, the best return [G], its margin over the runner-up [G]);
  NaN (a task a candidate lacks) never wins; a tie goes to the candidate listed first (margin 0)."""
  names = list(values)
  stack = np.stack([np.where(np.isnan(values[n]), -np.inf, values[n]) for n in names])   # [C, G]
  order = np.argsort(-stack, axis=0, kind="stable")
  best = np.take_along_axis(stack, order[:1], axis=0)[0]
  second = np.take_along_axis(stack, order[1:2], axis=0)[0] if len(names) > 1 else np.full_like(best, np.nan)
  return [names[i] for i in order[0]], best, best - second


def disagreement(values: dict[str, np.ndarray]) -> np.ndarray:
  """[G]: the spread (max - min) of the oracle candidates' returns per task (NaN with fewer than two)."""
  oracles = [v for n, v in values.items() if n not in NOT_ORACLES]
  if len(oracles) < 2:
    return np.full(next(iter(values.values())).shape, np.nan)
  stack = np.stack(oracles)
  return np.max(stack, axis=0) - np.min(stack, axis=0)


def best_grid(psis: np.ndarray, best: np.ndarray) -> str:
  """The best known return of a 2-D set as a table: a row per value of psi_1, a column per psi_0 (a cell
  without a task is empty: the OOD set's ring)."""
  x_of, y_of = (lambda p: f"{p[0]:.3f}"), (lambda p: f"{p[1]:.3f}")
  xs = sorted({x_of(p) for p in psis}, key=float)
  ys = sorted({y_of(p) for p in psis}, key=float, reverse=True)
  cell = {(x_of(p), y_of(p)): b for p, b in zip(psis, best)}
  rows = [[y, *(f"{cell[(x, y)]:.0f}" if (x, y) in cell else "" for x in xs)] for y in ys]
  return tables.markdown(["psi_1 \\ psi_0", *xs], rows)
