"""The evaluation protocol of SPEC section 5: V*, the policy evaluator, the floor and the model planner.

For each test set (the in-box grid, the OOD grid) ``evaluate`` computes
- V*: the cached oracle (trajectory optimisation, or policy optimisation on Brax families), the MPC
  oracle if asked for, the zero action, and the floor's and the planner's returns (the best known);
- the policy evaluator: a fresh policy adapted on the run's final model per task (zero-shot, then the
  few-shot budgets), with ``eval.adapt_seeds`` adaptation seeds: a task's return is their mean, their
  spread is reported; its curve (batch return per TRPO update, real return at a few update counts);
- the adaptation floor (``eval.floor``): the same adaptation, same budget, on the true dynamics; the
  gap it leaves is what adaptation alone costs. It does not depend on the run: cached like the oracle;
- the model planner (``eval.model_planner``): the trajectory oracle's optimiser through the learned
  model, its plans executed on the true system from the same start states. Deterministic given the
  model, and free of adaptation noise: its gap belongs to the model alone.
``evaluate_state`` turns that into eval.csv, eval_table.{csv,md}, the heat maps and the summary.
"""
from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from admrl_jax import plots
from admrl_jax.evaluation import best_known_return, few_shot, gap_summary, zero_shot
from admrl_jax.oracle import cached_oracle, model_planner, zero_action_returns
from admrl_jax.oracle_budgets import floor_budget, mpc_budget, oracle_budget
from admrl_jax.rollout import model_step_fn

# Families whose true dynamics are cheap, deterministic and differentiable (pure JAX): "auto" turns the
# floor (adaptation on the true system at the evaluator's budget) and the model planner on for them.
ANALYTIC_FAMILIES = ("point_mass",)


def switched_on(value: str, family) -> bool:
  """An ``eval.floor`` / ``eval.model_planner`` switch resolved for a family."""
  return value == "on" or (value == "auto" and family.name in ANALYTIC_FAMILIES)


@functools.lru_cache(maxsize=4)
def _planner_fn(learner, episodes: int, iters: int):
  """Jitted model planner (model state, psis, eval key) -> (real [G], predicted [G], curve [C, G])."""
  family, model = learner.family, learner.model
  return jax.jit(lambda ms, psis, key: model_planner(family, model_step_fn(model, ms, family.env), psis, key,
                                                     episodes, iters))


def _seed_std(returns: np.ndarray) -> np.ndarray:
  """Per-task sample std (ddof 1) over adaptation seeds [S, G] -> [G]; NaN for a single seed."""
  return np.std(returns, axis=0, ddof=1) if returns.shape[0] > 1 else np.full(returns.shape[1], np.nan)


