"""The host loop: jitted chunks of outer iterations, progress, metrics, checkpoints, evaluation.

``train`` runs (or resumes) the outer loop of a config in a run directory: one compiled chunk of
``loop.iterations_per_chunk`` iterations called repeatedly, one metrics row per iteration
(metrics.jsonl, metrics.csv, wandb), an orbax checkpoint every ``checkpoint.every`` iterations and
on SIGINT/SIGTERM. ``train_and_evaluate`` is the main job: train, then the evaluation protocol
(``evaluation_protocol``) on the final model, then summary.json. The run directory's files are
read and written by ``run_dir``.

Several processes (``jax.distributed.initialize`` called first, ``config.devices`` = every
process's devices): each runs this same loop on its slice of the task mesh; the jitted chunk
returns the metrics replicated, so every process reads the same rows; a stop signal on any process
stops all of them after the same chunk; every process takes part in each (orbax) checkpoint; only
process 0 writes config.json, the metrics files and wandb, and prints.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

import chex
import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from admrl_jax import hyperparams, progress
from admrl_jax.checkpoint import Checkpointer
from admrl_jax.config import build
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.logger import RunLogger
from admrl_jax.minimax import MetaState, OuterLoop
from admrl_jax.run_dir import save_config, write_summary
from admrl_jax.sharding import place, replicated, task_mesh

# Host-side fields of a metrics row that differ between a resumed and an uninterrupted run.
TIMING_FIELDS = ("time_s",)


def jsonable(tree):
  return jax.tree.map(lambda x: np.asarray(x).tolist(), tree)


class NonFiniteError(FloatingPointError):
  """A metric of the outer loop became NaN or infinite; the message names it and the iteration
  (and, raised by ``train``, the last good checkpoint)."""


class TrainingInterrupted(RuntimeError):
  """SIGINT or SIGTERM arrived; the run stopped after its current chunk with a checkpoint saved."""


def check_finite(row: dict) -> None:
  """Raise NonFiniteError on the first non-finite metric of one iteration's row."""
  for name, value in row.items():
    if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
      raise NonFiniteError(f"metric {name!r} is not finite at outer iteration {row['iteration']}: {value}")


def run_mesh(config) -> jax.sharding.Mesh | None:
  """The task mesh of ``config.devices``; with several processes it must span all their devices
  (ValueError naming the field otherwise)."""
  if jax.process_count() > 1 and config.devices != jax.device_count():
    raise ValueError(f"devices: a run of {jax.process_count()} processes splits its tasks over every "
                     f"process's devices; need devices={jax.device_count()}, got {config.devices}")
  return task_mesh(config.devices)


def _barrier(name: str) -> None:
  """With several processes, wait until all reach ``name``: a barrier of jax.distributed's
  coordination service (an XLA collective's CPU (gloo) context waits only 30 s for its peers, less
  than one process may compile longer than another)."""
  if jax.process_count() > 1:
    ocp.multihost.sync_global_processes(name, timeout=3600, processes=set(range(jax.process_count())))


