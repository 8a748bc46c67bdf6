"""Which V* candidate wins each task of a config's test sets, by how much, and what the best known return is.

  python -m experiments.oracle_winners --config=experiments/configs/hopper_2d_study.py
                                      [--runs=docs/runs/hopper_2d_n100] [--sets=in_box,ood] [--reach=0]

Reads, never computes, the config's cached references (``eval.oracle``, the MPC oracle, the adaptation
floor: from the shipped tables or the oracle cache; one not found is named with the command that computes
it), computes the zero action (one rollout per start state) and, given ``--runs``, takes the best return
any run of that study folder reached on each task (every evaluator's, as the study's shared V*: ``study_results``).
Prints, per test set, a markdown section:
- per task: each candidate's return, the winner and its margin over the runner-up;
- the wins per candidate, and the tasks where the oracle candidates (all but the zero action and the
  runs) disagree most;
- on a 2-D box, the best known return as a grid (a row per value of psi's second coordinate);
- with ``--reach=N``: the N in-box tasks with the lowest best known return, each probed with one episode
  of the MPC oracle (the config's budget, the first start state and plan draw: ``oracles.mpc.mpc_features``),
  its task features' mean over the alive steps against psi: how far from the target the best planner got.
"""
import os
import sys

import jax
import numpy as np
from absl import flags

from admrl_jax import tables
from admrl_jax.cli.common import DEFAULT_CONFIG_PATH, config_paths, define_config, fail, run as run_main, start
from admrl_jax.config import ConfigError, build, validate
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.oracles.mpc import mpc_features
from admrl_jax.oracles.winners import NOT_ORACLES, best_grid, disagreement, psi_label, runs_best, winners

_CONFIG = define_config()
_RUNS = flags.DEFINE_string("runs", "", "a study folder (runs with eval.csv): its best return per task joins the "
                            "candidates as 'runs'")
_SETS = flags.DEFINE_list("sets", ["in_box", "ood"], "the test sets to report (in_box, ood)")
_REACH = flags.DEFINE_integer("reach", 0, "probe the N in-box tasks with the lowest best known return with one MPC "
                              "oracle episode each (needs eval.mpc_samples > 0)")
_TOP = 5

def set_report(set_name: str, psis: np.ndarray, values: dict[str, np.ndarray]) -> str:
  """The markdown section of one test set (see the module docstring)."""
  won, best, margin = winners(values)
  names = list(values)
  rows = [[psi_label(p), *(f"{values[n][i]:.1f}" for n in names), won[i], f"{margin[i]:.1f}"]
          for i, p in enumerate(psis)]
  out = [f"### {set_name} ({len(psis)} tasks)", "",
         tables.markdown(["psi", *names, "winner", "margin over the runner-up"], rows)]
  counts = ", ".join(f"{n} {won.count(n)}" for n in names)
  out.append(f"Wins: {counts}. Best known return: mean {best.mean():.1f}, min {best.min():.1f} at "
             f"({psi_label(psis[int(np.argmin(best))])}).")
  spread = disagreement(values)
  if np.any(np.isfinite(spread)):
    top = np.argsort(-np.nan_to_num(spread, nan=-np.inf))[:_TOP]
    out.append("Where the oracle candidates disagree most (max - min of "
               f"{', '.join(n for n in names if n not in NOT_ORACLES)}): "
               + "; ".join(f"({psi_label(psis[i])}) {spread[i]:.1f}, {won[i]} best" for i in top) + ".")
  if psis.shape[1] == 2:
    out += ["", best_grid(psis, best)]
  return "\n".join(out) + "\n"


def reach_report(protocol, psis: np.ndarray, best: np.ndarray, n: int) -> str:
  """The ``--reach`` probe: one MPC oracle episode at each of the n in-box tasks with the lowest best known
  return; its features' mean over the alive steps against the targets psi."""
  oracle = next(o for o in protocol.oracles if o.name == "mpc")   # main() checked eval.mpc_samples > 0
  probe = jax.jit(lambda p: mpc_features(protocol.family, p, protocol.eval_key, oracle.plan_horizon, oracle.samples,
                                         oracle.sigma, oracle.knot_every))
  rows = []
  for i in np.argsort(best)[:n]:
    mean_f, alive = probe(jax.numpy.asarray(psis[i]))
    mean_f = np.asarray(mean_f)
    rows.append([psi_label(psis[i]), f"{best[i]:.1f}", " ".join(f"{x:.2f}" for x in mean_f),
                 " ".join(f"{x:+.2f}" for x in mean_f - psis[i]), f"{int(alive)} of {protocol.family.env.horizon}"])
  return "\n".join([f"### Reach: the MPC oracle at the {n} lowest in-box tasks (start state 0, plan draw 0)", "",
                    tables.markdown(["psi", "best known", "features reached (mean over alive steps)",
                                     "minus psi", "alive steps"], rows)]) + "\n"


def main(argv):
  start(argv)
  config = _CONFIG.value
  try:
    validate(config)
  except ConfigError as err:
    fail(str(err))
  unknown = sorted(set(_SETS.value) - {"in_box", "ood"})
  if unknown or not _SETS.value:
    fail(f"sets: allowed in_box, ood; got {_SETS.value}")
  if _REACH.value < 0:
    fail(f"reach: a number of tasks >= 0, got {_REACH.value}")
  if _REACH.value and ("in_box" not in _SETS.value or not config.eval.mpc_samples):
    fail("reach: probes in-box tasks with the MPC oracle; needs in_box in --sets and eval.mpc_samples > 0")
  if _RUNS.value and not os.path.isdir(_RUNS.value):
    fail(f"runs: {_RUNS.value!r} is not a folder (a study folder of runs with eval.csv)")
  if "ood" in _SETS.value:
    config.eval.ood = True    # the OOD set's tasks do not depend on the switch
  _, evaluator = build(config)
  protocol = EvaluationProtocol.from_config(config, evaluator)
  given = config_paths(sys.argv) or [os.path.relpath(DEFAULT_CONFIG_PATH)]
  print(f"# V* candidates on {config.family} ({given[0]})\n")
  for set_name in _SETS.value:
    psis = protocol.test_sets[set_name]
    found = protocol.reference_values(psis)
    missing = [n for n, v in found.items() if v is None]
    for n in missing:
      print(f"{set_name}: {n} not computed (neither shipped nor cached): admrl-oracle-table --config={given[0]} "
            f"--oracle={n} --set={set_name} --pieces=N computes it\n")
    values = {n: v for n, v in found.items() if v is not None}
    if _RUNS.value:
      try:
        best_run = runs_best(_RUNS.value, set_name, np.asarray(psis))
      except ValueError as err:   # a run file that does not read as one
        fail(f"runs: {err}")
      if best_run is not None:
        values["runs"] = best_run
    print(set_report(set_name, np.asarray(psis), values))
    if set_name == "in_box" and _REACH.value:
      _, best, _ = winners(values)
      print(reach_report(protocol, np.asarray(psis), best, _REACH.value))


def run():
  """Console-script entry point (admrl-oracle-winners)."""
  run_main(main)


if __name__ == "__main__":
  run()
