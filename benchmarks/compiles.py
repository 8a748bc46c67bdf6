"""Figure 6, compiles: XLA compilations while the jitted outer step (AdMRL, PointMass2D ``cpu`` config,
two tasks) runs 5 iterations whose tasks change every iteration; counted by jax's backend-compile
monitoring event, and by the jitted function's trace cache."""
from __future__ import annotations

import jax
import numpy as np
from jax._src import dispatch

from admrl_jax.config import build
from benchmarks.common import figure_main
from admrl_jax.configs.point_mass_cpu import get_config

GOAL = 1
ITERATIONS = 5


def measure(quick: bool = False) -> dict:
  config = get_config()
  config.loop.num_tasks = 2
  if quick:
    config.loop.warmup_rounds, config.loop.stage_rounds = 2, 1
  loop, _ = build(config)
  state = loop.init(jax.random.key(0))
  step = jax.jit(loop.step)
  events = []
  record = lambda name, seconds, **_: events.append((name, seconds))
  jax.monitoring.register_event_duration_secs_listener(record)
  try:
    psis = []
    for _ in range(ITERATIONS):
      state, metrics = step(state)
      psis.append(np.asarray(metrics["psi"]))
    jax.block_until_ready(state)
  finally:
    jax.monitoring.unregister_event_duration_listener(record)
  compiles = [s for name, s in events if name == dispatch.BACKEND_COMPILE_EVENT]
  compiles_all = len(compiles)
  moved = [bool(np.any(a != b)) for a, b in zip(psis[:-1], psis[1:])]
  return {"figure": "compiles", "goal": f"exactly {GOAL}", "iterations": ITERATIONS,
          "tasks_changed_every_iteration": all(moved), "compiles": compiles_all,
          "compile_seconds": float(sum(compiles)), "trace_cache_size": step._cache_size(),
          "met": compiles_all == GOAL and step._cache_size() == 1 and all(moved)}


if __name__ == "__main__":
  figure_main(measure)
