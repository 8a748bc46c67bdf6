"""The model planner's own floor on an analytic family: the trajectory planner (``eval.planner_iters`` Adam
steps, the evaluation's start states and key) with the TRUE dynamics as its model, on the config's in-box
grid and OOD set, against a study folder's shared V*. Its gap is what the planner loses with a perfect
model (the optimiser's budget against the oracle's 1500 steps and every return the folder reached); a run's
model-planner gap at a task is the model's own only where it is well above this floor. Beside it, each of
the folder's rows' mean model-planner gap at the same task.

  python -m experiments.planner_floor --config=experiments/configs/point_mass_corner_study.py \\
      docs/runs/corner_confirmation

Brax families need no such floor: their model planner with the true dynamics is the MPC oracle itself
(tests/test_model_planner.py), one of V*'s candidates.
"""
import os

import numpy as np

from admrl_jax.cli.common import define_config, fail, run, start
from admrl_jax.config import ConfigError, build, validate
from admrl_jax.envs import ANALYTIC
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.oracles.planner import trajectory_planner_floor
from admrl_jax.study_results import NAMES, study_rows

_CONFIG = define_config("the study's config (its family, evaluation start states, key and planner budget)")


def truth_planner_returns(config) -> dict:
  """{set name: (psis [G, k], the planner's real return [G] with the true dynamics as its model)}."""
  _, evaluator = build(config)
  protocol = EvaluationProtocol.from_config(config, evaluator)
  if protocol.planner is None or protocol.planner.kind != "trajectory":
    fail("eval.planner_kind: the planner floor is for the trajectory planner (analytic families); with MPC "
         "the planner on the true dynamics is the MPC oracle, already a V* candidate")
  return {name: (np.asarray(psis), np.asarray(trajectory_planner_floor(protocol.planner, protocol.family, psis,
                                                                       protocol.eval_key)))
          for name, psis in protocol.test_sets.items()}


def matching(psi_key: str, psis: np.ndarray) -> int | None:
  """The index of the test task whose coordinates equal eval.csv's psi string (to 1e-3), or None."""
  x = np.asarray([float(v) for v in psi_key.split()])
  hits = np.flatnonzero(np.max(np.abs(psis - x), axis=1) < 1e-3) if x.shape[0] == psis.shape[1] else []
  return int(hits[0]) if len(hits) else None


def main(argv):
  (folder,) = start(argv, positional=("the study folder",))
  if not os.path.isdir(folder):
    fail(f"study folder: no such folder {folder!r}")
  config = _CONFIG.value
  if config.family not in ANALYTIC:   # (before the config's checks: a Brax family's backend is another matter)
    fail(f"family: the planner floor is for the analytic families {sorted(ANALYTIC)}, got {config.family!r}")
  try:
    validate(config)
  except ConfigError as err:
    fail(str(err))
  _, v_star, rows = study_rows(folder)
  found = truth_planner_returns(config)
  groups = sorted(rows)
  print(f"The trajectory planner with the true dynamics as its model (`{folder}`'s shared V*; gaps per task). "
        "Beside it, each row's mean model-planner gap there over its seeds.\n")
  for set_name, (psis, returns) in found.items():
    gaps = {}
    for (s, key), best in v_star.items():
      i = matching(key, psis) if s == set_name else None
      if i is not None:
        gaps[key] = best - float(returns[i])
    if not gaps:
      fail(f"study folder: {folder!r} holds no {set_name} task of this config's test sets (another config?)")
    row_means = {g: {k: np.mean([e["planner"]["gaps"][set_name][k] for e in rows[g]
                                 if e.get("planner") and k in e["planner"]["gaps"].get(set_name, {})] or [np.nan])
                     for k in gaps} for g in groups}
    print(f"### {set_name}: worst floor gap {max(gaps.values()):.1f} at ({max(gaps, key=gaps.get)}), "
          f"mean {np.mean(list(gaps.values())):.1f}\n")
    print("| task | planner floor gap | " + " | ".join(f"{NAMES.get(g, g)} planner gap (mean)" for g in groups) + " |")
    print("|---|---|" + "---|" * len(groups))
    order = sorted(gaps, key=lambda k: -max([gaps[k]] + [row_means[g][k] for g in groups
                                                         if np.isfinite(row_means[g][k])]))
    for k in order[:10]:
      print(f"| ({k}) | {gaps[k]:.1f} | " + " | ".join(f"{row_means[g][k]:.1f}" for g in groups) + " |")
    print()


if __name__ == "__main__":
  run(main)
