"""The host loop: jitted chunks of outer iterations, progress, metrics, checkpoints, evaluation.

``train`` runs (or resumes) the outer loop of a config in a run directory: one compiled chunk of
``loop.iterations_per_chunk`` iterations called repeatedly, one metrics row per iteration
(metrics.jsonl, metrics.csv, wandb), an orbax checkpoint every ``checkpoint.every`` iterations and
on SIGINT/SIGTERM. ``evaluate_state`` adapts on a final model for every grid task and writes the
gap tables and figures; ``train_and_evaluate`` is the main job.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from admrl_jax import plots
from admrl_jax.checkpoint import Checkpointer
from admrl_jax.config import build
from admrl_jax.evaluation import best_known_return, gap_summary
from admrl_jax.logger import RunLogger
from admrl_jax.minimax import MetaState, OuterLoop
from admrl_jax.mpc_oracle import sampling_mpc_oracle
from admrl_jax.oracle import cached_oracle, trajectory_optimisation_oracle, zero_action_returns
from admrl_jax.policy_oracle import policy_optimisation_oracle

# Host-side fields of a metrics row that differ between a resumed and an uninterrupted run.
TIMING_FIELDS = ("time_s",)


def _jsonable(tree):
  return jax.tree.map(lambda x: np.asarray(x).tolist(), tree)


class NonFiniteError(FloatingPointError):
  """A metric of the outer loop became NaN or infinite; the message names it and the iteration."""


class TrainingInterrupted(RuntimeError):
  """SIGINT or SIGTERM arrived; the run stopped after its current chunk with a checkpoint saved."""


def check_finite(row: dict) -> None:
  """Raise NonFiniteError on the first non-finite metric of one iteration's row."""
  for name, value in row.items():
    if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
      raise NonFiniteError(f"metric {name!r} is not finite at outer iteration {row['iteration']}: {value}")