def _any_process(flag: bool) -> bool:
  """True on every process when ``flag`` is true on any (so all stop after the same chunk)."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


class StopSignals:
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


def _stopped_at_non_finite(err: NonFiniteError, ckpt: Checkpointer) -> NonFiniteError:
  last = ckpt.latest_step()
  where = (f"the last good checkpoint is iteration {last} in {ckpt.directory}" if last is not None
           else "no checkpoint was saved")
  return NonFiniteError(f"{err}; {where} (the non-finite state is not saved)")


def compile_with_progress(jitted, args: tuple, what: str, disable: bool = False):
  """``jitted.lower(*args).compile()`` under a progress bar naming ``what`` (a compile can take minutes)."""
  with progress.bar(1, f"compiling {what}", unit="program", disable=disable) as compiling:
    compiled = jitted.lower(*args).compile()
    compiling.update(1)
  return compiled


def train(config, run_dir: str, log=print, resume: bool = False, on_iteration=None) -> TrainResult:
  """Run (or, with resume, continue from the latest checkpoint) the outer loop of ``config``.

  on_iteration(row): called after each iteration's row is logged, before the chunk's checkpoint.
  Raises TrainingInterrupted after SIGINT/SIGTERM (checkpoint saved) and NonFiniteError on a NaN
  (naming the metric, the iteration and the last good checkpoint; the non-finite state is not saved).
  """
  primary = jax.process_index() == 0
  log = log if primary else (lambda *_: None)
  loop, evaluator = build(config, mesh=run_mesh(config))
  ckpt = Checkpointer(run_dir, keep=config.checkpoint.keep or None,
                      keep_period=config.checkpoint.keep_period or None)
  state = loop.place(loop.init(jax.random.key(config.seed)))
  history = []
  if resume and ckpt.latest_step() is not None:
    state, history = ckpt.restore(state)   # onto the placed state's shardings
    log(f"resumed {run_dir} from the checkpoint of iteration {int(state.iteration)}")
  elif not resume and primary:
    save_config(config, run_dir)
  chex.assert_shape(state.psi, (loop.num_tasks, loop.family.box.dim))
  logger = RunLogger(run_dir, config, history, config.logging.wandb, config.logging.project) if primary else None
  chunk = config.loop.iterations_per_chunk
  hp = hyperparams.from_config(config)  # traced: one compiled step serves every value
  if jax.process_count() > 1:
    hp = place(jax.device_get(hp), replicated(loop.mesh))
  # on a mesh: the state keeps its placement, the metrics come back replicated (readable by every process)
  out = None if loop.mesh is None else (jax.tree.map(lambda x: x.sharding, state), replicated(loop.mesh))
  run_chunk = jax.jit(lambda s, h: loop.run_chunk(s, chunk, h), donate_argnums=0, out_shardings=out)

  t0 = time.perf_counter()
  compiled = compile_with_progress(run_chunk, (state, hp), f"the outer step ({chunk} iterations per chunk)",
                                   disable=not primary)
  compile_s = time.perf_counter() - t0
  _barrier("admrl_compiled")
  log(f"compiled the outer step ({chunk} iterations per chunk) in {compile_s:.1f} s")
  time_before = history[-1]["time_s"] if history else 0.0
  gap_estimates = lambda rows: [float(np.max(r["gap_estimate"])) for r in rows if "gap_estimate" in r]
  worst_seen = max(gap_estimates(history), default=-np.inf)   # model-free baselines have no gap estimate
  bar = progress.bar(config.loop.iterations, f"training {config.method}/{config.family}: outer iterations",
                     initial=len(history), disable=not primary)
  start = time.perf_counter()
  try:
    with StopSignals() as stop:
      while int(state.iteration) < config.loop.iterations:
        steps_before, t_chunk = int(state.real_steps), time.perf_counter()
        state, metrics = compiled(state, hp)
        metrics = jax.device_get(metrics)   # replicated: every process reads them whole
        chex.assert_tree_shape_prefix(metrics, (chunk,))   # one row per iteration of the chunk
        dt = time.perf_counter() - t_chunk
        rows = []
        for i in range(chunk):
          row = jsonable(jax.tree.map(lambda m: m[i], metrics))
          row["time_s"] = time_before + time.perf_counter() - start
          if logger is not None:
            logger.log(row)
          history.append(row)
          rows.append(row)
          try:
            check_finite(row)
          except NonFiniteError as err:
            raise _stopped_at_non_finite(err, ckpt) from None
          worst_seen = max([worst_seen, *gap_estimates([row])])
        for row in rows:
          if on_iteration is not None:
            on_iteration(row)
        done = int(state.iteration)
        stopping = _any_process(stop.received is not None)
        if done % config.checkpoint.every == 0 or done == config.loop.iterations or stopping:
          ckpt.save(state, history)
        last = history[-1]
        postfix = {"real": last["real_steps"], "steps/s": f"{(int(state.real_steps) - steps_before) / dt:.0f}",
                   "compile_s": f"{compile_s:.0f}"}
        if "gap_estimate" in last:
          postfix.update(gap_est=f"{np.max(last['gap_estimate']):.1f}", worst_est=f"{worst_seen:.1f}")
        elif "episode_return" in last:
          postfix.update(ret=f"{np.mean(last['episode_return']):.1f}")
        if "inner_stationarity" in last:
          postfix.update(cg_res=f"{np.max(last['cg_residual']):.1e}",
                         stat=f"{np.max(last['inner_stationarity']):.1f}")
        bar.set_postfix(postfix)
        bar.update(chunk)
        if stopping:
          raise TrainingInterrupted(f"{stop.received or 'a stop signal to another process'} after outer "
                                    f"iteration {done}: checkpoint saved in {ckpt.directory}; continue with "
                                    f"--resume --run_dir={run_dir}")
  finally:
    bar.close()
    if logger is not None:
      logger.close()
    ckpt.close()
  return TrainResult(loop, evaluator, state, history, time_before + time.perf_counter() - start, compile_s)


def train_and_evaluate(config, run_dir: str, log=print, resume: bool = False) -> dict:
  """The main job: train (or resume), evaluate the final model, write summary.json into run_dir."""
  return evaluate_result(config, train(config, run_dir, log, resume), run_dir, log)


def evaluate_result(config, result: TrainResult, run_dir: str, log=print) -> dict:
  """The evaluation protocol on a trained state; writes its files and summary.json into run_dir."""
  protocol = EvaluationProtocol.from_config(config, result.evaluator, result.loop)
  summary = protocol.evaluate_state(result.state, result.history, run_dir, log)
  summary.update(train_time_s=result.train_time_s, compile_time_s=result.compile_time_s,
                 wall_time_s=result.compile_time_s + result.train_time_s + summary["eval_time_s"])
  write_summary(summary, run_dir)
  if config.logging.wandb != "disabled":
    logger = RunLogger(run_dir, config, None, config.logging.wandb, config.logging.project)
    images = {name: os.path.join(run_dir, f"{name}.png")
              for name in ("gap_heatmap", "gap_policy_heatmap", "gap_floor_heatmap")}
    logger.log_summary(summary, {k: v for k, v in images.items() if os.path.exists(v)})
    logger.close()
  return summary
