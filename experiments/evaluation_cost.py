"""Where a run's evaluation spends its time: each evaluator on each test set, compile against compute.

  .venv/bin/python -m experiments.evaluation_cost [--config=...] [--config.field=value ...]

Trains the config (the default job when no --config is given), then runs every evaluator of its
protocol on every test set twice in the same process: the first call compiles and computes, the second
only computes (its programs are cached), so compile = first - second. The V* oracles and the floor are
called directly (not through the cache or the shipped tables), so their cost is measured even where a
run would load them. The few-shot evaluation runs its nested pass up to each budget in turn, so the
differences between its rows are each budget's cost. Prints a markdown table (seconds); with
--config.eval.ood=True the OOD set too.
"""
import time

import jax
import numpy as np
from absl import flags

from admrl_jax import runner, tables
from admrl_jax.cli.common import checked_folder, define_config, fail, run, start
from admrl_jax.config import ConfigError, validate
from admrl_jax.evaluation import few_shot, zero_shot
from admrl_jax.evaluation_protocol import EvaluationProtocol

_CONFIG = define_config()
_RUN_DIR = flags.DEFINE_string("run_dir", "/tmp/evaluation_cost", "where the trained run is written")


def _twice(fn) -> tuple[float, float]:
  """(seconds of the first call, of the second): compile + compute, compute."""
  times = []
  for _ in range(2):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t0)
  return times[0], times[1]


def main(argv):
  start(argv)
  config = _CONFIG.value
  try:
    validate(config)
  except (ConfigError, ValueError) as err:
    fail(str(err))
  checked_folder("run_dir", _RUN_DIR.value)
  result = runner.train(config, _RUN_DIR.value)
  protocol = EvaluationProtocol.from_config(config, result.evaluator, result.loop)
  state, ev = result.state, protocol.evaluator
  rows = []
  for name, psis in protocol.test_sets.items():
    phases = {f"{o.label} (V*)": (lambda o=o: o(protocol.family, psis, protocol.eval_key)) for o in protocol.oracles}
    if protocol.floor is not None:
      phases["adaptation floor"] = lambda: protocol.floor(protocol.family, psis, protocol.eval_key)
    if protocol.planner is not None:
      phases[f"model planner ({protocol.planner.describe()})"] = lambda: protocol.planner(
          ev.learner, state.model, psis, protocol.eval_key)
    phases[f"policy evaluator ({protocol.adapt_seeds} seed(s))"] = lambda: zero_shot(
        ev, state.model, psis, protocol.adapt_key, protocol.eval_key, protocol.adapt_seeds)
    budgets = protocol.few_shot_episodes
    for i in range(1, len(budgets) + 1):   # the nested pass up to each budget: the differences are per budget
      planner = protocol.planner.per_task(ev.learner) if protocol.planner is not None else None
      phases[f"few-shot to {budgets[i - 1]} episodes ({ev.few_shot_rounds} rounds per budget"
             f"{', planner' if planner else ''})"] = lambda b=budgets[:i], planner=planner: few_shot(
          ev, state.model, state.buffer, psis, protocol.adapt_key, protocol.eval_key, protocol.adapt_seeds, b, planner)
    for phase, fn in phases.items():
      first, second = _twice(fn)
      rows.append({"set": f"{name} ({psis.shape[0]} tasks)", "phase": phase, "first": first, "second": second,
                   "compile": max(first - second, 0.0)})
      print(f"{rows[-1]['set']}, {phase}: {first:.1f} s first, {second:.1f} s again", flush=True)
  seconds = tables.fixed(1)
  print(f"\ntraining: compile {result.compile_time_s:.1f} s, {config.loop.iterations} iterations "
        f"{result.train_time_s:.1f} s")
  print(tables.markdown(["set", "evaluator", "first call (s)", "compute (s)", "compile (s)"],
                        [[r["set"], r["phase"], seconds(r["first"]), seconds(r["second"]), seconds(r["compile"])]
                         for r in rows]), end="")
  print(f"total first calls: {np.sum([r['first'] for r in rows]):.1f} s")


if __name__ == "__main__":
  run(main)