class _StopSignals:
  """Turns SIGINT/SIGTERM into a flag the host loop checks between chunks (main thread only)."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    if self.received is not None:  # a second signal: stop now, the last checkpoint stands
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


@dataclasses.dataclass
class TrainResult:
  loop: OuterLoop
  evaluator: object
  state: MetaState
  history: list
  train_time_s: float
  compile_time_s: float


def task_mesh(devices: int):
  """A 1-D mesh with a ``tasks`` axis over the first ``devices`` devices (None for one device)."""
  if devices == 1:
    return None
  if devices > jax.device_count():
    raise ValueError(f"devices: asked for {devices}, but jax sees {jax.device_count()} "
                     f"({jax.devices()[0].platform}); allowed: 1..{jax.device_count()}")
  return jax.make_mesh((devices,), ("tasks",), axis_types=(jax.sharding.AxisType.Auto,),
                       devices=jax.devices()[:devices])


def save_config(config, run_dir: str) -> None:
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, "config.json"), "w") as fh:
    fh.write(config.to_json_best_effort(indent=2))


def _fill_missing(defaults: dict, saved: dict) -> dict:
  """saved, with every key it lacks (at any depth) taken from defaults."""
  out = dict(defaults)
  for k, v in saved.items():
    out[k] = _fill_missing(defaults[k], v) if isinstance(v, dict) and isinstance(defaults.get(k), dict) else v
  return out


def load_config(run_dir: str, defaults=None):
  """The resolved config a run directory was started with (locked), lists turned back to tuples.

  defaults: a config whose values fill the fields the saved one lacks (fields added to the library
  after the run started), so older run directories stay loadable; saved fields always win.
  """
  import ml_collections
  path = os.path.join(run_dir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"run_dir: {run_dir!r} holds no config.json; is it a run directory?")
  with open(path) as fh:
    raw = json.load(fh)
  if defaults is not None:
    raw = _fill_missing(json.loads(defaults.to_json_best_effort()), raw)
  as_tuples = lambda x: tuple(as_tuples(v) for v in x) if isinstance(x, list) else (
      {k: as_tuples(v) for k, v in x.items()} if isinstance(x, dict) else x)
  config = ml_collections.ConfigDict(as_tuples(raw))
  config.lock()
  return config


def train(config, run_dir: str, log=print, resume: bool = False, on_iteration=None) -> TrainResult:
  """Run (or, with resume, continue from the latest checkpoint) the outer loop of ``config``.

  on_iteration(row): called after each iteration's row is logged, before the chunk's checkpoint.
  Raises TrainingInterrupted after SIGINT/SIGTERM (checkpoint saved) and NonFiniteError on a NaN.
  """
  loop, evaluator = build(config, mesh=task_mesh(config.devices))
  ckpt = Checkpointer(run_dir, keep=config.checkpoint.keep or None,
                      keep_period=config.checkpoint.keep_period or None)
  state = loop.init(jax.random.key(config.seed))
  history = []
  if resume and ckpt.latest_step() is not None:
    state, history = ckpt.restore(state)
    log(f"resumed {run_dir} from the checkpoint of iteration {int(state.iteration)}")
  elif not resume:
    save_config(config, run_dir)
  state = loop.place(state)
  logger = RunLogger(run_dir, config, history, config.logging.wandb, config.logging.project)
  chunk = config.loop.iterations_per_chunk
  run_chunk = jax.jit(lambda s: loop.run_chunk(s, chunk), donate_argnums=0)

  t0 = time.perf_counter()
  compiled = run_chunk.lower(state).compile()
  compile_s = time.perf_counter() - t0
  log(f"compiled the outer step ({chunk} iterations per chunk) in {compile_s:.1f} s")
  time_before = history[-1]["time_s"] if history else 0.0
  worst_seen = max([float(np.max(r["gap_estimate"])) for r in history], default=-np.inf)
  bar = tqdm(total=config.loop.iterations, initial=len(history), desc=f"{config.method}/{config.family}",
             unit="it", dynamic_ncols=True, mininterval=0)
  start = time.perf_counter()
  try:
    with _StopSignals() as stop:
      while int(state.iteration) < config.loop.iterations:
        steps_before, t_chunk = int(state.real_steps), time.perf_counter()
        state, metrics = compiled(state)
        metrics = jax.device_get(metrics)
        dt = time.perf_counter() - t_chunk
        rows = []
        for i in range(chunk):
          row = _jsonable(jax.tree.map(lambda m: m[i], metrics))
          row["time_s"] = time_before + time.perf_counter() - start
          logger.log(row)
          history.append(row)
          rows.append(row)
          check_finite(row)
          worst_seen = max(worst_seen, float(np.max(row["gap_estimate"])))
        for row in rows:
          if on_iteration is not None:
            on_iteration(row)
        done = int(state.iteration)
        if done % config.checkpoint.every == 0 or done == config.loop.iterations or stop.received:
          ckpt.save(state, history)
        last = history[-1]
        postfix = {"real": last["real_steps"], "steps/s": f"{(int(state.real_steps) - steps_before) / dt:.0f}",
                   "compile_s": f"{compile_s:.0f}", "gap_est": f"{np.max(last['gap_estimate']):.1f}",
                   "worst_est": f"{worst_seen:.1f}"}
        if "cg_residual" in last:
          postfix.update(cg_res=f"{np.max(last['cg_residual']):.1e}",
                         stat=f"{np.max(last['inner_stationarity']):.1f}")
        bar.set_postfix(postfix)
        bar.update(chunk)
        if stop.received:
          raise TrainingInterrupted(f"{stop.received} after outer iteration {done}: checkpoint saved in "
                                    f"{ckpt.directory}; continue with --resume --run_dir={run_dir}")
  finally:
    bar.close()
    logger.close()
    ckpt.close()
  return TrainResult(loop, evaluator, state, history, time_before + time.perf_counter() - start, compile_s)


@functools.lru_cache(maxsize=4)
def _evaluation_fns(evaluator):
  """Jitted zero-shot and few-shot evaluations, compiled once per evaluator (many checkpoints)."""
  return jax.jit(evaluator.zero_shot_returns), jax.jit(evaluator.few_shot_returns, static_argnums=5)


def oracle_budget(config, evaluator, psis, eval_key):
  """(budget dict, compute) of the config's V* oracle: trajectory optimisation through smooth true
  dynamics, or policy optimisation on the true environment (Brax families)."""
  e = config.eval
  family = evaluator.learner.family
  if e.oracle == "trajectory":
    budget = {"kind": "trajectory", "iters": e.oracle_iters, "episodes": e.episodes}
    return budget, lambda: trajectory_optimisation_oracle(family, psis, eval_key, e.episodes, e.oracle_iters)
  learner = oracle_learner(config, evaluator.learner)
  budget = {"kind": "policy", "iters": e.oracle_iters, "episodes": e.episodes,
            "episodes_per_update": e.oracle_episodes, "agent": repr(learner.agent),
            "v_star": "max(mean action at init and every curve point, final sampled x4)"}
  run = jax.jit(lambda p: policy_optimisation_oracle(learner, p, jax.random.fold_in(eval_key, 1),
                                                     eval_key, e.episodes, e.oracle_iters, e.oracle_episodes))
  return budget, lambda: run(psis)


def mpc_budget(config, family, psis, eval_key):
  """(budget dict, compute) of the MPC oracle (``eval.mpc_samples`` > 0): predictive sampling on
  the true environment from the evaluation's start states; compute() -> (v [G], per-start [S, G])."""
  e = config.eval
  budget = {"kind": "mpc", "episodes": e.episodes, "samples": e.mpc_samples,
            "plan_horizon": e.mpc_plan_horizon, "sigma": e.mpc_sigma, "knot_every": e.mpc_knot_every}
  run = jax.jit(lambda p: sampling_mpc_oracle(family, p, eval_key, e.episodes, e.mpc_plan_horizon,
                                              e.mpc_samples, e.mpc_sigma, e.mpc_knot_every))
  return budget, lambda: run(psis)


