"""The model link of a study: each run's final model, its open-loop prediction error in every test-task cell
on real trajectories it did not train on, beside its gap there (``admrl_jax.model_error``).

  python -m experiments.model_error_map docs/runs/hopper_2d_n100 --runs_root=runs/hopper_2d_n100 \\
      [--runs=admrl-s1,unif-s1] [--per_cell=16] [--horizons=1,10,40] [--stride=5] \\
      [--regions="fast backward:-2,1.2:-1.3333,2.0"] [--out=docs/runs/hopper_2d_n100/model_error/map.json]

The pool is the real trajectories in the final replay buffers of the runs measured (each run's last
checkpoint under --runs_root, which must be the published run's final iteration), binned into the folder's
in-box grid cells by the task each was collected for (--bin_by=task, the default; the first episodes, of
random actions, have none) or by its mean features (--bin_by=features: where its behaviour went). Each
run is scored on up to --per_cell trajectories a cell
from the other runs of the pool (never its own data), the same ones for every run wherever that run does
not own them. Printed (and written with --out, the figure beside it): per run the mean error over the cells
every run's reference covers, per region, and the Spearman correlation over those cells between the error
and the run's gap there (model planner and policy evaluator, against the folder's shared V*). Does a model
plan worse where it predicts worse, and did the walk leave its model poor where its worst gaps are?
"""
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from scipy import stats

from admrl_jax import model_error, tables
from admrl_jax.cli.common import checked_json_out, checked_run_config, fail, run, start
from admrl_jax.config import is_model_free
from admrl_jax.configs.default import get_config as default_config
from admrl_jax.plots import study_gap_maps
from admrl_jax.run_dir import checkpoint_steps, load_run, restore_state
from admrl_jax.study_results import NAMES, group, load_runs, proposed_tasks, recompute, shared_v_star

_RUNS_ROOT = flags.DEFINE_string("runs_root", None, "the folder of the runs' directories with their checkpoints "
                                 "(e.g. runs/hopper_2d_n100)")
_RUNS = flags.DEFINE_list("runs", [], "run names to measure (default: every published model-based run of the folder "
                          "with checkpoints under --runs_root)")
_PER_CELL = flags.DEFINE_integer("per_cell", 16, "reference trajectories per cell, at most")
_HORIZONS = flags.DEFINE_list("horizons", ["1", "10", "40"], "open-loop prediction lengths (steps)")
_STRIDE = flags.DEFINE_integer("stride", 5, "a prediction starts at every stride-th step of a trajectory")
_REGIONS = flags.DEFINE_multi_string("regions", [], "name:lo:hi, a box of tasks (lo, hi: comma-separated corners) "
                                     "whose cells' mean error is reported; repeat the flag for more")
_BIN_BY = flags.DEFINE_enum("bin_by", "task", ["task", "features"], "a trajectory's cell: the task it was collected "
                            "for (its run's metrics.csv) or its mean features (the behaviour it achieved)")
_OUT = flags.DEFINE_string("out", "", "a JSON file for every number (the figure: the same path with .png)")


def positive_ints(name: str, values: list[str]) -> tuple[int, ...]:
  try:
    parsed = tuple(int(v) for v in values)
  except ValueError:
    fail(f"{name}: must be positive integers, got {values}")
  if not parsed or min(parsed) < 1:
    fail(f"{name}: must be positive integers, got {values}")
  return parsed


def regions() -> list[tuple[str, np.ndarray, np.ndarray]]:
  found = []
  for spec in _REGIONS.value:
    parts = spec.split(":")
    try:
      name, lo, hi = parts[0], np.asarray([float(x) for x in parts[1].split(",")]), \
          np.asarray([float(x) for x in parts[2].split(",")])
    except (IndexError, ValueError):
      fail(f"regions: {spec!r} is not name:lo:hi with comma-separated numbers (e.g. high:-2,1.87:2,2.0)")
    if len(parts) != 3 or lo.shape != hi.shape or np.any(lo > hi):
      fail(f"regions: {spec!r} needs name:lo:hi with as many numbers in lo and hi and lo <= hi")
    found.append((name, lo, hi))
  return found


