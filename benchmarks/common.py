"""What every benchmark figure shares: timing (median after warm-up), the matmul FLOP rate, analytic
FLOP counts of the networks and of one outer iteration, peak memory, and the JSON line a figure's
process prints for ``benchmarks.run``."""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import jax
import jax.numpy as jnp

REPEATS = 5   # timed repetitions after one warm-up call; figures report their median


def median_seconds(fn, *args, repeats: int = REPEATS) -> float:
  """Median wall time of ``fn(*args)`` (results blocked on) over ``repeats`` calls after a warm-up."""
  return statistics.median(interleaved_seconds({"f": (fn, args)}, repeats)["f"])


def interleaved_seconds(calls: dict, repeats: int = REPEATS, warm_up: bool = True) -> dict:
  """Wall times of several calls {name: (fn, args)}, each warmed up once (``warm_up=False``: the caller
  has run each already), then timed in turn within each of ``repeats`` rounds, so a ratio of two of them
  taken round by round sees the same machine load: -> {name: [seconds per round]}."""
  for fn, args in calls.values() if warm_up else ():
    jax.block_until_ready(fn(*args))
  times = {name: [] for name in calls}
  for _ in range(repeats):
    for name, (fn, args) in calls.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - t0)
  return times


def median_ratio(a: list, b: list) -> float:
  """Median over rounds of a_i / b_i (two series from ``interleaved_seconds``)."""
  return statistics.median(x / y for x, y in zip(a, b))


def matmul_call(n: int = 2048):
  """A large jitted float32 matmul [n, n] @ [n, n]: (fn, args, FLOPs = 2 n^3), the machine's peak."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  return jax.jit(lambda x, y: x @ y), (a, b), 2.0 * n**3


def matmul_flops_per_s(n: int = 2048, repeats: int = REPEATS) -> float:
  """FLOP rate of the large jitted matmul of ``matmul_call``."""
  fn, args, flops = matmul_call(n)
  return flops / median_seconds(fn, *args, repeats=repeats)


def mlp_flops(sizes) -> int:
  """Multiply-add FLOPs of one forward pass of a dense MLP with layer widths ``sizes`` (2 per weight)."""
  return int(sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:])))


def network_flops(loop) -> dict:
  """Forward FLOPs per sample of the model, policy and value nets of an OuterLoop."""
  learner = loop.learner
  env, agent, model = learner.family.env, learner.agent, learner.model
  ds, da = env.obs_dim, env.action_dim
  return {"model": mlp_flops([ds + da, *model.hidden, ds]),
          "policy": mlp_flops([ds, *agent.policy_hidden, da]),
          "value": mlp_flops([ds, *agent.value_hidden, 1])}


def trpo_update_flops(loop, samples: int) -> float:
  """A floor on one TRPO update's FLOPs over ``samples`` state-action pairs: GAE values (2 value
  forwards), surrogate gradient (3 policy forwards), old policy (1), CG + step-size Fisher products
  (4 each: a JVP of a gradient), 10 line-search candidates (surrogate and KL: 2 each) and the value
  fit (3 per epoch)."""
  f = network_flops(loop)
  agent = loop.learner.agent
  policy = 3 + 1 + 4 * (agent.cg_iters + 1) + 2 * agent.line_search_steps
  return samples * (f["policy"] * policy + f["value"] * (2 + 3 * agent.value_epochs))


def outer_iteration_flops(loop) -> dict:
  """A floor on the FLOPs of one outer iteration, by part (dense-layer multiply-adds only; the
  physics of the real environment is not counted)."""
  f = network_flops(loop)
  learner, model = loop.learner, loop.learner.model
  T, K = learner.family.env.horizon, loop.num_tasks
  rounds = loop.warmup_rounds + loop.slbo_stages * loop.stage_rounds
  updates = rounds * K * learner.trpo_updates
  virtual = learner.model_rollouts * T
  parts = {
      "model_fit": rounds * learner.fit_steps * model.batch_size * model.loss_horizon * 3 * f["model"],
      "model_rollouts": updates * virtual * (f["model"] + f["policy"]),
      "policy_updates": updates * trpo_update_flops(loop, virtual),
  }
  if getattr(loop.method, "uses_task_gradient", False):   # theta_hat's virtual batch, then H products:
    # two per normal-CG step (one for "direct"), one for the right-hand side and power_iters + 1 for
    # ||H||; each a linearised JVP of a gradient: ~5 passes of what H differentiates (model + policy
    # through the rollout for "pathwise", the policy alone for the score-function forms, ~8 with their
    # score terms)
    estimator = loop.estimator
    solver = estimator.solver
    n_grad = estimator.rollouts * T
    products = solver.iters * (2 if solver.method == "normal" else 1) + 1
    if solver.damping_scale == "relative" or solver.power_iters:
      products += solver.power_iters + 1
    per_product = 5 * (f["model"] + f["policy"]) if estimator.hessian == "pathwise" else 8 * f["policy"]
    parts["task_gradient"] = K * (n_grad * (f["model"] + f["policy"]) + products * n_grad * per_product)
  parts["total"] = sum(parts.values())
  return parts


def peak_memory_bytes() -> dict:
  """Peak memory: the accelerator's peak bytes in use where it reports them, and the host's max RSS."""
  out = {"host_max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
  stats = jax.devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    out["device_peak_bytes"] = int(stats["peak_bytes_in_use"])
  return out


def device_name() -> str:
  d = jax.devices()[0]
  return f"{d.platform}: {getattr(d, 'device_kind', '')} x{jax.device_count()}"


def figure_main(measure, flags: dict | None = None) -> None:
  """Entry point of one figure's process: parse --quick (and the boolean ``flags``: name -> help),
  measure, print one JSON line last."""
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
  for name, text in (flags or {}).items():
    parser.add_argument(f"--{name}", action="store_true", help=text)
  result = measure(**vars(parser.parse_args()))
  result["device"] = device_name()
  result["memory"] = peak_memory_bytes()
  print(json.dumps(result))