def oracle_learner(config, learner):
  """The policy oracle's learner: adaptation's, with the oracle's own discount and GAE lambda
  (``eval.oracle_gamma``, ``eval.oracle_lam``). With adaptation's 0.99 / 0.95, TRPO on the real
  Walker2D traded survival for tracking: at the (-2, 1.0) corner its episodes shrank from 189 to
  109 steps and its return fell from 1376 to about 900 over 55 updates; with 0.995 / 0.99 they
  stayed near 180 steps and the return near 1390 (docs/results.md)."""
  agent = dataclasses.replace(learner.agent, gamma=config.eval.oracle_gamma, lam=config.eval.oracle_lam)
  return dataclasses.replace(learner, agent=agent)


def evaluate(config, loop, evaluator, state, log=print):
  """Gap tables on the test grid and the OOD grid: zero-shot, then each few-shot budget.

  The evaluation start states and the oracle use ``eval.seed`` (the same for every run, so the
  oracle's V* is cached once and gaps compare across seeds and methods); adaptation uses the
  run's seed. V* is the best known return: the best of the oracle's, the MPC oracle's (if
  ``eval.mpc_samples`` > 0) and the zero action's (a short policy-oracle budget can end below doing
  nothing), and gaps count the method's own return too (``gap_summary``).
  """
  family, e = loop.family, config.eval
  eval_key = jax.random.key(e.seed)
  k_adapt = jax.random.fold_in(jax.random.key(config.seed), 10_000)
  boxes = {"in_box": family.box, "ood": family.box.widened(e.ood_fraction)}
  zero_shot, few_shot = _evaluation_fns(evaluator)
  results = {}
  for name, box in boxes.items():
    psis = box.test_tasks(jax.random.fold_in(eval_key, 2), e.grid_points, tuple(e.grid_points_3d), e.random_tasks)
    if name == "ood":  # the OOD test set: the widened box's grid points outside the training box
      inside = jnp.all((psis >= jnp.asarray(family.box.lo)) & (psis <= jnp.asarray(family.box.hi)), axis=1)
      psis = psis[~np.asarray(inside)]
    log(f"evaluating {psis.shape[0]} {name} tasks: V* oracle ({e.oracle}, {e.oracle_iters} steps; loaded if "
        f"cached), then adaptation on the model")
    t0 = time.perf_counter()
    v_star, curve, hit = cached_oracle(family, psis, eval_key, *oracle_budget(config, evaluator, psis, eval_key),
                                       e.oracle_cache)
    log(f"oracle V* on {psis.shape[0]} {name} tasks: {'cached' if hit else 'computed'} "
        f"in {time.perf_counter() - t0:.1f} s")
    candidates = {f"the {e.oracle} oracle": v_star,
                  "the zero action": jax.jit(lambda p, k: zero_action_returns(family, p, k, e.episodes))(psis, eval_key)}
    if e.mpc_samples:
      t0 = time.perf_counter()
      candidates["the MPC oracle"], _, hit = cached_oracle(family, psis, eval_key,
                                                           *mpc_budget(config, family, psis, eval_key), e.oracle_cache)
      log(f"MPC oracle on {psis.shape[0]} {name} tasks: {'cached' if hit else 'computed'} "
          f"in {time.perf_counter() - t0:.1f} s")
    v_star = best_known_return(candidates, log=lambda line: log(f"{name}: {line}"))
    budgets = {"zero_shot": zero_shot(state.model, psis, k_adapt, eval_key)}
    for episodes in e.few_shot_episodes:
      budgets[f"few_shot_{episodes * family.env.horizon}"] = few_shot(
          state.model, state.buffer, psis, k_adapt, eval_key, episodes)
    results[name] = {"psi": np.asarray(psis), "v_star": np.asarray(v_star),
                     "oracle_curve": np.asarray(curve).mean(axis=1),
                     "returns": {b: np.asarray(r) for b, r in budgets.items()}}
  return results


