"""The model planner audited: does a run's planner fail where it exploits its model? A published run's final
model (its last checkpoint in runs/) planned through again on the in-box grid with the study's own key
(``oracles.mpc.mpc_audit``: the same start states, plan draws and actions, so the same returns), each
control step's chosen plan scored twice, by the model (what it promised) and by the true system from the
true state (what that plan returns). A task's optimism is the mean over its episodes' alive steps of
promised minus true, in return over one plan (``eval.mpc_plan_horizon`` steps).

  python -m experiments.planner_optimism --run_dir=runs/hopper_2d_n100/admrl-s1 \\
      --published=docs/runs/hopper_2d_n100 --out=docs/runs/hopper_2d_n100/planner_optimism/admrl-s1.json
  python -m experiments.planner_optimism --table=docs/runs/hopper_2d_n100

Per run: whether the returns reproduce the published ones, the mean optimism, and Spearman's rho over the
grid between a task's optimism and the run's planner gap there (against the folder's shared V*). --table:
those rows for every measured run of the folder, and the comparison across runs within each task
(``model_error.within_cell_spearman``: does a run whose planner is more optimistic at a task than the
other runs' planners there have the larger gap there?), written to <folder>/planner_optimism/table.md.
"""
import glob
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from scipy import stats

from admrl_jax import model_error, tables
from admrl_jax.cli.common import checked_json_out, checked_run_config, fail, run, start, write_json
from admrl_jax.config import is_model_free
from admrl_jax.configs.default import get_config as default_config
from admrl_jax.evaluation import map_items
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.oracles.mpc import model_mpc_audit_fn
from admrl_jax.run_dir import checkpoint_steps, load_run, restore_state
from admrl_jax.study_results import load_runs, proposed_tasks, shared_v_star

_RUN_DIR = flags.DEFINE_string("run_dir", None, "a run directory with its checkpoints (its latest is audited)")
_PUBLISHED = flags.DEFINE_string("published", None, "the study folder holding the run's published eval.csv")
_OUT = flags.DEFINE_string("out", "", "a JSON file for the per-task numbers (optional)")
_TABLE = flags.DEFINE_string("table", None, "instead: a study folder whose planner_optimism/*.json are tabled")
BATCH = 8   # tasks audited at once


def run_row(name: str, m: dict, v_star: dict) -> tuple[list[str], np.ndarray, np.ndarray]:
  """A measured run's table row, its gaps [G] against ``v_star`` and its optimism [G]."""
  gaps = np.asarray([v_star[("in_box", p)] - r for p, r in zip(m["labels"], m["real"])])
  optimism = np.asarray(m["optimism"])
  rho, p = stats.spearmanr(optimism, gaps)
  worst = int(np.argmax(gaps))
  row = [name, f"{m['reproduced']:.3g}", f"{np.mean(optimism):+.1f}", f"{np.median(optimism):+.1f}",
         f"{m['labels'][worst].replace(' ', ':')} ({gaps[worst]:.1f}; {optimism[worst]:+.1f})", f"{rho:+.2f} ({p:.3f})"]
  return row, gaps, optimism


HEADER = ["run", "returns minus published: largest |difference|", "optimism: mean over tasks", "median",
          "worst task (its gap; its optimism)", "Spearman rho (optimism, planner gap) over tasks (p)"]


def write_table(folder: str) -> None:
  paths = sorted(glob.glob(os.path.join(folder, "planner_optimism", "*.json")))
  if not paths:
    fail(f"table: no {os.path.join(folder, 'planner_optimism', '*.json')!r} (audit runs first: --run_dir --published)")
  try:
    v_star = shared_v_star(load_runs(folder))
  except ValueError as err:
    fail(f"table: {err}")
  rows, gaps, optimism = [], [], []
  for path in paths:
    with open(path) as fh:
      m = json.load(fh)
    row, g, o = run_row(os.path.splitext(os.path.basename(path))[0], m, v_star)
    rows.append(row)
    gaps.append(g)
    optimism.append(o)
  text = tables.markdown(HEADER, rows)
  if len(paths) >= 2 and len({len(g) for g in gaps}) == 1:
    names = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    centers = np.asarray([[float(x) for x in p.split()] for p in m["labels"]])
    share = [model_error.cell_shares(proposed_tasks(os.path.join(folder, n, "metrics.csv")), centers) for n in names]
    lines = []
    for x_label, y_label, x, y in (("optimism", "planner gap", optimism, gaps),
                                   ("the run's share of its proposed tasks in the task's cell", "optimism", share,
                                    optimism)):
      rho, p = model_error.within_cell_spearman(np.asarray(x), np.asarray(y))
      lines.append([x_label, y_label, f"{rho:+.2f}", f"{p:.3g}"])
    text += (f"\nAcross the {len(paths)} runs, within each of the {len(gaps[0])} tasks (both quantities centred on "
             "the task's mean over the runs; p from 2000 permutations of the runs within each task):\n\n"
             + tables.markdown(["x", "y", "Spearman rho (x, y)", "p"], lines))
  out = os.path.join(folder, "planner_optimism", "table.md")
  with open(out, "w") as fh:
    fh.write(f"Generated by `python -m experiments.planner_optimism --table={folder}`.\n\n{text}")
  print(text, end="")
  print(f"wrote {out}", file=sys.stderr)