def evaluate(config, loop, evaluator, state, log=print):
  """Per test set: V*, the policy evaluator's returns (zero-shot and few-shot; mean and std over
  ``eval.adapt_seeds``), its curve, and where switched on the floor and the model planner.

  The start states, the oracle and the floor use ``eval.seed`` (the same for every run, so they are
  cached once and gaps compare across seeds and methods); the policy evaluator's adaptation uses the
  run's seed. V* is the best known return (``best_known_return``); gaps also count the method's own.
  """
  family, e = loop.family, config.eval
  eval_key = jax.random.key(e.seed)
  k_adapt = jax.random.fold_in(jax.random.key(config.seed), 10_000)
  boxes = {"in_box": family.box, "ood": family.box.widened(e.ood_fraction)}
  results = {}
  for name, box in boxes.items():
    psis = box.test_tasks(jax.random.fold_in(eval_key, 2), e.grid_points, tuple(e.grid_points_3d), e.random_tasks)
    if name == "ood":  # the OOD test set: the widened box's grid points outside the training box
      inside = jnp.all((psis >= jnp.asarray(family.box.lo)) & (psis <= jnp.asarray(family.box.hi)), axis=1)
      psis = psis[~np.asarray(inside)]
    log(f"evaluating {psis.shape[0]} {name} tasks: V* oracle ({e.oracle}, {e.oracle_iters} steps; loaded if "
        f"cached), then adaptation on the model ({e.adapt_seeds} seeds)")
    timed = lambda what, t0, hit: log(f"{what} on {psis.shape[0]} {name} tasks: {'cached' if hit else 'computed'} "
                                      f"in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    v_star, curve, hit = cached_oracle(family, psis, eval_key, *oracle_budget(config, evaluator, psis, eval_key),
                                       e.oracle_cache)
    timed("oracle V*", t0, hit)
    candidates = {f"the {e.oracle} oracle": v_star,
                  "the zero action": jax.jit(lambda p, k: zero_action_returns(family, p, k, e.episodes))(psis, eval_key)}
    if e.mpc_samples:
      t0 = time.perf_counter()
      candidates["the MPC oracle"], _, hit = cached_oracle(family, psis, eval_key,
                                                           *mpc_budget(config, family, psis, eval_key), e.oracle_cache)
      timed("MPC oracle", t0, hit)
    res = {"psi": np.asarray(psis), "oracle_curve": np.asarray(curve).mean(axis=1)}
    if switched_on(e.floor, family):
      t0 = time.perf_counter()
      returns, floor_curve, hit = cached_oracle(family, psis, eval_key,
                                                *floor_budget(config, evaluator, psis, eval_key), e.oracle_cache)
      timed(f"adaptation floor ({e.adapt_updates} updates on the true dynamics)", t0, hit)
      returns = np.asarray(returns)
      res["floor"] = {"return": returns.mean(axis=0), "std": _seed_std(returns),
                      "curve": np.asarray(floor_curve).mean(axis=1)}
      candidates["the adaptation floor"] = res["floor"]["return"]
    if switched_on(e.model_planner, family):
      t0 = time.perf_counter()
      real, predicted, plan_curve = _planner_fn(evaluator.learner, e.episodes, e.oracle_iters)(
          state.model, psis, eval_key)
      res["planner"] = {"return": np.asarray(real), "predicted": np.asarray(predicted),
                        "curve": np.asarray(plan_curve).mean(axis=1)}
      timed("model planner", t0, False)
      candidates["the model planner"] = res["planner"]["return"]
    t0 = time.perf_counter()
    returns, batch, real = zero_shot(evaluator, state.model, psis, k_adapt, eval_key, e.adapt_seeds)
    by_seed = {"zero_shot": returns}
    res["curve"] = {"batch": batch.mean(axis=(0, 1)), "real": real.mean(axis=(0, 1))}
    for episodes in e.few_shot_episodes:
      by_seed[f"few_shot_{episodes * family.env.horizon}"] = few_shot(
          evaluator, state.model, state.buffer, psis, k_adapt, eval_key, e.adapt_seeds, episodes)
    log(f"policy evaluator on {psis.shape[0]} {name} tasks: {time.perf_counter() - t0:.1f} s")
    res["returns"] = {b: r.mean(axis=0) for b, r in by_seed.items()}
    res["return_std"] = {b: _seed_std(r) for b, r in by_seed.items()}
    res["v_star"] = best_known_return(candidates, log=lambda line: log(f"{name}: {line}"))
    results[name] = res
  return results


def gap_rows(results: dict) -> list[dict]:
  """One row per (test set, budget) of the policy evaluator: worst-case, mean and CVaR-10% gap; adds
  gaps to results (``reference_rows`` does the same for the floor and the planner)."""
  rows = []
  for name, res in results.items():
    for budget, returns in res["returns"].items():
      try:
        gaps = gap_summary(returns, res["v_star"])
      except FloatingPointError as err:
        raise FloatingPointError(f"evaluation of the {name} set, budget {budget}: {err}") from err
      res.setdefault("gaps", {})[budget] = gaps["gaps"]
      rows.append({"set": name, "budget": budget, **{k: v for k, v in gaps.items() if k != "gaps"}})
  return rows


