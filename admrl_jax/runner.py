"""The host loop: jitted chunks of outer iterations, progress, metrics files, evaluation, figures."""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from admrl_jax import plots
from admrl_jax.config import build
from admrl_jax.evaluation import gap_summary
from admrl_jax.oracle import trajectory_optimisation_oracle


def _jsonable(tree):
  return jax.tree.map(lambda x: np.asarray(x).tolist(), tree)


class NonFiniteError(FloatingPointError):
  """A metric of the outer loop became NaN or infinite; the message names it and the iteration."""


def check_finite(row: dict) -> None:
  """Raise NonFiniteError on the first non-finite metric of one iteration's row."""
  for name, value in row.items():
    if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
      raise NonFiniteError(f"metric {name!r} is not finite at outer iteration {row['iteration']}: {value}")


def train(config, run_dir: str, log=print):
  """Run the outer loop of ``config`` and write metrics.jsonl into run_dir.

  Returns (loop, evaluator, final MetaState, list of per-iteration metric dicts, wall seconds,
  compile seconds).
  """
  loop, evaluator = build(config)
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, "config.json"), "w") as fh:
    fh.write(config.to_json_best_effort(indent=2))
  chunk = config.loop.iterations_per_chunk
  run_chunk = jax.jit(lambda s: loop.run_chunk(s, chunk))
  state = loop.init(jax.random.key(config.seed))

  history, worst_seen = [], -np.inf
  start = time.perf_counter()
  t0 = time.perf_counter()
  compiled = run_chunk.lower(state).compile()
  compile_s = time.perf_counter() - t0
  log(f"compiled the outer step ({chunk} iterations per chunk) in {compile_s:.1f} s")
  bar = tqdm(total=config.loop.iterations, desc=f"{config.method}/{config.family}", unit="it",
             dynamic_ncols=True, mininterval=0)
  with open(os.path.join(run_dir, "metrics.jsonl"), "w") as fh:
    for _ in range(config.loop.iterations // chunk):
      steps_before, t_chunk = int(state.real_steps), time.perf_counter()
      state, metrics = compiled(state)
      metrics = jax.device_get(metrics)
      dt = time.perf_counter() - t_chunk
      for i in range(chunk):
        row = _jsonable(jax.tree.map(lambda m: m[i], metrics))
        history.append(row)
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        check_finite(row)
        worst_seen = max(worst_seen, float(np.max(row["gap_estimate"])))
      fh.flush()
      last = history[-1]
      postfix = {"real": last["real_steps"], "gap_est": f"{np.max(last['gap_estimate']):.1f}",
                 "worst_est": f"{worst_seen:.1f}",
                 "steps/s": f"{(int(state.real_steps) - steps_before) / dt:.0f}",
                 "s/it": f"{dt / chunk:.1f}"}
      if "cg_residual" in last:
        postfix.update(cg_res=f"{np.max(last['cg_residual']):.1e}",
                       stat=f"{np.max(last['inner_stationarity']):.1f}")
      bar.set_postfix(postfix)
      bar.update(chunk)
  bar.close()
  return loop, evaluator, state, history, time.perf_counter() - start, compile_s


def evaluate(config, loop, evaluator, state, key, log=print):
  """Gap tables on the test grid and the OOD grid: zero-shot, then each few-shot budget."""
  family, e = loop.family, config.eval
  eval_key, k_adapt = jax.random.split(key)
  boxes = {"in_box": family.box, "ood": family.box.widened(e.ood_fraction)}
  zero_shot = jax.jit(evaluator.zero_shot_returns)
  few_shot = jax.jit(evaluator.few_shot_returns, static_argnums=5)
  results = {}
  for name, box in boxes.items():
    psis = box.grid(e.grid_points)
    if name == "ood":  # the OOD test set: the widened box's grid points outside the training box
      inside = jnp.all((psis >= jnp.asarray(family.box.lo)) & (psis <= jnp.asarray(family.box.hi)), axis=1)
      psis = psis[~np.asarray(inside)]
    t0 = time.perf_counter()
    v_star, curve = trajectory_optimisation_oracle(family, psis, eval_key, e.episodes, e.oracle_iters)
    log(f"oracle V* on {psis.shape[0]} {name} tasks in {time.perf_counter() - t0:.1f} s")
    budgets = {"zero_shot": zero_shot(state.model, psis, k_adapt, eval_key)}
    for episodes in e.few_shot_episodes:
      budgets[f"few_shot_{episodes * family.env.horizon}"] = few_shot(
          state.model, state.buffer, psis, k_adapt, eval_key, episodes)
    results[name] = {"psi": np.asarray(psis), "v_star": np.asarray(v_star),
                     "oracle_curve": np.asarray(curve).mean(axis=1),
                     "returns": {b: np.asarray(r) for b, r in budgets.items()}}
  return results


def train_and_evaluate(config, run_dir: str, log=print) -> dict:
  """Train, evaluate and write summary.json, eval.csv and the gap heat map into run_dir."""
  loop, evaluator, state, history, train_s, compile_s = train(config, run_dir, log)
  t0 = time.perf_counter()
  results = evaluate(config, loop, evaluator, state, jax.random.key(config.seed + 10_000), log)
  eval_s = time.perf_counter() - t0

  rows = []
  for name, res in results.items():
    for budget, returns in res["returns"].items():
      gaps = gap_summary(returns, res["v_star"])
      res.setdefault("gaps", {})[budget] = gaps["gaps"]
      rows.append({"set": name, "budget": budget, **{k: v for k, v in gaps.items() if k != "gaps"}})
  with open(os.path.join(run_dir, "eval.csv"), "w") as fh:
    fh.write("set,budget,psi,v_star,return,gap\n")
    for name, res in results.items():
      for budget, returns in res["returns"].items():
        for psi, v, r, g in zip(res["psi"], res["v_star"], returns, res["gaps"][budget]):
          fh.write(f"{name},{budget},{' '.join(f'{x:.3f}' for x in psi)},{v:.3f},{r:.3f},{g:.3f}\n")

  in_box = next(r for r in rows if r["set"] == "in_box" and r["budget"] == "zero_shot")
  ood = next(r for r in rows if r["set"] == "ood" and r["budget"] == "zero_shot")
  summary = {
      "method": config.method, "family": config.family, "seed": config.seed,
      "worst_case_gap": in_box["worst_case_gap"], "mean_gap": in_box["mean_gap"],
      "cvar10_gap": in_box["cvar10_gap"], "ood_worst_case_gap": ood["worst_case_gap"],
      "real_env_steps": int(state.real_steps), "iterations": int(state.iteration),
      "wall_time_s": train_s + eval_s, "train_time_s": train_s, "eval_time_s": eval_s,
      "compile_time_s": compile_s, "table": rows,
      "oracle_curve_in_box": results["in_box"]["oracle_curve"].tolist(),
  }
  with open(os.path.join(run_dir, "summary.json"), "w") as fh:
    json.dump(summary, fh, indent=2)

  if loop.family.task_dim == 2:
    res = results["in_box"]
    path = np.asarray([row["psi"] for row in history])
    plots.gap_heatmap(os.path.join(run_dir, "gap_heatmap.png"), res["psi"], res["gaps"]["zero_shot"],
                      config.eval.grid_points,
                      f"{config.method} on {config.family}: zero-shot gap "
                      f"(worst {in_box['worst_case_gap']:.1f}, mean {in_box['mean_gap']:.1f})",
                      task_path=path)
  return summary
