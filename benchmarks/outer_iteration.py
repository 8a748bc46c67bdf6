"""Figure 2, outer-iteration efficiency: the wall time of one outer iteration over its FLOP floor (the
FLOPs of its model rollouts, model fitting and policy updates at the measured matmul rate), at the
PointMass2D ``cpu`` config (the main job) and at the ``paper`` config; with the outer step's compile
time, peak memory, and the same ratio for each part alone (what bounds the iteration).

The paper config's iteration (100 rounds of [fit; 20 TRPO updates on 10k virtual samples], 2 x 1000
model) takes minutes on a CPU; on a CPU host (without --full) its rounds are cut to 2 warm-up + 3 x 1
(5 rounds, every per-round size unchanged). Wall time and floor are both linear in the rounds, so the
ratio is the full iteration's up to the per-iteration collection and task gradient.
"""
from __future__ import annotations

import time

import jax

from admrl_jax.config import build
import statistics

from benchmarks.common import (figure_main, interleaved_seconds, matmul_call, median_ratio, network_flops,
                               outer_iteration_flops, trpo_update_flops)
from admrl_jax.configs.point_mass_cpu import get_config as cpu_config
from admrl_jax.configs.point_mass_paper import get_config as paper_config

GOAL = 1.5


def configs(quick: bool, full: bool) -> dict:
  cpu, paper = cpu_config(), paper_config()
  paper.loop.iterations = 5
  if not full:
    paper.loop.warmup_rounds, paper.loop.stage_rounds = 2, 1
  if quick:
    cpu.loop.warmup_rounds, cpu.loop.stage_rounds = 2, 1
    paper.model.hidden, paper.trpo.model_rollouts = (256, 256), 50
  return {"cpu": cpu, "paper": paper}


def against_floor(fn, args, flops: float) -> dict:
  """Seconds of fn(*args), its floor (flops at the matmul rate) and their ratio, matmul and fn
  timed in turn (median over rounds of the per-round ratio)."""
  matmul, mm_args, mm_flops = matmul_call()
  t = interleaved_seconds({"matmul": (matmul, mm_args), "f": (fn, args)})
  peak = mm_flops / statistics.median(t["matmul"])
  return {"seconds": statistics.median(t["f"]), "floor_seconds": flops / peak, "matmul_flops_per_s": peak,
          "ratio": median_ratio(t["f"], t["matmul"]) * mm_flops / flops}


def parts_alone(loop, state) -> list[dict]:
  """Wall time over floor for one model fit (fit_steps Adam steps), one batch of model rollouts, and one
  TRPO update on the model including its rollouts."""
  learner, f = loop.learner, network_flops(loop)
  model, T = learner.model, learner.family.env.horizon
  agent = learner.agent.init(jax.random.key(1))
  psi = state.psi[0]
  fit = jax.jit(lambda s, k: model.fit(s, state.buffer, k, learner.fit_steps))
  roll = jax.jit(lambda a, k: learner.virtual_batch(state.model, a, k).next_obs)
  update = jax.jit(lambda a, k: learner.adapt_on_model(state.model, a, psi, k, 1))
  virtual = learner.model_rollouts * T
  cases = [("model fit (one round)", fit, state.model,
            learner.fit_steps * model.batch_size * model.loss_horizon * 3 * f["model"]),
           ("model rollouts (one batch)", roll, agent, virtual * (f["model"] + f["policy"])),
           ("TRPO update on the model (rollouts + update)", update, agent,
            virtual * (f["model"] + f["policy"]) + trpo_update_flops(loop, virtual))]
  return [{"part": name, **against_floor(fn, (arg, jax.random.key(2)), flops)} for name, fn, arg, flops in cases]


def measure(quick: bool = False, full: bool = False) -> dict:
  rows = []
  for scale, config in configs(quick, full).items():
    loop, _ = build(config)
    state = loop.init(jax.random.key(0))
    t0 = time.perf_counter()
    step = jax.jit(loop.step).lower(state).compile()
    compile_s = time.perf_counter() - t0
    flops = outer_iteration_flops(loop)
    rows.append({"scale": scale, "rounds": loop.warmup_rounds + loop.slbo_stages * loop.stage_rounds,
                 "model_hidden": list(loop.learner.model.hidden), "compile_seconds": compile_s, "flops": flops,
                 **against_floor(step, (state,), flops["total"]), "parts": parts_alone(loop, state)})
  return {"figure": "outer_iteration", "goal": f"<= {GOAL}", "family": "point_mass", "full_paper_rounds": full,
          "matmul_flops_per_s": rows[0]["matmul_flops_per_s"], "rows": rows, "met": all(r["ratio"] <= GOAL for r in rows)}


if __name__ == "__main__":
  figure_main(measure, {"full": "the paper config's full 100 rounds per iteration"})
