"""The V* oracle on a family's in-box test set, reported at the corners and the centre of the box.

  python -m experiments.oracle_table --config=experiments/configs/hopper_2d_cpu.py [--tasks=grid|corners]
                                    [--out=docs/figures] [--ship]

Runs the config's oracles (``EvaluationProtocol``: ``eval.oracle``, budget ``eval.oracle_iters``, and the
others the evaluation runs) through the on-disk cache on one of two task sets:
  grid     the very set that evaluation uses (the 7 x 7 / 5 x 5 x 3 grid, or the random and corner
           tasks in higher dimensions), so either this command or a run's evaluation computes it and
           the other loads it;
  corners  only the box's corners (all of them up to 8, else 8 drawn at random) and its centre: the
           same oracle at a tenth of the grid's cost, for the table without a full evaluation.
Prints a markdown table (V*, the zero action's return on the same episodes -- the "do nothing" floor --,
the MPC oracle's return if ``eval.mpc_samples`` > 0, and the learning curve's last checkpoints, at
every corner and the centre, then the set's mean) and writes
<out>/oracle_<family>.png (the curves, with MPC's returns as stars).
"""
import itertools
import os
import shlex
import sys

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from absl import flags  # noqa: E402

from admrl_jax import tables  # noqa: E402
from admrl_jax.config import ConfigError, build, validate  # noqa: E402
from admrl_jax.evaluation_protocol import EvaluationProtocol  # noqa: E402
from admrl_jax.oracles import eval_stream  # noqa: E402
from admrl_jax.cli.common import (DEFAULT_CONFIG_PATH, checked_folder, config_paths, define_config, fail,  # noqa: E402
                                  run as run_main, start)

_CONFIG = define_config()
_TASKS = flags.DEFINE_enum("tasks", "grid", ["grid", "corners"], "the evaluation's in-box set, or corners and centre")
_OUT = flags.DEFINE_string("out", "docs/figures", "folder of the learning-curve figure")
_SHIP = flags.DEFINE_bool("ship", False, "after computing the evaluation's test sets (in-box, and OOD where eval.ood), "
                          "copy their V* tables and, where the floor runs, the adaptation floor's into the package "
                          "(admrl_jax/oracles/v_star/, with index.json: budget, commit, command): a fresh clone "
                          "then evaluates this config without recomputing them")
_MAX_CORNERS = 8


def corners_and_centre(box, psis: np.ndarray) -> list[tuple[str, int]]:
  """(label, row) of the test set's tasks at a corner of the box (at most 8) and at its centre."""
  unit = (2.0 * psis - (np.asarray(box.lo) + np.asarray(box.hi))) / (np.asarray(box.hi) - np.asarray(box.lo))
  corners = [i for i in range(len(psis)) if np.allclose(np.abs(unit[i]), 1.0, atol=1e-5)][:_MAX_CORNERS]
  centre = [i for i in range(len(psis)) if np.allclose(unit[i], 0.0, atol=1e-5)][:1]
  return [("corner", i) for i in corners] + [("centre", i) for i in centre]


def box_corners_and_centre(box, key: jax.Array) -> np.ndarray:
  """[C + 1, k]: the box's corners (all when 2^k <= 8, else 8 distinct ones at random), then its centre."""
  lo, hi = np.asarray(box.lo, np.float64), np.asarray(box.hi, np.float64)
  k = lo.shape[0]
  if 2 ** k <= _MAX_CORNERS:
    signs = np.array(list(itertools.product([0, 1], repeat=k)))
  else:
    signs = np.unique(np.asarray(jax.random.bernoulli(key, 0.5, (4 * _MAX_CORNERS, k))).astype(int), axis=0)
    signs = signs[:_MAX_CORNERS]
  corners = lo + signs * (hi - lo)
  return np.concatenate([corners, ((lo + hi) / 2)[None]], axis=0).astype(np.float32)


