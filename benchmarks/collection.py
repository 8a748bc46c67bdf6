"""Figure 4, real-env collection: env steps/s of the project's collection (``real_rollouts``: episodes
vmapped, steps scanned, c and f computed, the state frozen after termination) over brax's own rollout
utility (``brax.training.acting.generate_unroll`` on the VmapWrapper'd env) on the same env, backend,
batch and policy network."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs.wrappers.training import VmapWrapper
from brax.training import acting

from admrl_jax.envs import make_family
from admrl_jax.rollout import real_rollouts
from admrl_jax.trpo import TRPO
import statistics

from benchmarks.common import figure_main, interleaved_seconds, median_ratio

GOAL = 0.95


def brax_acting(env, act, batch: int):
  """key -> next observations [T, batch, ds] of ``batch`` episodes of the policy ``act`` by brax's own
  rollout utility (``acting.generate_unroll`` on the VmapWrapper'd env): the reference for collection."""
  brax_env = VmapWrapper(env.brax_env)

  def brax_policy(obs, key):
    return jnp.clip(jax.vmap(act)(obs, jax.random.split(key, obs.shape[0])), -1.0, 1.0), {}

  def theirs(key):
    k_reset, k_roll = jax.random.split(key)
    state = brax_env.reset(jax.random.split(k_reset, batch))
    _, data = acting.generate_unroll(brax_env, state, brax_policy, k_roll, env.horizon)
    return data.next_observation

  return theirs


def measure(quick: bool = False) -> dict:
  cases = [("hopper_2d", "positional")] if quick else [("hopper_2d", "positional"), ("ant_2d", "mjx")]
  batch = 16 if quick else 64
  rows = []
  for name, backend in cases:
    env = make_family(name, backend).env
    agent = TRPO(env.obs_dim, env.action_dim)
    policy = agent.init(jax.random.key(0)).policy
    act = agent.act_fn(policy)
    ours = jax.jit(lambda k: real_rollouts(env, act, k, batch).next_obs)
    steps = batch * env.horizon
    t = interleaved_seconds({"ours": (ours, (jax.random.key(1),)),
                             "brax": (jax.jit(brax_acting(env, act, batch)), (jax.random.key(1),))})
    rows.append({"family": name, "backend": backend, "batch": batch, "horizon": env.horizon,
                 "ours_steps_per_s": steps / statistics.median(t["ours"]),
                 "brax_steps_per_s": steps / statistics.median(t["brax"]), "ratio": median_ratio(t["brax"], t["ours"])})
  return {"figure": "collection", "goal": f">= {GOAL}", "rows": rows, "met": all(r["ratio"] >= GOAL for r in rows)}


if __name__ == "__main__":
  figure_main(measure)
