"""Figure 5, task vectorisation: the wall time of one outer step (AdMRL, PointMass2D ``cpu`` config)
with K = 4 and K = 16 tasks vmapped, over the same step with K = 1."""
from __future__ import annotations

import jax

from admrl_jax.config import build
import statistics

from benchmarks.common import (figure_main, interleaved_seconds, matmul_flops_per_s, median_ratio,
                               outer_iteration_flops)
from admrl_jax.configs.point_mass_cpu import get_config

GOAL = 8.0   # K = 16 at most 8 times K = 1


def step_call(num_tasks: int, quick: bool):
  """((jitted outer step, its args) with K = num_tasks, its FLOP floor in FLOPs)."""
  config = get_config()
  config.loop.num_tasks = num_tasks
  if quick:
    config.loop.warmup_rounds, config.loop.stage_rounds = 2, 1
  loop, _ = build(config)
  state = loop.init(jax.random.key(0))
  return (jax.jit(loop.step), (state,)), outer_iteration_flops(loop)["total"]


def measure(quick: bool = False) -> dict:
  peak = matmul_flops_per_s()
  calls = {k: step_call(k, quick) for k in (1, 4, 16)}
  t = interleaved_seconds({k: call for k, (call, _) in calls.items()})
  ratio = {k: median_ratio(t[k], t[1]) for k in calls}
  rows = []
  for k, (_, flops) in calls.items():
    s = statistics.median(t[k])
    rows.append({"num_tasks": k, "seconds": s, "ratio_to_k1": ratio[k], "per_task_ratio": ratio[k] / k,
                 "floor_seconds": flops / peak, "floor_ratio_to_k1": flops / calls[1][1], "ratio_to_floor": s * peak / flops})
  return {"figure": "task_vectorisation", "goal": f"K=16 <= {GOAL}x", "family": "point_mass", "rows": rows,
          "met": ratio[16] <= GOAL}


if __name__ == "__main__":
  figure_main(measure)
