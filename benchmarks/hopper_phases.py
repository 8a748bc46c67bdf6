"""Figure 8, where a Hopper2D run spends its time: one outer iteration of the ``hopper_2d_cpu`` config
(K = 1) by phase, and the evaluators per test task.

Each phase is jitted alone on the state after one outer iteration (a fitted model; every shape is fixed by
the config, so the state's values do not change the work): seconds per call (median of 5 after a warm-up,
the phases of one table timed in turn with the 2048^3 matmul that sets the FLOP rate), calls per outer
iteration (per run for the evaluators), the compile seconds of each phase's own program, and its FLOP
floor ratio where it has dense-layer FLOPs (``benchmarks.common``: network, TRPO-update and
outer-iteration FLOPs). Real collection is set against brax's own acting on the same batch and policy
(as figure 4). Then the whole outer step (as the runner compiles it: ``run_chunk`` of one iteration with
traced hyper-parameters, without buffer donation) against the sum of its parts, at the config's buffer
(N = 10 iterations) and at the buffer of N = 100, which sets what 100 iterations take; the host's
checkpoint save per iteration (``checkpoint.every = 1``); and the knobs a 100-iteration config can turn,
each at its measured cost.

Where the distance from the FLOP floor lies: the TRPO update on the model split by timing variants of the
same agent (no conjugate gradients, one line-search candidate, no value fit; GAE and the value fit's
shuffles alone), each against its own FLOPs, and the policy's dense layers alone at the batch they run at.

The policy evaluator per task is composed from its parts at the evaluation's task batch (one vmapped TRPO
update on the model, one vmapped real evaluation of the mean action): adapt_updates x update +
(curve points + 1) x evaluation, over the batch; the composition is checked against the evaluator's own
``zero_shot_items`` at a small update count. The adaptation floor (the evaluator on the true dynamics)
the same way. The model planner for Brax families is not here (being built elsewhere).
"""
from __future__ import annotations

import dataclasses
import math
import shutil
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from admrl_jax import hyperparams
from admrl_jax.checkpoint import Checkpointer
from admrl_jax.config import build
from admrl_jax.configs.hopper_2d_cpu import get_config
from admrl_jax.evaluation import curve_points
from admrl_jax.evaluation_protocol import make_test_sets
from admrl_jax.rollout import model_rollouts
from benchmarks.collection import brax_acting
from benchmarks.common import (figure_main, interleaved_seconds, matmul_call, median_ratio, network_flops,
                               outer_iteration_flops, trpo_update_flops)
from benchmarks.trpo_variants import VariantTRPO

GOAL_SECONDS = 25 * 60   # issue 26: a 100-iteration Hopper2D training within 25 minutes on this machine
STUDY_ITERATIONS = 100
CHECK_UPDATES = 4        # the evaluator's own items at this many updates check the composed per-task cost
NUDGE = 1e-7             # the rounding control: the start moved by this fraction of the first update's step


def configs(quick: bool):
  """(the cpu config, the same at N = 100 iterations: only its buffer is larger)."""
  config = get_config()
  if quick:
    config.loop.warmup_rounds, config.loop.slbo_stages, config.loop.stage_rounds = 1, 1, 1
    config.loop.real_episodes = config.loop.initial_episodes = 2
    config.loop.gradient_rollouts, config.task_gradient.cg_iters = 4, 2
    config.model.hidden, config.model.fit_steps = (64, 64), 5
    config.trpo.updates_per_round, config.trpo.model_rollouts = 2, 4
    config.eval.adapt_updates = 4
  study = config.copy_and_resolve_references()
  study.loop.iterations = STUDY_ITERATIONS
  return config, study


def compile_timed(fn, *args):
  """(compiled fn, compile seconds): ``jax.jit(fn).lower(*args).compile()``."""
  t0 = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return compiled, time.perf_counter() - t0


def timed_rows(rows: list[dict], repeats: int | None = None, warm_up: bool = True) -> float:
  """Time rows {name, fn, args, flops (or None)} in turn with the matmul; writes seconds, and where
  flops: floor_seconds and ratio (median over rounds of the per-round ratio). Returns the FLOP rate."""
  mm, mm_args, mm_flops = matmul_call()
  jax.block_until_ready(mm(*mm_args))
  calls = {"matmul": (mm, mm_args), **{r["name"]: (r.pop("fn"), r.pop("args")) for r in rows}}
  t = interleaved_seconds(calls, **({"repeats": repeats} if repeats else {}), warm_up=warm_up)
  peak = mm_flops / statistics.median(t["matmul"])
  for r in rows:
    r["seconds"] = statistics.median(t[r["name"]])
    r["rounds"] = [round(x, 6) for x in t[r["name"]]]
    if r.get("flops"):
      r["floor_seconds"] = r["flops"] / peak
      r["ratio"] = median_ratio(t[r["name"]], t["matmul"]) * mm_flops / r["flops"]
  return peak