def measured_runs(folder: str, root: str, published: list[dict]) -> list[dict]:
  """The published runs to measure, each with its run directory; exit 2 naming the run and what is
  wrong (not published, model-free, no checkpoint, or a last checkpoint that is not the published model)."""
  by_name = {r["name"]: r for r in published}
  names = _RUNS.value or [r["name"] for r in published if not is_model_free(r["summary"]["method"])
                          and checkpoint_steps(os.path.join(root, r["name"]))]
  chosen = []
  for name in names:
    if name not in by_name:
      fail(f"runs: {name!r} is not a published run of {folder!r} (<folder>/{name}/summary.json)")
    r = by_name[name]
    if is_model_free(r["summary"]["method"]):
      fail(f"runs: {name!r} is a run of the model-free baseline {r['summary']['method']!r}: it has no model")
    run_dir = os.path.join(root, name)
    steps = checkpoint_steps(run_dir)
    if not steps:
      fail(f"runs: {run_dir!r} holds no checkpoint (checkpoints live in the machine-local runs/)")
    if steps[-1] != r["summary"].get("iterations", steps[-1]):
      fail(f"runs: {run_dir!r}'s latest checkpoint is iteration {steps[-1]}, the published run ended at "
           f"iteration {r['summary']['iterations']}: not the published model")
    chosen.append({**r, "run_dir": run_dir})
  if len(chosen) < 2:
    fail(f"runs: need at least 2 runs (each is scored on the others' data), got {[r['name'] for r in chosen]}")
  return chosen


def within_cells(out: dict, centers: np.ndarray, common: np.ndarray, folder: str, permutations: int = 2000) -> str:
  """The links across runs, each task cell compared with itself: every (run, common cell) pair's values
  minus the cell's mean over the runs, then Spearman over the pairs (written into ``out``); its p from
  permutations of the runs' errors within each cell (the centred pairs of a cell are not independent).
  A difficulty that is the same for every run at a cell drops out, but not all of it: each run is scored
  on the others' trajectories, so where a run trained much the cell's reference is the others' and theirs
  is largely its own. Does a run whose model predicts worse at a cell than the other runs' models plan
  worse there, and did training there make its model better?"""
  names = list(out["runs"])
  share = [model_error.cell_shares(proposed_tasks(os.path.join(folder, n, "metrics.csv")), centers) for n in names]
  pairs = {"the run's share of its own proposed tasks in the cell": np.asarray(share)[:, common]}
  for which in ("planner", "policy"):
    g = [out["runs"][n]["gaps"].get(which) for n in names]
    if all(x is not None for x in g):
      pairs[f"its {which} gap there"] = np.asarray(g, float)[:, common]
  out["within_cells"], lines = {}, []
  for h, horizon in enumerate(out["horizons"]):
    err = np.asarray([out["runs"][n]["errors"][h] for n in names])[:, common]                 # [R, C], finite
    for label, values in pairs.items():
      cols = int(np.sum(np.all(np.isfinite(values), axis=0)))
      try:
        rho, p = model_error.within_cell_spearman(err, values, permutations)
      except ValueError:
        continue
      if not np.isfinite(rho):
        continue
      out["within_cells"][f"h={horizon}: {label}"] = {"rho": rho, "p": p, "cells": cols, "runs": len(names)}
      lines.append([str(horizon), label, str(cols), f"{rho:+.2f}", f"{p:.3g}"])
  return tables.markdown(["h", "a run's h-step model error in a cell, against", "cells (x every run)",
                          "Spearman rho (both centred on the cell's mean over runs)",
                          f"p ({permutations} permutations of the runs within each cell)"], lines)


