"""The host loop: jitted chunks of outer iterations, progress, metrics, checkpoints, evaluation.

``train`` runs (or resumes) the outer loop of a config in a run directory: one compiled chunk of
``loop.iterations_per_chunk`` iterations called repeatedly, one metrics row per iteration
(metrics.jsonl, metrics.csv, wandb), an orbax checkpoint every ``checkpoint.every`` iterations and
on SIGINT/SIGTERM. ``evaluate_state`` (``evaluation_protocol``) adapts on a final model for every
grid task and writes the gap tables and figures; ``train_and_evaluate`` is the main job.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time

import jax
import numpy as np
from tqdm import tqdm

from admrl_jax.checkpoint import Checkpointer
from admrl_jax.config import build
# The evaluation protocol lives in evaluation_protocol; its entry points stay importable from here.
from admrl_jax.evaluation_protocol import (  # noqa: F401
    evaluate, evaluate_state, gap_rows, reference_rows, write_eval_files)
from admrl_jax.oracle_budgets import floor_budget, mpc_budget, oracle_budget, oracle_learner  # noqa: F401
from admrl_jax.logger import RunLogger
from admrl_jax.minimax import MetaState, OuterLoop
from admrl_jax.sharding import task_mesh

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
    images = {name: os.path.join(run_dir, f"{name}.png")
              for name in ("gap_heatmap", "gap_policy_heatmap", "gap_floor_heatmap")}
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