def gap_rows(results: dict) -> list[dict]:
  """One row per (test set, budget): worst-case, mean and CVaR-10% gap; adds gaps to results."""
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


def write_eval_files(out_dir: str, results: dict, rows: list[dict]) -> None:
  """eval.csv (per test task), eval_table.csv and eval_table.md (per set and budget)."""
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "eval.csv"), "w") as fh:
    fh.write("set,budget,psi,v_star,return,gap\n")
    for name, res in results.items():
      for budget, returns in res["returns"].items():
        for psi, v, r, g in zip(res["psi"], res["v_star"], returns, res["gaps"][budget]):
          fh.write(f"{name},{budget},{' '.join(f'{x:.3f}' for x in psi)},{v:.3f},{r:.3f},{g:.3f}\n")
  columns = ("set", "budget", "worst_case_gap", "mean_gap", "cvar10_gap")
  with open(os.path.join(out_dir, "eval_table.csv"), "w") as fh:
    fh.write(",".join(columns) + "\n")
    fh.writelines(",".join(str(r[c]) for c in columns) + "\n" for r in rows)
  with open(os.path.join(out_dir, "eval_table.md"), "w") as fh:
    fh.write("| set | budget | worst-case gap | mean gap | CVaR-10% gap |\n|---|---|---|---|---|\n")
    fh.writelines(f"| {r['set']} | {r['budget']} | {r['worst_case_gap']:.2f} | {r['mean_gap']:.2f} | "
                  f"{r['cvar10_gap']:.2f} |\n" for r in rows)