def checkpoint_seconds(state, repeats: int = 3) -> float:
  """Median seconds of one blocking ``Checkpointer.save`` of ``state`` (the runner's per-iteration save)."""
  folder = tempfile.mkdtemp(prefix="hopper_phases_ckpt_")
  try:
    ckpt = Checkpointer(folder, keep=2)
    times = []
    for i in range(repeats + 1):
      t0 = time.perf_counter()
      ckpt.save(state.replace(iteration=jnp.asarray(i + 1, jnp.int32)), [])
      times.append(time.perf_counter() - t0)
    ckpt.close()
    return statistics.median(times[1:])
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def outer_step(loop, config, key):
  """The runner's compiled step (one iteration per chunk, traced hyper-parameters), its compile and
  init seconds, and the state after one iteration (its warm-up call)."""
  t0 = time.perf_counter()
  state = jax.block_until_ready(loop.init(key))
  init_s = time.perf_counter() - t0
  hp = hyperparams.from_config(config)
  step, compile_s = compile_timed(lambda s, h: loop.run_chunk(s, 1, h), state, hp)
  t0 = time.perf_counter()
  after, _ = jax.block_until_ready(step(state, hp))
  first_s = time.perf_counter() - t0
  return {"fn": step, "args": (after, hp), "compile_seconds": compile_s, "init_seconds": init_s,
          "first_call_seconds": first_s}, after


