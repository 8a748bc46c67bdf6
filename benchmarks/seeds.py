"""Figure 7, seeds side by side: 5 seeds of the PointMass2D ``cpu`` config trained in one jit (vmap over
a leading seed axis, hyper-parameters traced, ``admrl_jax.sweep``) against one seed: the wall time of one
outer iteration of each, timed in turn, their ratio (goal: within 2x, i.e. 5 seeds for at most twice one
seed's time), the compile time of each, and each outer step against its FLOP floor (the iteration's
model, policy and value FLOPs times the seeds, at the measured matmul rate).
"""
from __future__ import annotations

import statistics
import time

import jax

from admrl_jax import hyperparams
from admrl_jax.config import build
from admrl_jax.configs.point_mass_cpu import get_config
from admrl_jax.sweep import init_seeds, vmapped_chunk
from benchmarks.common import figure_main, interleaved_seconds, matmul_call, median_ratio, outer_iteration_flops

GOAL = 2.0
SEEDS = 5


def measure(quick: bool = False) -> dict:
  config = get_config()
  if quick:
    config.loop.warmup_rounds, config.loop.stage_rounds = 2, 1
  loop, _ = build(config)
  hp = hyperparams.from_config(config)
  seeds = list(range(SEEDS))
  one = (init_seeds(loop, seeds[:1]), hyperparams.stack([hp]))
  many = (init_seeds(loop, seeds), hyperparams.stack([hp] * SEEDS))
  calls, compile_s = {}, {}
  for name, args in (("one", one), ("many", many)):
    t0 = time.perf_counter()
    calls[name] = (jax.jit(vmapped_chunk(loop, 1)).lower(*args).compile(), args)
    compile_s[name] = time.perf_counter() - t0
  matmul, mm_args, mm_flops = matmul_call()
  t = interleaved_seconds({"matmul": (matmul, mm_args), **calls}, repeats=3)
  flops = outer_iteration_flops(loop)["total"]
  peak = mm_flops / statistics.median(t["matmul"])
  rows = [{"seeds": n, "seconds": statistics.median(t[name]), "compile_seconds": compile_s[name],
           "floor_seconds": n * flops / peak, "ratio_to_floor": median_ratio(t[name], t["matmul"]) * mm_flops / (n * flops)}
          for name, n in (("one", 1), ("many", SEEDS))]
  ratio = median_ratio(t["many"], t["one"])
  return {"figure": "seeds", "goal": f"{SEEDS} seeds <= {GOAL}x one seed", "family": "point_mass",
          "scale": "cpu", "matmul_flops_per_s": peak, "rows": rows, "ratio": ratio,
          "per_seed_speedup": SEEDS / ratio, "met": ratio <= GOAL}


if __name__ == "__main__":
  figure_main(measure)