def evaluate_state(config, loop, evaluator, state: MetaState, history: list, out_dir: str, log=print) -> dict:
  """Evaluate a MetaState and write eval.csv, eval_table.{csv,md}, gap_heatmap.png into out_dir.

  Returns the summary (worst-case, mean, CVaR-10% and OOD gap of zero-shot adaptation, steps).
  """
  t0 = time.perf_counter()
  results = evaluate(config, loop, evaluator, state, log)
  rows = gap_rows(results)
  write_eval_files(out_dir, results, rows)
  in_box = next(r for r in rows if r["set"] == "in_box" and r["budget"] == "zero_shot")
  ood = next(r for r in rows if r["set"] == "ood" and r["budget"] == "zero_shot")
  summary = {
      "method": config.method, "family": config.family, "seed": config.seed,
      "worst_case_gap": in_box["worst_case_gap"], "mean_gap": in_box["mean_gap"],
      "cvar10_gap": in_box["cvar10_gap"], "ood_worst_case_gap": ood["worst_case_gap"],
      "real_env_steps": int(state.real_steps), "iterations": int(state.iteration),
      "eval_time_s": time.perf_counter() - t0, "table": rows,
      "oracle_curve_in_box": results["in_box"]["oracle_curve"].tolist(),
  }
  if loop.family.task_dim == 2:   # heat map with the task path; slices of it in 3-D
    res = results["in_box"]
    path = np.asarray([row["psi"] for row in history]) if history else None
    plots.gap_heatmap(os.path.join(out_dir, "gap_heatmap.png"), res["psi"], res["gaps"]["zero_shot"],
                      config.eval.grid_points,
                      f"{config.method} on {config.family}, iteration {int(state.iteration)}: zero-shot gap "
                      f"(worst {in_box['worst_case_gap']:.1f}, mean {in_box['mean_gap']:.1f})",
                      task_path=path)
  elif loop.family.task_dim == 3:
    res = results["in_box"]
    path = np.asarray([row["psi"] for row in history]) if history else None
    plots.gap_heatmap_slices(os.path.join(out_dir, "gap_heatmap.png"), res["psi"], res["gaps"]["zero_shot"],
                             tuple(config.eval.grid_points_3d),
                             f"{config.method} on {config.family}, iteration {int(state.iteration)}: "
                             f"zero-shot gap (worst {in_box['worst_case_gap']:.1f})", task_path=path)
  return summary


def train_and_evaluate(config, run_dir: str, log=print, resume: bool = False) -> dict:
  """The main job: train (or resume), evaluate the final model, write summary.json into run_dir."""
  result = train(config, run_dir, log, resume)
  summary = evaluate_state(config, result.loop, result.evaluator, result.state, result.history, run_dir, log)
  summary.update(train_time_s=result.train_time_s, compile_time_s=result.compile_time_s,
                 wall_time_s=result.compile_time_s + result.train_time_s + summary["eval_time_s"])
  with open(os.path.join(run_dir, "summary.json"), "w") as fh:
    json.dump(summary, fh, indent=2)
  if config.logging.wandb != "disabled":
    logger = RunLogger(run_dir, config, None, config.logging.wandb, config.logging.project)
    images = {"gap_heatmap": os.path.join(run_dir, "gap_heatmap.png")}
    logger.log_summary(summary, {k: v for k, v in images.items() if os.path.exists(v)})
    logger.close()
  return summary


def load_run(run_dir: str, defaults=None):
  """(config, loop, evaluator) of a run directory, built from the config it was started with
  (``defaults`` as in ``load_config``)."""
  config = load_config(run_dir, defaults)
  loop, evaluator = build(config)
  return config, loop, evaluator


def restore_state(run_dir: str, loop: OuterLoop, seed: int, step: int | None = None):
  """(MetaState, history) of a run's checkpoint at ``step`` (default: the latest)."""
  ckpt = Checkpointer(run_dir)
  try:
    return ckpt.restore(loop.init(jax.random.key(seed)), step)
  finally:
    ckpt.close()


def checkpoint_steps(run_dir: str) -> list[int]:
  ckpt = Checkpointer(run_dir)
  try:
    return ckpt.steps()
  finally:
    ckpt.close()