def measure(quick: bool = False) -> dict:
  config, study = configs(quick)
  loop, evaluator = build(config)
  loop100, _ = build(study)
  learner, model, agent_cfg = loop.learner, loop.learner.model, loop.learner.agent
  env, family = learner.family.env, learner.family
  K, T = loop.num_tasks, env.horizon
  rounds = loop.warmup_rounds + loop.slbo_stages * loop.stage_rounds
  f = network_flops(loop)
  virtual = learner.model_rollouts * T
  iter_flops = outer_iteration_flops(loop)

  # --- the whole outer step, at the config's buffer (N = 10) and at N = 100's ---
  step10, state = outer_step(loop, config, jax.random.key(0))
  step100, state100 = outer_step(loop100, study, jax.random.key(0))
  steps = [{"name": f"outer step, buffer of N = {config.loop.iterations}", **step10, "flops": iter_flops["total"],
            "buffer_episodes": int(state.buffer.capacity)},
           {"name": f"outer step, buffer of N = {STUDY_ITERATIONS}", **step100, "flops": iter_flops["total"],
            "buffer_episodes": int(state100.buffer.capacity)}]
  timed_rows(steps, warm_up=False)

  # --- the phases of one outer iteration, each jitted alone ---
  k = jax.random.key(2)
  agent = agent_cfg.init(jax.random.key(1))
  psi = state.psi[0]
  policy = agent.policy
  act = agent_cfg.act_fn(policy)
  real = jax.jit(lambda a, key: learner.real_batch(a, key, loop.real_episodes))
  real_hat, real_star = real(agent, jax.random.key(3)), real(agent, jax.random.key(4))
  parts = [
      ("real collection (one policy's episodes)", K * loop.collections_per_iteration,
       lambda key: learner.real_batch(agent, key, loop.real_episodes), (k,), None),
      ("brax acting, same batch and policy (reference)", 0, brax_acting(env, act, loop.real_episodes), (k,), None),
      ("model fit (one round)", rounds, lambda s, b, key: model.fit(s, b, key, learner.fit_steps),
       (state.model, state.buffer, k), learner.fit_steps * model.batch_size * model.loss_horizon * 3 * f["model"]),
      (f"model fit (one round), buffer of N = {STUDY_ITERATIONS}", 0,
       lambda s, b, key: model.fit(s, b, key, learner.fit_steps), (state100.model, state100.buffer, k),
       learner.fit_steps * model.batch_size * model.loss_horizon * 3 * f["model"]),
      ("TRPO update on the model (rollouts + update)", rounds * K * learner.trpo_updates,
       lambda m, a, key: learner.adapt_on_model(m, a, psi, key, 1), (state.model, agent, k),
       virtual * (f["model"] + f["policy"]) + trpo_update_flops(loop, virtual)),
      ("task gradient", K if loop.method.uses_task_gradient else 0,
       lambda a, m, key, rh, rs: loop.estimator(a, psi, m, key, rh, rs, a),
       (agent, state.model, k, real_hat, real_star),
       iter_flops.get("task_gradient", 0.0) / K),
  ]
  # knobs of a shorter iteration: the TRPO update on the model with fewer virtual episodes
  half = max(1, learner.model_rollouts // 2)
  learner_half = dataclasses.replace(learner, model_rollouts=half)
  parts.append((f"TRPO update on the model, {half} virtual episodes (knob)", 0,
                lambda m, a, key: learner_half.adapt_on_model(m, a, psi, key, 1), (state.model, agent, k),
                half * T * (f["model"] + f["policy"]) + trpo_update_flops(loop, half * T)))
  phase_rows = []
  for name, calls, fn, args, flops in parts:
    compiled, compile_s = compile_timed(fn, *args)
    phase_rows.append({"name": name, "calls": calls, "fn": compiled, "args": args, "flops": flops,
                       "compile_seconds": compile_s})
  timed_rows(phase_rows)
  by = {r["name"]: r for r in phase_rows}
  collection = phase_rows[0]
  brax_s = by["brax acting, same batch and policy (reference)"]["seconds"]
  steps_per_call = loop.real_episodes * T
  collection.update(brax_ratio=brax_s / collection["seconds"], steps_per_s=steps_per_call / collection["seconds"],
                    brax_steps_per_s=steps_per_call / brax_s)

  # --- the TRPO update on the model by component: timing variants of the same agent ---
  traj = jax.jit(lambda m, a, key: learner.virtual_batch(m, a, key))(state.model, agent, k)
  rewards = family.reward(traj.c, traj.f, psi)
  update_of = lambda ag: (lambda a, t, r, key: ag.update(a, t, r, key))
  cg, ls, ve = agent_cfg.cg_iters, agent_cfg.line_search_steps, agent_cfg.value_epochs
  n = traj.c.shape[0] * traj.c.shape[1]
  variants = [
      ("model rollouts (one batch)", lambda m, a, key: learner.virtual_batch(m, a, key), (state.model, agent, k),
       virtual * (f["model"] + f["policy"])),
      ("model rollouts, the action zero (no policy in the scan)",
       lambda m, key: model_rollouts(model, m, env, lambda o, kk: jnp.zeros(env.action_dim), key,
                                     learner.model_rollouts), (state.model, k), virtual * f["model"]),
      ("TRPO update alone (on a fixed batch)", update_of(agent_cfg), (agent, traj, rewards, k),
       trpo_update_flops(loop, virtual)),
      ("update without conjugate gradients (cg_iters = 0)", update_of(dataclasses.replace(agent_cfg, cg_iters=0)),
       (agent, traj, rewards, k), None),
      ("update with one line-search candidate", update_of(dataclasses.replace(agent_cfg, line_search_steps=1)),
       (agent, traj, rewards, k), None),
      ("update without the value fit (value_epochs = 0)", update_of(dataclasses.replace(agent_cfg, value_epochs=0)),
       (agent, traj, rewards, k), None),
      ("GAE alone (values of obs and next obs, reverse scan)", lambda v, t, r: agent_cfg.advantages(v, t, r),
       (agent.value, traj, rewards), n * 2 * f["value"]),
      (f"the value fit's shuffles alone ({ve} permutations of {n})",
       lambda key: jax.vmap(lambda kk: jax.random.permutation(kk, n))(jax.random.split(key, ve)), (k,), None),
  ]
  variant_rows = []
  for name, fn, args, flops in variants:
    compiled, compile_s = compile_timed(fn, *args)
    variant_rows.append({"name": name, "fn": compiled, "args": args, "flops": flops, "compile_seconds": compile_s})
  # the policy's dense layers alone at the update's batch: forward, and forward + backward (one gradient)
  obs = traj.obs.reshape(-1, env.obs_dim)
  reps = 20   # inside one program, so dispatch does not count
  fwd = lambda p, x: jax.lax.scan(lambda c, _: (c + 1e-6 * jnp.mean(agent_cfg.policy_net.apply(p, x + c)[0]), None),
                                  0.0, None, length=reps)[0]
  mean_sum = lambda q, x: jnp.sum(agent_cfg.policy_net.apply(q, x)[0])
  grad = lambda p, x: jax.lax.scan(lambda c, _: (c + 1e-6 * jnp.mean(ravel_pytree(jax.grad(mean_sum)(p, x + c))[0]),
                                                 None), 0.0, None, length=reps)[0]
  for name, fn, flops in ((f"policy forward alone, {n} samples (x{reps})", fwd, reps * n * f["policy"]),
                          (f"policy forward + backward alone, {n} samples (x{reps})", grad,
                           3 * reps * n * f["policy"])):
    compiled, compile_s = compile_timed(fn, policy, obs)
    variant_rows.append({"name": name, "fn": compiled, "args": (policy, obs), "flops": flops,
                         "compile_seconds": compile_s, "repeats_inside": reps})
  timed_rows(variant_rows)
  vby = {r["name"]: r for r in variant_rows}
  full = vby["TRPO update alone (on a fixed batch)"]["seconds"]
  policy_flops = lambda forwards: n * f["policy"] * forwards
  components = [
      ("conjugate gradients", full - vby["update without conjugate gradients (cg_iters = 0)"]["seconds"],
       policy_flops(4 * cg)),
      (f"line search ({ls - 1} more candidates)", full - vby["update with one line-search candidate"]["seconds"],
       policy_flops(2 * (ls - 1))),
      ("value fit", full - vby["update without the value fit (value_epochs = 0)"]["seconds"],
       n * f["value"] * 3 * ve),
  ]
  peak = steps[0]["flops"] / steps[0]["floor_seconds"]
  component_rows = [{"name": name, "seconds": s, "share": s / full, "flops": fl, "floor_seconds": fl / peak,
                     "ratio": s / (fl / peak)} for name, s, fl in components]

  # --- what would close part of it: variants of the update (benchmarks/trpo_variants.py), one round's
  # TRPO updates on the model for one task, and their agreement with the shipped update ---
  u = learner.trpo_updates
  fix_rows, fix_out, fix_fns = [], {}, {}
  for name, variant in (("shipped update", {}), ("sequential line search", {"search": "sequential"}),
                        ("Gauss-Newton Fisher products", {"fvp": "ggn"}),
                        ("both", {"search": "sequential", "fvp": "ggn"})):
    ln = dataclasses.replace(learner, agent=VariantTRPO.of(agent_cfg, **variant))

    def updates(m, a, key, n_updates, ln=ln):   # Learner.adapt_on_model, every update's metrics kept
      def body(s, kk):
        k_roll, k_upd = jax.random.split(kk)
        tr = ln.virtual_batch(m, s, k_roll)
        return ln.agent.update(s, tr, family.reward(tr.c, tr.f, psi), k_upd)
      return jax.lax.scan(body, a, jax.random.split(key, n_updates))

    compiled, compile_s = compile_timed(lambda m, a, key, fn=updates: fn(m, a, key, u), state.model, agent, k)
    one_fn = jax.jit(lambda m, a, key, fn=updates: fn(m, a, key, 1)[0])
    fix_out[name] = (compiled(state.model, agent, k), one_fn(state.model, agent, k))
    fix_fns[name] = (compiled, one_fn)
    fix_rows.append({"name": name, "fn": compiled, "args": (state.model, agent, k), "compile_seconds": compile_s,
                     "flops": u * (virtual * (f["model"] + f["policy"]) + trpo_update_flops(loop, virtual))})
  timed_rows(fix_rows)
  flat = lambda a: ravel_pytree(a.policy)[0]
  (ref_u, ref_metrics), ref_1 = fix_out["shipped update"]
  for row in fix_rows:
    (out_u, metrics), out_1 = fix_out[row["name"]]
    moved = lambda ref: float(jnp.linalg.norm(flat(ref) - flat(agent)))
    row.update(seconds_over_shipped=row["seconds"] / fix_rows[0]["seconds"],
               rel_diff_1=float(jnp.linalg.norm(flat(out_1) - flat(ref_1))) / moved(ref_1),
               rel_diff_u=float(jnp.linalg.norm(flat(out_u) - flat(ref_u))) / moved(ref_u),
               mean_candidates_tried=float(jnp.mean(metrics["candidates_tried"])),
               accepted=float(jnp.mean(metrics["line_search_accepted"])), updates=u)
  # the control: how far the shipped update itself carries a rounding-sized change of its start
  shipped_u, shipped_1 = fix_fns["shipped update"]
  flat0, unravel0 = ravel_pytree(agent.policy)
  direction = jax.random.normal(jax.random.key(8), flat0.shape)
  nudge = NUDGE * jnp.linalg.norm(flat(ref_1) - flat0) * direction / jnp.linalg.norm(direction)
  nudged = agent.replace(policy=unravel0(flat0 + nudge))
  (nudged_u, _), nudged_1 = shipped_u(state.model, nudged, k), shipped_1(state.model, nudged, k)
  rounding = {"nudge": NUDGE, "updates": u,
              "rel_diff_1": float(jnp.linalg.norm(flat(nudged_1) - flat(ref_1)) / jnp.linalg.norm(flat(ref_1) - flat0)),
              "rel_diff_u": float(jnp.linalg.norm(flat(nudged_u) - flat(ref_u)) / jnp.linalg.norm(flat(ref_u) - flat0))}

  # --- the evaluators per test task, composed from their parts at the evaluation's task batch ---
  e = config.eval
  test_sets = make_test_sets(family.box, jax.random.key(e.seed), e.grid_points, tuple(e.grid_points_3d),
                             e.random_tasks, e.ood_fraction, e.ood)
  B = evaluator.task_batch
  tasks = {name: int(p.shape[0]) for name, p in test_sets.items()}
  slots = sum(math.ceil(g * e.adapt_seeds / B) * B for g in tasks.values())
  psis = family.box.sample_uniform(jax.random.key(5), B)
  keys = jax.random.split(jax.random.key(6), B)
  agents = jax.vmap(agent_cfg.init)(jax.random.split(jax.random.key(7), B))
  eval_key = jax.random.key(e.seed)
  floor_ev = evaluator.on_true_dynamics()
  points = curve_points(evaluator.adapt_updates) + 1
  check_ev = dataclasses.replace(evaluator, adapt_updates=CHECK_UPDATES)
  check_points = curve_points(CHECK_UPDATES) + 1
  ev_parts = [
      ("policy evaluator: one TRPO update on the model, task batch", "update",
       lambda m, a, p, ks: jax.vmap(lambda a1, p1, k1: learner.adapt_on_model(m, a1, p1, k1, 1))(a, p, ks),
       (state.model, agents, psis, keys)),
      ("floor: one TRPO update on the true dynamics, task batch", "floor_update",
       lambda a, p, ks: jax.vmap(lambda a1, p1, k1: floor_ev.learner.adapt_on_model(None, a1, p1, k1, 1))(a, p, ks),
       (agents, psis, keys)),
      ("real return of the mean action (evaluation episodes), task batch", "policy_return",
       lambda a, p: jax.vmap(lambda a1, p1: evaluator.policy_return(a1, p1, eval_key))(a, p), (agents, psis)),
      (f"check: the policy evaluator's own items at {CHECK_UPDATES} updates, task batch", "check",
       lambda m, p, ks: check_ev.zero_shot_items(m, p, ks, eval_key), (state.model, psis, keys)),
  ]
  eval_rows = []
  for name, key_name, fn, args in ev_parts:
    compiled, compile_s = compile_timed(fn, *args)
    eval_rows.append({"name": name, "key": key_name, "fn": compiled, "args": args, "compile_seconds": compile_s})
  timed_rows(eval_rows)
  eby = {r["key"]: r["seconds"] for r in eval_rows}
  composed_check = (CHECK_UPDATES * eby["update"] + check_points * eby["policy_return"])
  # the compile of the programs a run actually calls (the evaluator's items at its own update count)
  _, policy_compile = compile_timed(lambda m, p, ks: evaluator.zero_shot_items(m, p, ks, eval_key),
                                    state.model, psis, keys)
  _, floor_compile = compile_timed(lambda p, ks: floor_ev.zero_shot_items(None, p, ks, eval_key), psis, keys)
  update_flops = virtual * (f["model"] + f["policy"]) + trpo_update_flops(loop, virtual)
  evaluators = []
  for name, upd, compile_s, flops in (
      ("policy evaluator (adaptation on the model)", eby["update"], policy_compile,
       evaluator.adapt_updates * update_flops),
      ("adaptation floor (the same on the true dynamics)", eby["floor_update"], floor_compile, None)):
    per_task = (evaluator.adapt_updates * upd + points * eby["policy_return"]) / B
    row = {"name": name, "seconds_per_task": per_task, "compile_seconds": compile_s, "tasks": sum(tasks.values()),
           "task_slots": slots, "run_seconds": per_task * slots}
    if flops:
      row.update(flops=flops, floor_seconds=flops / peak, ratio=per_task / (flops / peak))
    evaluators.append(row)

  # --- host: the checkpoint the runner saves after every iteration at checkpoint.every = 1 ---
  ckpt = {f"N = {config.loop.iterations}": checkpoint_seconds(state),
          f"N = {STUDY_ITERATIONS}": checkpoint_seconds(state100)}

  # --- the iteration against the sum of its parts, and N = 100 ---
  accounted = sum(r["calls"] * r["seconds"] for r in phase_rows)
  iteration = steps[0]["seconds"]
  iteration100 = steps[1]["seconds"]
  ckpt100 = ckpt[f"N = {STUDY_ITERATIONS}"] / max(1, study.checkpoint.every)
  per_iter100 = iteration100 + ckpt100
  train100 = steps[1]["compile_seconds"] + steps[1]["init_seconds"] + STUDY_ITERATIONS * per_iter100
  round_s = by["model fit (one round)"]["seconds"] + K * learner.trpo_updates * by[
      "TRPO update on the model (rollouts + update)"]["seconds"]
  update_s = by["TRPO update on the model (rollouts + update)"]["seconds"]
  half_s = by[f"TRPO update on the model, {half} virtual episodes (knob)"]["seconds"]
  knobs = [
      {"knob": "one round fewer (warm-up or stage: a model fit + K x updates_per_round TRPO updates)",
       "seconds_per_iteration": round_s},
      {"knob": "updates_per_round - 1 (one TRPO update fewer in each of the rounds)",
       "seconds_per_iteration": rounds * K * update_s},
      {"knob": f"model_rollouts {learner.model_rollouts} -> {half} (every TRPO update on the model)",
       "seconds_per_iteration": rounds * K * learner.trpo_updates * (update_s - half_s)},
      {"knob": f"fit_steps {learner.fit_steps} -> {learner.fit_steps // 2}",
       "seconds_per_iteration": rounds * by["model fit (one round)"]["seconds"] / 2},
      {"knob": "checkpoint.every 1 -> 10 (host save, buffer of N = 100)",
       "seconds_per_iteration": ckpt[f"N = {STUDY_ITERATIONS}"] * 0.9},
      {"knob": "no task gradient (what MB-Unif / MB-Gauss skip)",
       "seconds_per_iteration": K * by["task gradient"]["seconds"]},
  ]
  return {"figure": "hopper_phases", "goal": f"N = {STUDY_ITERATIONS} training <= {GOAL_SECONDS // 60} min",
          "family": "hopper_2d", "scale": "cpu", "quick": quick,
          "config": {"num_tasks": K, "rounds": rounds, "warmup_rounds": loop.warmup_rounds,
                     "slbo_stages": loop.slbo_stages, "stage_rounds": loop.stage_rounds,
                     "trpo_updates": learner.trpo_updates, "model_rollouts": learner.model_rollouts,
                     "fit_steps": learner.fit_steps, "model_hidden": list(model.hidden),
                     "real_episodes": loop.real_episodes, "horizon": T, "adapt_updates": evaluator.adapt_updates,
                     "task_batch": B, "tasks": tasks, "checkpoint_every": config.checkpoint.every},
          "matmul_flops_per_s": peak, "flops": iter_flops, "steps": steps, "phases": phase_rows,
          "update_variants": variant_rows, "update_components": component_rows, "update_fixes": fix_rows,
          "rounding_control": rounding,
          "evaluators": evaluators,
          "evaluator_check": {"composed_seconds": composed_check, "measured_seconds": eby["check"],
                              "ratio": eby["check"] / composed_check, "updates": CHECK_UPDATES},
          "checkpoint_seconds": ckpt, "accounted_seconds": accounted, "iteration_seconds": iteration,
          "unaccounted_seconds": iteration - accounted, "iteration_seconds_n100": iteration100,
          "per_iteration_n100": per_iter100, "train_seconds_n100": train100, "knobs": knobs,
          "met": train100 <= GOAL_SECONDS}


if __name__ == "__main__":
  figure_main(measure)
