"""Figure 1, model-rollout efficiency: the FLOP rate of learned-model rollouts (model + policy, analytic
FLOP count) over the FLOP rate of a large jitted matmul, at the reference's model size (2 x 1000) on
Hopper2D's dimensions, with the reference's batch (50 rollouts x 200 steps) and with 1024 rollouts."""
from __future__ import annotations

import jax

from admrl_jax.dynamics import DynamicsModel
from admrl_jax.envs import make_family
from admrl_jax.rollout import model_rollouts
from admrl_jax.trpo import TRPO
import statistics

from benchmarks.common import figure_main, interleaved_seconds, matmul_call, median_ratio, mlp_flops

GOAL = 0.85


def measure(quick: bool = False) -> dict:
  env = make_family("hopper_2d", "positional").env
  ds, da, T = env.obs_dim, env.action_dim, env.horizon
  hidden = (256, 256) if quick else (1000, 1000)
  model = DynamicsModel(ds, da, hidden)
  agent = TRPO(ds, da)
  m_state = model.init(jax.random.key(0))
  policy = agent.init(jax.random.key(1)).policy
  per_step = mlp_flops([ds + da, *hidden, ds]) + mlp_flops([ds, *agent.policy_hidden, da])
  matmul, mm_args, mm_flops = matmul_call()
  rows, peaks = [], []
  for batch in (50, 1024):
    roll = jax.jit(lambda p, s, k, n=batch: model_rollouts(model, s, env, agent.act_fn(p), k, n).next_obs)
    t = interleaved_seconds({"matmul": (matmul, mm_args), "rollout": (roll, (policy, m_state, jax.random.key(2)))})
    flops = batch * T * per_step
    seconds = statistics.median(t["rollout"])
    peaks.append(mm_flops / statistics.median(t["matmul"]))
    rows.append({"batch": batch, "steps": batch * T, "seconds": seconds, "flops_per_s": flops / seconds,
                 "matmul_flops_per_s": peaks[-1], "efficiency": median_ratio(t["matmul"], t["rollout"]) * flops / mm_flops})
  return {"figure": "model_rollout", "goal": f">= {GOAL}", "model_hidden": list(hidden), "obs_dim": ds,
          "action_dim": da, "horizon": T, "matmul_flops_per_s": peaks[0], "matmul_flops_per_s_after": peaks[-1],
          "flops_per_step": per_step, "rows": rows, "met": all(r["efficiency"] >= GOAL for r in rows)}


if __name__ == "__main__":
  figure_main(measure)
