"""Seeds side by side: S runs of one config trained in one jit, vmapped over a leading seed axis.

The outer step is compiled once for all seeds (hyper-parameters traced, ``admrl_jax.hyperparams``);
each seed's state is ``loop.init(key(seed))`` and its numbers are its solo run's up to float
reassociation (a batched matmul sums in another order; tests/test_seeds.py). Each seed keeps an
ordinary run directory (config.json, metrics, orbax checkpoints of its own slice of the state), so
``--resume``, ``experiments.evaluate`` and ``experiments.results_table`` treat it as any run.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import ml_collections

from admrl_jax import hyperparams, progress, runner
from admrl_jax.checkpoint import Checkpointer
from admrl_jax.config import build
from admrl_jax.logger import RunLogger
from admrl_jax.minimax import MetaState, OuterLoop
from admrl_jax.run_dir import save_config


def init_seeds(loop: OuterLoop, seeds) -> MetaState:
  """Initial states of ``seeds`` stacked on a leading axis [S, ...] (each equals loop.init(key(seed)))."""
  keys = jnp.stack([jax.random.key(int(s)) for s in seeds])
  return jax.vmap(loop.init)(keys)


def seed_slice(tree, i: int):
  """Seed ``i``'s part of a tree with a leading seed axis."""
  return jax.tree.map(lambda x: x[i], tree)


def stack_seeds(trees: list):
  """The inverse of ``seed_slice``: a list of S trees -> one tree with a leading axis [S, ...]."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def vmapped_chunk(loop: OuterLoop, length: int):
  """(states [S], hp [S]) -> (states, metrics [S, length, ...]): ``length`` iterations of every seed."""
  return jax.vmap(lambda state, hp: loop.run_chunk(state, length, hp))


def _config_of_seed(config, seed: int):
  c = ml_collections.ConfigDict(config.to_dict())
  c.seed = int(seed)
  c.lock()
  return c


def train_seeds(config, seeds, run_dirs, log=print) -> list:
  """Train ``seeds`` of ``config`` side by side in one jit; run_dirs[i] is seed i's run directory.

  Fresh, or resumed when every run directory holds a checkpoint of the same iteration (runs that
  stopped at different iterations resume one by one with ``experiments.train --resume``). Writes
  each seed's config.json, metrics and checkpoints as a solo run would. Raises
  ``runner.TrainingInterrupted`` after SIGINT/SIGTERM (checkpoints saved) and ``runner.NonFiniteError``
  naming the seed, the metric and the iteration. Returns one ``runner.TrainResult`` per seed.
  """
  if config.devices != 1:
    raise ValueError(f"devices: seeds side by side run on one device, got devices={config.devices}")
  configs = [_config_of_seed(config, s) for s in seeds]
  loop, evaluator = build(config)
  ckpts = [Checkpointer(d, keep=config.checkpoint.keep or None, keep_period=config.checkpoint.keep_period or None)
           for d in run_dirs]
  latest = [c.latest_step() for c in ckpts]
  if any(step is not None for step in latest):
    if len(set(latest)) != 1:
      raise ValueError(f"run_dir: the seeds' checkpoints stand at different iterations {dict(zip(run_dirs, latest))}; "
                       "resume them one by one (experiments.train --resume)")
    restored = [c.restore(loop.init(jax.random.key(int(s)))) for c, s in zip(ckpts, seeds)]
    states, histories = stack_seeds([r[0] for r in restored]), [r[1] for r in restored]
    log(f"resumed {len(seeds)} seeds from the checkpoints of iteration {latest[0]}")
  else:
    for c, d in zip(configs, run_dirs):
      save_config(c, d)
    states, histories = init_seeds(loop, seeds), [[] for _ in seeds]
  loggers = [RunLogger(d, c, h, config.logging.wandb, config.logging.project)
             for d, c, h in zip(run_dirs, configs, histories)]
  chunk = config.loop.iterations_per_chunk
  hp = hyperparams.stack([hyperparams.from_config(c) for c in configs])
  t0 = time.perf_counter()
  compiled = runner.compile_with_progress(jax.jit(vmapped_chunk(loop, chunk), donate_argnums=0), (states, hp),
                                          f"the outer step for {len(seeds)} seeds side by side")
  compile_s = time.perf_counter() - t0
  log(f"compiled the outer step for {len(seeds)} seeds side by side in {compile_s:.1f} s")
  time_before = histories[0][-1]["time_s"] if histories[0] else 0.0
  start = time.perf_counter()
  bar = progress.bar(config.loop.iterations, f"training {config.method}/{config.family}, seeds {list(seeds)}: "
                     "outer iterations", initial=int(states.iteration[0]))
  try:
    with runner.StopSignals() as stop:
      while int(states.iteration[0]) < config.loop.iterations:
        states, metrics = compiled(states, hp)
        metrics = jax.device_get(metrics)
        for i, seed in enumerate(seeds):
          for j in range(chunk):
            row = runner.jsonable(jax.tree.map(lambda m: m[i, j], metrics))
            row["time_s"] = time_before + time.perf_counter() - start
            loggers[i].log(row)
            histories[i].append(row)
            try:
              runner.check_finite(row)
            except runner.NonFiniteError as err:
              raise runner.NonFiniteError(f"seed {seed}: {err}; the last good checkpoint is iteration "
                                          f"{ckpts[i].latest_step()} (the non-finite state is not saved)") from None
        done = int(states.iteration[0])
        if done % config.checkpoint.every == 0 or done == config.loop.iterations or stop.received:
          for i, c in enumerate(ckpts):
            c.save(seed_slice(states, i), histories[i])
        bar.set_postfix(gap_est=", ".join(f"{max(h[-1]['gap_estimate']):.1f}" for h in histories), refresh=False)
        bar.update(chunk)
        if stop.received:
          raise runner.TrainingInterrupted(f"{stop.received} after outer iteration {done}: checkpoints saved; "
                                           "run the same sweep command again to continue")
  finally:
    bar.close()
    for item in loggers + ckpts:
      item.close()
  train_s = time_before + time.perf_counter() - start
  return [runner.TrainResult(loop, evaluator, seed_slice(states, i), histories[i], train_s, compile_s)
          for i in range(len(seeds))]