def main(argv):
  start(argv)
  config, e = _CONFIG.value, _CONFIG.value.eval
  try:
    validate(config)
  except ConfigError as err:
    fail(str(err))
  if _SHIP.value and (_TASKS.value != "grid" or not e.oracle_cache):
    fail("ship: ships the evaluation's own sets; needs --tasks=grid and eval.oracle_cache set")
  checked_folder("out", _OUT.value)
  _, evaluator = build(config)
  protocol = EvaluationProtocol.from_config(config, evaluator)   # the evaluation's own oracles and test sets
  family = protocol.family
  if _SHIP.value:
    given = config_paths(sys.argv) or [os.path.relpath(DEFAULT_CONFIG_PATH)]
    protocol.ship_tables(given[0], " ".join(
        ["python -m experiments.oracle_table"] + [shlex.quote(a) for a in sys.argv[1:]]))
  if _TASKS.value == "grid":
    psis = protocol.test_sets["in_box"]   # exactly evaluation's in-box set: one cache entry for both
  else:
    psis = jax.numpy.asarray(box_corners_and_centre(family.box, eval_stream(protocol.eval_key, "corners")))
  found = protocol.oracle_returns(psis)
  main_oracle, *others = protocol.oracles
  v_star, curve, hit, seconds = found[main_oracle.name]
  mpc = found.get("mpc")
  if mpc is not None:
    print(f"MPC oracle ({e.mpc_samples} plans of {e.mpc_plan_horizon} steps, sigma {e.mpc_sigma}, "
          f"knots every {e.mpc_knot_every} steps): {'cached' if mpc.hit else f'computed in {mpc.seconds:.0f} s'}")
    mpc = mpc.v
  psis, every = np.asarray(psis), e.oracle_iters // curve.shape[0]
  steps = every * (1 + np.arange(curve.shape[0]))
  print(f"{config.family}: {e.oracle} oracle, {e.oracle_iters} updates, {len(psis)} tasks ({_TASKS.value}), "
        f"{'cached' if hit else f'computed in {seconds:.0f} s'}")
  columns = {f"{e.oracle} oracle V*": v_star, **{o.label.removeprefix("the "): found[o.name].v for o in others}}
  rows = corners_and_centre(family.box, psis)
  mean = curve.mean(axis=1)
  cells = [[f"{label} ({', '.join(f'{x:.2f}' for x in psis[i])})", *(f"{v[i]:.0f}" for v in columns.values()),
            ", ".join(f"{x:.0f}" for x in curve[-4:, i])] for label, i in rows]
  cells.append([f"mean of the {len(psis)}", *(f"{np.mean(v):.0f}" for v in columns.values()),
                ", ".join(f"{x:.0f}" for x in mean[-4:])])
  print(tables.markdown(["task psi", *columns, f"curve at updates {', '.join(str(s) for s in steps[-4:])}"], cells),
        end="")
  os.makedirs(_OUT.value, exist_ok=True)
  fig, ax = plt.subplots(figsize=(5.5, 4.0))
  for label, i in rows:
    (line,) = ax.plot(steps, curve[:, i], label=f"{label} ({', '.join(f'{x:.1f}' for x in psis[i])})")
    if mpc is not None:  # MPC has no learning curve: its return, at the right edge in the task's colour
      ax.plot(steps[-1], mpc[i], "*", color=line.get_color(), ms=10, clip_on=False)
  ax.plot(steps, mean, "k--", label=f"mean of the {len(psis)} ({_TASKS.value})")
  if mpc is not None:
    ax.plot([], [], "k*", ls="none", label=f"MPC ({e.mpc_samples} plans of {e.mpc_plan_horizon} steps, "
                                                  f"knots every {e.mpc_knot_every})")
  ax.set_xlabel("oracle update" if e.oracle == "policy" else "optimisation step")
  ax.set_ylabel("return (on-policy, during optimisation)")
  ax.set_title(f"V* oracle on {config.family}: corners, centre and the set's mean", fontsize=9)
  ax.legend(fontsize=6)
  fig.tight_layout()
  path = os.path.join(_OUT.value, f"oracle_{config.family}.png")
  fig.savefig(path, dpi=110)
  print(f"wrote {path}")


def run():
  """Console-script entry point (admrl-oracle-table)."""
  run_main(main)


if __name__ == "__main__":
  run()