def reference_rows(results: dict) -> list[dict]:
  """Rows of the floor and the planner (budget "floor", "planner") where they ran; adds their gaps."""
  rows = []
  for name, res in results.items():
    for ref in ("floor", "planner"):
      if ref in res:
        try:
          gaps = gap_summary(res[ref]["return"], res["v_star"])
        except FloatingPointError as err:
          raise FloatingPointError(f"evaluation of the {name} set, {ref}: {err}") from err
        res[ref]["gaps"] = gaps.pop("gaps")
        rows.append({"set": name, "budget": ref, **gaps})
  return rows


EVAL_CSV_COLUMNS = ("set", "budget", "psi", "v_star", "return", "gap", "return_std", "floor_return", "floor_std",
                    "floor_gap", "planner_return", "planner_gap")


def write_eval_files(out_dir: str, results: dict, rows: list[dict]) -> None:
  """eval.csv (per test task and budget; the floor and planner columns are per task, repeated on
  every budget's row, empty where they did not run, return_std empty for one seed), and
  eval_table.csv / eval_table.md (per set and budget, the floor and the planner as budgets)."""
  os.makedirs(out_dir, exist_ok=True)
  fmt = lambda x: "" if x is None or not np.isfinite(x) else f"{x:.3f}"
  with open(os.path.join(out_dir, "eval.csv"), "w") as fh:
    fh.write(",".join(EVAL_CSV_COLUMNS) + "\n")
    for name, res in results.items():
      g = len(res["v_star"])
      col = lambda ref, key: res[ref][key] if ref in res else [None] * g
      refs = list(zip(col("floor", "return"), col("floor", "std"), col("floor", "gaps"),
                      col("planner", "return"), col("planner", "gaps")))
      for budget, returns in res["returns"].items():
        for i, (psi, v, r, gap, std) in enumerate(zip(res["psi"], res["v_star"], returns, res["gaps"][budget],
                                                      res["return_std"][budget])):
          fh.write(",".join([name, budget, " ".join(f"{x:.3f}" for x in psi)]
                            + [fmt(x) for x in (v, r, gap, std, *refs[i])]) + "\n")
  columns = ("set", "budget", "worst_case_gap", "mean_gap", "cvar10_gap")
  with open(os.path.join(out_dir, "eval_table.csv"), "w") as fh:
    fh.write(",".join(columns) + "\n")
    fh.writelines(",".join(str(r[c]) for c in columns) + "\n" for r in rows)
  with open(os.path.join(out_dir, "eval_table.md"), "w") as fh:
    fh.write("| set | budget | worst-case gap | mean gap | CVaR-10% gap |\n|---|---|---|---|---|\n")
    fh.writelines(f"| {r['set']} | {r['budget']} | {r['worst_case_gap']:.2f} | {r['mean_gap']:.2f} | "
                  f"{r['cvar10_gap']:.2f} |\n" for r in rows)


def _finite_or_none(x) -> float | None:
  return float(x) if np.isfinite(x) else None