def main(argv):
  start(argv)
  if _TABLE.value is not None:
    write_table(_TABLE.value)
    return
  if not _RUN_DIR.value:
    fail("run_dir: give a run directory with a checkpoint")
  if not _PUBLISHED.value:
    fail("published: give the study folder that holds the run's published eval.csv")
  checked_json_out("out", _OUT.value)
  name = os.path.basename(os.path.normpath(_RUN_DIR.value))
  try:
    runs = load_runs(_PUBLISHED.value)
  except ValueError as err:
    fail(f"published: {err}")
  mine = [r for r in runs if r["name"] == name and r["rows"]]
  if not mine:
    fail(f"published: no {os.path.join(_PUBLISHED.value, name, 'eval.csv')!r} (the run's published evaluation)")
  config = checked_run_config(_RUN_DIR.value)
  if is_model_free(config.method):
    fail(f"run_dir: {_RUN_DIR.value!r} is a run of the model-free baseline {config.method!r}: it has no model")
  if config.eval.model_planner == "off" or config.eval.planner_kind == "trajectory":
    fail(f"run_dir: {_RUN_DIR.value!r}'s config has no MPC model planner (eval.model_planner, eval.planner_kind)")
  steps = checkpoint_steps(_RUN_DIR.value)
  if not steps:
    fail(f"run_dir: {_RUN_DIR.value!r} holds no checkpoint")
  if steps[-1] != mine[0]["summary"].get("iterations", steps[-1]):
    fail(f"run_dir: its latest checkpoint is iteration {steps[-1]}, the published run ended at iteration "
         f"{mine[0]['summary']['iterations']}: not the published model")
  published = {r["psi"]: r.get("planner_return") for r in mine[0]["rows"]
               if r["set"] == "in_box" and r["budget"] == "zero_shot"}

  config, loop, evaluator = load_run(_RUN_DIR.value, default_config())
  protocol = EvaluationProtocol.from_config(config, evaluator, loop)
  planner = protocol.planner
  if planner is None or planner.kind != "mpc":
    fail(f"run_dir: {_RUN_DIR.value!r}'s evaluation has no MPC model planner")
  state, _ = restore_state(_RUN_DIR.value, loop, config.seed)
  psis = protocol.test_sets["in_box"]
  labels = [" ".join(f"{x:.3f}" for x in p) for p in np.asarray(psis)]
  if any(published.get(p) is None for p in labels):
    fail(f"published: {name}'s eval.csv lacks the planner's return on some in-box task of the run's test set")
  audit = model_mpc_audit_fn(evaluator.learner, planner.episodes, planner.samples, planner.plan_horizon,
                             planner.sigma, planner.knot_every)
  batch = jax.jit(jax.vmap(audit, in_axes=(None, 0, None)))
  real, optimism, promised, true = map_items(lambda p: batch(state.model, p, protocol.eval_key), BATCH,
                                             jnp.asarray(psis), desc=f"{name}: the planner audited")
  real = np.asarray(real, np.float64)
  reproduced = float(np.max(np.abs(real - [published[p] for p in labels])))
  m = {"run_dir": _RUN_DIR.value, "published": _PUBLISHED.value, "labels": labels, "real": real.tolist(),
       "optimism": np.asarray(optimism).tolist(), "promised": np.asarray(promised).tolist(),
       "true": np.asarray(true).tolist(), "reproduced": reproduced, "plan_horizon": planner.plan_horizon}
  if not np.all(np.isfinite(m["optimism"])):
    fail(f"{name}: the audit's optimism is not finite on some task (a plan's score blew up)")
  row, _, _ = run_row(name, m, shared_v_star(runs))
  print(tables.markdown(HEADER, [row]), end="")
  if _OUT.value:
    write_json(_OUT.value, m)


if __name__ == "__main__":
  run(main)