def main(argv):
  (folder,) = start(argv, positional=("the study folder",))
  if not os.path.isdir(folder):
    fail(f"study folder: no such folder {folder!r}")
  if not _RUNS_ROOT.value or not os.path.isdir(_RUNS_ROOT.value):
    fail(f"runs_root: give the folder of the runs' directories with checkpoints, got {_RUNS_ROOT.value!r}")
  horizons = positive_ints("horizons", _HORIZONS.value)
  for flag in (_STRIDE, _PER_CELL):
    if flag.value < 1:
      fail(f"{flag.name}: must be a positive integer, got {flag.value}")
  stride, per_cell = _STRIDE.value, _PER_CELL.value
  boxes = regions()
  checked_json_out("out", _OUT.value)
  try:
    published = load_runs(folder)
  except ValueError as err:
    fail(f"study folder: {err}")
  with_rows = [r for r in published if r["rows"]]
  if not with_rows:
    fail(f"study folder: {folder!r} holds no published run with an eval.csv")
  labels = [r["psi"] for r in with_rows[0]["rows"] if r["set"] == "in_box" and r["budget"] == "zero_shot"]
  centers = np.asarray([[float(x) for x in p.split()] for p in labels])
  for spec, (_, lo, _) in zip(_REGIONS.value, boxes):
    if lo.shape[0] != centers.shape[1]:
      fail(f"regions: the folder's tasks have {centers.shape[1]} coordinates, got {lo.shape[0]} in {spec!r}")
  try:
    half = model_error.grid_half_width(centers)
  except ValueError as err:
    fail(f"study folder: its in-box tasks are not a grid: {err}")
  runs = measured_runs(folder, _RUNS_ROOT.value, published)
  v_star = shared_v_star(published)

  models, pool, owners, points = [], [], [], []
  for i, r in enumerate(runs):
    checked_run_config(r["run_dir"])
    print(f"{r['name']}: restoring its last checkpoint", file=sys.stderr)
    config, loop, _ = load_run(r["run_dir"], default_config())
    state, _ = restore_state(r["run_dir"], loop, config.seed)
    size = int(state.buffer.size)
    if int(state.buffer.ptr) != size % state.buffer.capacity:
      fail(f"runs: {r['run_dir']!r}'s buffer has wrapped (overwritten its oldest episodes): their tasks are unknown")
    data = jax.tree.map(lambda x: np.asarray(x[:size]), state.buffer.data)
    if _BIN_BY.value == "task":
      psi = proposed_tasks(os.path.join(folder, r["name"], "metrics.csv")).reshape(
          int(r["summary"]["iterations"]), loop.num_tasks, -1)
      try:
        points.append(model_error.buffer_tasks(psi, loop.initial_episodes, loop.collection_episodes, size))
      except ValueError as err:
        fail(f"runs: {r['name']}: {err}")
    else:
      points.append(model_error.mean_features(data))
    pool.append(data)
    owners.append(np.full(size, i))
    models.append((loop.learner.model, state.model))
  pool = jax.tree.map(lambda *xs: np.concatenate(xs), *pool)
  owners = np.concatenate(owners)
  cells = model_error.cells_of(np.concatenate(points), centers, half)
  scale = jnp.asarray(model_error.step_scale(pool))

  out = {"folder": folder, "runs_root": _RUNS_ROOT.value, "pool": [r["name"] for r in runs], "bin_by": _BIN_BY.value,
         "horizons": horizons,
         "per_cell": per_cell, "stride": stride, "cells": labels, "scale": np.asarray(scale).tolist(),
         "pool_trajectories": int(len(cells)), "pool_in_cells": int(np.sum(cells >= 0)), "runs": {}}
  for i, (r, (model, model_state)) in enumerate(zip(runs, models)):
    chosen = model_error.reference_indices(cells, owners, i, per_cell, len(centers))
    ref = jax.tree.map(lambda x: jnp.asarray(x[chosen]), pool)
    predict = lambda obs, action, m=model, s=model_state: m.predict(s.params, s.norms, obs, action)
    errors, valid = jax.jit(model_error.open_loop_errors, static_argnums=(0, 3, 4))(
        predict, ref, scale, horizons, stride)
    errors, valid = np.asarray(errors), np.asarray(valid)
    if not np.all(np.isfinite(errors[valid])):
      fail(f"{r['name']}: its model's predictions are not finite on the reference (NaN or inf)")
    means = model_error.cell_means(errors, valid, cells[chosen], len(centers))
    counts = np.bincount(cells[chosen], minlength=len(centers))
    gaps = {}
    for which, column in (("planner", "planner_return"), ("policy", "return")):
      found = recompute(r, v_star, column)
      if found is not None:
        gaps[which] = [found["gaps"]["in_box"].get(p, np.nan) for p in labels]
    out["runs"][r["name"]] = {"group": group(r), "seed": r["summary"]["seed"], "reference_per_cell": counts.tolist(),
                              "errors": means.tolist(), "gaps": gaps}
    print(f"{r['name']}: {len(chosen)} reference trajectories in {int(np.sum(counts > 0))} cells", file=sys.stderr)

  # the cells every run is scored on at every horizon (a cell whose reference episodes all fall before the
  # longest horizon has no h-step start there)
  common = np.all([np.all(np.isfinite(np.asarray(v["errors"])), axis=0) for v in out["runs"].values()], axis=0)
  out["common_cells"] = [labels[c] for c in np.flatnonzero(common)]
  header = ["run", "cells scored for every run (common / all)"]
  header += [f"error, h = {h} (mean over common cells)" for h in horizons]
  header += [f"{name}, h = {horizons[-1]}" for name, _, _ in boxes]
  header += [f"Spearman rho ({which} gap, error at h = {horizons[-1]}) (p)" for which in ("planner", "policy")]
  rows = []
  for name, v in out["runs"].items():
    err = np.asarray(v["errors"])
    row = [name, f"{int(common.sum())} / {len(labels)}"]
    row += [f"{np.mean(err[h][common]):.2f}" for h in range(len(horizons))]
    v["region_errors"] = {}
    for region, lo, hi in boxes:
      inside = common & np.all((centers >= lo - 1e-9) & (centers <= hi + 1e-9), axis=1)
      value = float(np.mean(err[-1][inside])) if inside.any() else float("nan")
      v["region_errors"][region] = value
      row.append(f"{value:.2f} ({int(inside.sum())} cells)" if inside.any() else "-")
    v["spearman"] = {}
    for which in ("planner", "policy"):
      g = np.asarray(v["gaps"].get(which, [np.nan] * len(labels)), float)
      ok = common & np.isfinite(g)
      if ok.sum() < 3 or len(set(g[ok])) < 2 or len(set(err[-1][ok])) < 2:
        v["spearman"][which] = None
        row.append("-")
        continue
      rho, p = stats.spearmanr(err[-1][ok], g[ok])
      v["spearman"][which] = {"rho": float(rho), "p": float(p), "cells": int(ok.sum())}
      row.append(f"{rho:+.2f} ({p:.3f})")
    rows.append(row)
  text = tables.markdown(header, rows) + "\n" + within_cells(out, centers, common, folder)
  print(text, end="")
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as fh:
      json.dump(out, fh, indent=1)
    with open(os.path.splitext(_OUT.value)[0] + ".md", "w") as fh:
      command = (f"python -m experiments.model_error_map {folder} --runs_root={_RUNS_ROOT.value} "
                 f"--runs={','.join(out['pool'])} --per_cell={per_cell} --horizons={','.join(map(str, horizons))} "
                 f"--stride={stride} --bin_by={_BIN_BY.value}"
                 + "".join(f" --regions='{spec}'" for spec in _REGIONS.value))
      fh.write(f"Generated by `{command}`.\n\n{text}")
    figure = os.path.splitext(_OUT.value)[0] + ".png"
    panel = lambda v: f"{NAMES.get(v['group'], v['group'])} s{v['seed']}"
    maps = {panel(v): np.asarray(v["errors"][-1]) for v in out["runs"].values()}
    task_paths = {panel(v): [proposed_tasks(os.path.join(folder, n, "metrics.csv"))] for n, v in out["runs"].items()}
    study_gap_maps(figure, maps, centers, task_paths, f"{horizons[-1]}-step open-loop model error per task cell "
                   "(on the other runs' real trajectories; blank: no reference) and each run's proposed tasks",
                   label=f"model error, h = {horizons[-1]}")
    print(f"wrote {_OUT.value}, its .md and {figure}", file=sys.stderr)


if __name__ == "__main__":
  run(main)