def evaluate_state(config, loop, evaluator, state, history: list, out_dir: str, log=print) -> dict:
  """Evaluate a MetaState and write eval.csv, eval_table.{csv,md} and the heat maps into out_dir.

  Returns the summary: the policy evaluator's zero-shot gaps (worst case, mean, CVaR-10%, OOD worst
  case) and seed spread, the floor's and the planner's gaps beside them (None where they did not run),
  the curves of the oracle, the adaptation and the planner, and the per-(set, budget) tables.
  """
  t0 = time.perf_counter()
  results = evaluate(config, loop, evaluator, state, log)
  rows, refs = gap_rows(results), reference_rows(results)
  write_eval_files(out_dir, results, rows + refs)
  pick = lambda s, b: next((r for r in rows + refs if r["set"] == s and r["budget"] == b), None)
  in_box, ood, res = pick("in_box", "zero_shot"), pick("ood", "zero_shot"), results["in_box"]
  std = res["return_std"]["zero_shot"]
  summary = {
      "method": config.method, "family": config.family, "seed": config.seed,
      "worst_case_gap": in_box["worst_case_gap"], "mean_gap": in_box["mean_gap"],
      "cvar10_gap": in_box["cvar10_gap"], "ood_worst_case_gap": ood["worst_case_gap"],
      "adapt_seeds": config.eval.adapt_seeds,
      "adapt_seed_std_mean": _finite_or_none(np.mean(std)), "adapt_seed_std_max": _finite_or_none(np.max(std)),
  }
  for ref in ("floor", "planner"):
    inside, outside = pick("in_box", ref), pick("ood", ref)
    for field in ("worst_case_gap", "mean_gap", "cvar10_gap"):
      summary[f"{ref}_{field}"] = inside[field] if inside else None
    summary[f"{ref}_ood_worst_case_gap"] = outside["worst_case_gap"] if outside else None
  if "floor" in res:
    summary["floor_adapt_seed_std_mean"] = _finite_or_none(np.mean(res["floor"]["std"]))
    summary["floor_adapt_seed_std_max"] = _finite_or_none(np.max(res["floor"]["std"]))
  curve_updates = evaluator.curve_updates
  curve = {"updates": list(range(1, evaluator.adapt_updates + 1)),
           "model_batch_return": res["curve"]["batch"].tolist(),
           "real_return_updates": curve_updates, "real_return": res["curve"]["real"].tolist(),
           "real_return_last_segment_gain": float(res["curve"]["real"][-1] - res["curve"]["real"][-2])}
  if "floor" in res:
    curve.update(floor_real_return=res["floor"]["curve"].tolist(),
                 floor_last_segment_gain=float(res["floor"]["curve"][-1] - res["floor"]["curve"][-2]))
  summary.update({
      "adaptation_curve": curve,
      "real_env_steps": int(state.real_steps), "iterations": int(state.iteration),
      "eval_time_s": time.perf_counter() - t0, "table": rows, "reference_table": refs,
      "oracle_curve_in_box": res["oracle_curve"].tolist(),
  })
  if "planner" in res:
    summary["planner_curve_in_box"] = res["planner"]["curve"].tolist()
    summary["planner_predicted_mean_return"] = float(np.mean(res["planner"]["predicted"]))
    summary["planner_mean_return"] = float(np.mean(res["planner"]["return"]))
  _heat_maps(config, loop, state, history, res, summary, out_dir)
  return summary


def _heat_maps(config, loop, state, history, res, summary, out_dir) -> None:
  """gap_heatmap.png: the planner's gap where it ran (then gap_policy_heatmap.png holds the policy
  evaluator's), otherwise the policy evaluator's; gap_floor_heatmap.png: the floor's. One colour scale."""
  if loop.family.task_dim not in (2, 3):
    return
  head = f"{config.method} on {config.family}, iteration {int(state.iteration)}"
  policy = (res["gaps"]["zero_shot"], f"{head}: zero-shot policy gap, mean of {config.eval.adapt_seeds} "
            f"adaptation seeds (worst {summary['worst_case_gap']:.1f}, mean {summary['mean_gap']:.1f})")
  maps = {"gap_heatmap.png": policy}
  if "planner" in res:
    maps = {"gap_heatmap.png": (res["planner"]["gaps"], f"{head}: model-planner gap (plans through the model, "
            f"run on the true system; worst {summary['planner_worst_case_gap']:.1f}, "
            f"mean {summary['planner_mean_gap']:.1f})"), "gap_policy_heatmap.png": policy}
  if "floor" in res:
    maps["gap_floor_heatmap.png"] = (res["floor"]["gaps"], f"{config.family}: adaptation floor (the same "
                                     f"adaptation on the true dynamics; worst {summary['floor_worst_case_gap']:.1f}, "
                                     f"mean {summary['floor_mean_gap']:.1f})")
  vmax = max(float(np.max(g)) for g, _ in maps.values())
  path = np.asarray([row["psi"] for row in history]) if history else None
  for name, (gaps, title) in maps.items():
    plots.gap_map(os.path.join(out_dir, name), res["psi"], gaps, config.eval.grid_points,
                  tuple(config.eval.grid_points_3d), title, task_path=path, vmin=0.0, vmax=vmax)
