"""docs/benchmarks.md from the figures' JSON results: the machine, then each figure with its goal,
whether it met it, its measured table, and what bounds it."""
from __future__ import annotations

from admrl_jax.tables import markdown as _table


def _g(x: float) -> str:
  return f"{x:.3g}"


def _verdict(r: dict) -> str:
  return f"goal {r['goal']}: **{'met' if r['met'] else 'missed'}**"


def _model_rollout(r):
  out = (f"Learned-model rollouts, model {r['model_hidden']} on Hopper2D's dimensions (ds = {r['obs_dim']}, "
         f"da = {r['action_dim']}, T = {r['horizon']}), policy (32, 32); {r['flops_per_step']:,} FLOPs per step "
         f"(dense layers). Matmul peak (2048^3): {_g(r['matmul_flops_per_s'] / 1e9)} GFLOP/s "
         f"({_g(r['matmul_flops_per_s_after'] / 1e9)} measured again after).\n\n")
  out += _table(["rollouts x steps", "seconds", "GFLOP/s", "efficiency"],
                [[f"{x['batch']} x {r['horizon']}", _g(x["seconds"]), _g(x["flops_per_s"] / 1e9), f"{x['efficiency']:.3f}"]
                 for x in r["rows"]])
  return out


def _outer_iteration(r):
  out = (f"One AdMRL outer iteration on PointMass2D (K = 1), jitted, against the FLOP floor of its model "
         f"fitting, model rollouts, policy updates and task gradient at the matmul rate "
         f"({_g(r['matmul_flops_per_s'] / 1e9)} GFLOP/s). The paper row runs "
         f"{'its full 100 rounds' if r['full_paper_rounds'] else 'the paper sizes with 5 rounds instead of 100 (see the module docstring)'}.\n\n")
  out += _table(["config", "rounds", "model", "compile s", "iteration s", "floor s", "ratio"],
                [[x["scale"], x["rounds"], tuple(x["model_hidden"]), _g(x["compile_seconds"]), _g(x["seconds"]),
                  _g(x["floor_seconds"]), _g(x["ratio"])] for x in r["rows"]])
  out += "\nWhere the time goes: each part alone against its own floor.\n\n"
  out += _table(["config", "part", "seconds", "floor s", "ratio"],
                [[x["scale"], p["part"], _g(p["seconds"]), _g(p["floor_seconds"]), _g(p["ratio"])]
                 for x in r["rows"] for p in x["parts"]])
  shares = [[x["scale"]] + [f"{100 * x['flops'][k] / x['flops']['total']:.0f}%" for k in
                            ("model_fit", "model_rollouts", "policy_updates", "task_gradient")] for x in r["rows"]]
  out += "\nShare of the floor's FLOPs:\n\n" + _table(["config", "model fit", "model rollouts", "policy updates",
                                                        "task gradient"], shares)
  return out


def _task_gradient(r):
  ref = r.get("reference_settings", {})
  out = (f"PointMass2D `cpu` config (k = {r['psi_dim']}, {r['n_params']} policy parameters, "
         f"{r['gradient_rollouts']} virtual episodes for H and J, {r['trpo_rollouts']} per TRPO update). "
         f"Shipped estimator: {r.get('hessian', '?')} H, {r.get('advantage', '?')} advantages, "
         f"{r.get('solver_method', '?')} solver, damping {r.get('damping', '?')} ({r.get('damping_scale', '?')})")
  if ref:
    out += (f"; the reference's: {ref['hessian']} H, {ref['advantage']} advantages, {ref['solver_method']} solver, "
            f"damping {ref['damping']} ({ref['damping_scale']})")
  out += ".\n\n"
  rows = [["one TRPO update on the model (its rollouts + update)", _g(r["trpo_update_seconds"]), "1"],
          [f"task gradient, {r['config_cg_iters']} CG iterations (the config)", _g(r["task_gradient_seconds"]),
           _g(r["ratio"])],
          ["task gradient, 200 CG iterations", _g(r["task_gradient_200_seconds"]), _g(r["ratio_200"])]]
  if "reference_jit_seconds" in r:
    rows.append(["reference's estimator settings, 200 CG iterations, one jit", _g(r["reference_jit_seconds"]),
                 _g(r["reference_jit_ratio"])])
  rows.append(["reference's way: 200 CG iterations per dimension, host loop", _g(r["reference_way_seconds"]),
               _g(r["reference_ratio"])])
  out += _table(["computation", "seconds", "/ one TRPO update"], rows)
  out += f"\nOurs (200 iterations, one adjoint solve in one jit) is {_g(r['speedup_over_reference'])}x faster than the reference's way"
  if "host_loop_speedup" in r:
    out += (f" ({_g(r['host_loop_speedup'])}x from the single jit alone, same estimator settings; the host loop's "
            f"gradient differs from the single jit's by {_g(r['reference_host_loop_vs_jit_rel_diff'])}, relative). "
            f"The shipped and the reference's gradients differ by {_g(r['reference_vs_ours_rel_diff'])} (relative; "
            f"different estimators); the config's {r['config_cg_iters']} CG iterations against 200: "
            f"{_g(r['ours_config_vs_200_rel_diff'])}.\n\n")
  else:
    out += f"; the two gradients differ by {_g(r['reference_vs_ours_rel_diff'])} (relative).\n\n"
  if "cg_damping_abs" in r:
    out += (f"CG at the shipped setting against the exact solve of the same damped system ({r['solver_method']}, "
            f"float64, explicit H; absolute damping {_g(r['cg_damping_abs'])}"
            + ((f" = {r['damping']} x {'||H||^2 / n' if r['solver_method'] == 'normal' else '||H||'}")
               if r["damping_scale"] == "relative" else " as configured")
            + f" (the shipped call's: {_g(r['ours_damping_abs'])})"
            + f", ||H|| = {_g(r['hessian_norm'])} by {r['power_iters']} power iterations "
            f"(exact {_g(r['hessian_norm_exact'])}; eigenvalues of H in [{_g(r['hessian_eig_min'])}, "
            f"{_g(r['hessian_eig_max'])}]), n = {r['n_params']}, condition number {_g(r['condition_number'])}):\n\n")
  else:
    out += (f"CG against the exact solve of the same damped normal equations (float64, explicit H; condition "
            f"number {_g(r['condition_number'])}):\n\n")
  out += _table(["CG iterations", "iterate rel. error", "implicit term rel. error"],
                [[x["cg_iters"], _g(x["solution_rel_error"]), _g(x["implicit_term_rel_error"])] for x in r["cg_errors"]])
  return out


def _collection(r):
  return _table(["family", "backend", "episodes x T", "ours steps/s", "brax acting steps/s", "ratio"],
                [[x["family"], x["backend"], f"{x['batch']} x {x['horizon']}", f"{x['ours_steps_per_s']:,.0f}",
                  f"{x['brax_steps_per_s']:,.0f}", f"{x['ratio']:.2f}"] for x in r["rows"]])


def _task_vectorisation(r):
  return _table(["K", "outer step s", "/ K = 1", "per task / K = 1", "FLOP floor / K = 1", "step / its floor"],
                [[x["num_tasks"], _g(x["seconds"]), _g(x["ratio_to_k1"]), _g(x["per_task_ratio"]),
                  _g(x["floor_ratio_to_k1"]), _g(x["ratio_to_floor"])] for x in r["rows"]])


def _compiles(r):
  return (f"{r['compiles']} XLA compilation(s) ({_g(r['compile_seconds'])} s) over {r['iterations']} outer "
          f"iterations; tasks changed every iteration: {r['tasks_changed_every_iteration']}; the jitted step's "
          f"trace cache holds {r['trace_cache_size']} entry.\n")


def _seeds(r):
  return (f"{r['rows'][1]['seeds']} seeds in one jit take {_g(r['ratio'])} x one seed's outer iteration "
          f"({_g(r['per_seed_speedup'])} x the throughput per seed):\n\n"
          + _table(["seeds", "outer iteration s", "compile s", "FLOP floor s", "iteration / its floor"],
                   [[x["seeds"], _g(x["seconds"]), _g(x["compile_seconds"]), _g(x["floor_seconds"]),
                     _g(x["ratio_to_floor"])] for x in r["rows"]]))


def _hopper_phases(r):
  c, steps = r["config"], r["steps"]
  rate = _g(r["matmul_flops_per_s"] / 1e9)
  out = (f"One outer iteration of `hopper_2d_cpu` (K = {c['num_tasks']}; {c['rounds']} rounds: {c['warmup_rounds']} "
         f"warm-up + {c['slbo_stages']} stages x {c['stage_rounds']}, each a fit of the {tuple(c['model_hidden'])} model "
         f"({c['fit_steps']} Adam steps) and {c['trpo_updates']} TRPO updates on {c['model_rollouts']} virtual episodes "
         f"of T = {c['horizon']}; {c['real_episodes']} real episodes per collection), each phase jitted alone on the "
         f"state after one iteration. Floors: dense-layer FLOPs at the matmul rate measured in the same rounds "
         f"(about {rate} GFLOP/s).\n\n")
  rows = []
  for x in r["phases"]:
    if not x["calls"]:
      continue
    rows.append([x["name"], _g(x["seconds"]), x["calls"], _g(x["calls"] * x["seconds"]),
                 f"{100 * x['calls'] * x['seconds'] / r['iteration_seconds']:.0f}%", f"{x['compile_seconds']:.1f}",
                 _g(x["floor_seconds"]) if x.get("flops") else "-", _g(x["ratio"]) if x.get("flops") else "-"])
  rows.append(["sum of the phases", "", "", _g(r["accounted_seconds"]),
               f"{100 * r['accounted_seconds'] / r['iteration_seconds']:.0f}%", "", "", ""])
  s10 = steps[0]
  rows.append(["the whole outer step (runner's program)", _g(s10["seconds"]), 1, _g(s10["seconds"]), "100%",
               f"{s10['compile_seconds']:.1f}", _g(s10["floor_seconds"]), _g(s10["ratio"])])
  ck = r["checkpoint_seconds"]
  first = next(iter(ck))
  rows.append([f"checkpoint save (host, {first} buffer)", _g(ck[first]), f"1/{c['checkpoint_every']}",
               _g(ck[first] / c["checkpoint_every"]), "", "", "-", "-"])
  out += _table(["phase", "s per call", "calls per iteration", "s per iteration", "share of the step", "compile s",
                 "FLOP floor s", "ratio"], rows)
  col = r["phases"][0]
  out += (f"\nReal collection against brax's own acting (`acting.generate_unroll`, same env, backend, batch of "
          f"{c['real_episodes']} x {c['horizon']} and policy, as figure 4): ours {col['steps_per_s']:,.0f} steps/s, "
          f"brax {col['brax_steps_per_s']:,.0f} steps/s, ratio {col['brax_ratio']:.2f}. The outer step's remainder "
          f"(the step less its phases: normalisers, buffer writes, returns, the method's update, the scans' carries) "
          f"is {_g(r['unaccounted_seconds'])} s.\n\n")
  out += "The whole step at the config's buffer and at the buffer of 100 iterations (the runner's program: one " \
         "iteration per chunk, traced hyper-parameters; `loop.init` is the start-up, which runs the first " \
         "random-action episodes eagerly):\n\n"
  out += _table(["outer step", "buffer episodes", "init s", "compile s", "first call s", "iteration s", "FLOP floor s",
                 "ratio"],
                [[x["name"], x["buffer_episodes"], f"{x['init_seconds']:.1f}", f"{x['compile_seconds']:.1f}",
                  _g(x["first_call_seconds"]), _g(x["seconds"]), _g(x["floor_seconds"]), _g(x["ratio"])]
                 for x in steps])
  last = list(ck)[-1]
  out += (f"\nN = 100 at this config: compile {steps[1]['compile_seconds']:.0f} s + start-up "
          f"{steps[1]['init_seconds']:.0f} s + 100 x ({_g(r['iteration_seconds_n100'])} s iteration + "
          f"{_g(ck[last] / c['checkpoint_every'])} s checkpoint) = **{r['train_seconds_n100'] / 60:.1f} min** of "
          f"training (goal {r['goal'].split('<= ')[1]}).\n\n")
  out += "The evaluators per test task (composed at the evaluation's task batch: adapt_updates x one vmapped " \
         "TRPO update + curve points x one vmapped real evaluation, over the batch; a run pads each test set " \
         "to whole batches):\n\n"
  out += _table(["evaluator", "s per task", "task slots per run (tasks)", "s per run", "compile s", "FLOP floor s",
                 "ratio"],
                [[x["name"], _g(x["seconds_per_task"]), f"{x['task_slots']} ({x['tasks']})", f"{x['run_seconds']:.0f}",
                  f"{x['compile_seconds']:.1f}", _g(x["floor_seconds"]) if x.get("flops") else "-",
                  _g(x["ratio"]) if x.get("flops") else "-"] for x in r["evaluators"]])
  ch = r["evaluator_check"]
  out += (f"\nCheck of the composition: the policy evaluator's own `zero_shot_items` at {ch['updates']} updates "
          f"takes {_g(ch['measured_seconds'])} s per batch against {_g(ch['composed_seconds'])} s composed "
          f"({_g(ch['ratio'])}x).\n\n")
  out += "Where the distance from the floor lies: the TRPO update on the model by timing variants of the same " \
         "agent on one fixed virtual batch, and the policy's layers alone:\n\n"
  out += _table(["computation", "seconds", "FLOP floor s", "ratio"],
                [[x["name"], _g(x["seconds"]), _g(x["floor_seconds"]) if x.get("flops") else "-",
                  _g(x["ratio"]) if x.get("flops") else "-"] for x in r["update_variants"]])
  out += "\nThe update's components (the full update less each variant):\n\n"
  out += _table(["component", "seconds", "share of the update", "FLOP floor s", "ratio"],
                [[x["name"], _g(x["seconds"]), f"{100 * x['share']:.0f}%", _g(x["floor_seconds"]), _g(x["ratio"])]
                 for x in r["update_components"]])
  fx = r.get("update_fixes")
  if fx:
    u = fx[0]["updates"]
    out += (f"\nWhat would close part of it (`benchmarks/trpo_variants.py`; not in the project's code): one round's "
            f"{u} TRPO updates on the model for one task, the shipped update against variants of it, and how far "
            f"each variant's policy lands from the shipped one's (parameter difference over the shipped policy's "
            f"displacement from its start):\n\n")
    out += _table(["update", "seconds", "/ shipped", "FLOP floor ratio", "difference after 1 update",
                   f"after {u}", "line-search candidates per update"],
                  [[x["name"], _g(x["seconds"]), _g(x["seconds_over_shipped"]), _g(x["ratio"]), _g(x["rel_diff_1"]),
                    _g(x["rel_diff_u"]), _g(x["mean_candidates_tried"])] for x in fx])
    rc = r.get("rounding_control")
    if rc:
      out += (f"\nThe control: the shipped update from a start moved by {rc['nudge']:g} of its first step (a random "
              f"direction) lands {_g(rc['rel_diff_1'])} from it after 1 update and {_g(rc['rel_diff_u'])} after "
              f"{rc['updates']}.\n")
  out += "\nKnobs of a 100-iteration config, each at its measured cost:\n\n"
  out += _table(["knob", "s per iteration saved", "min saved over 100 iterations"],
                [[x["knob"], _g(x["seconds_per_iteration"]), f"{100 * x['seconds_per_iteration'] / 60:.1f}"]
                 for x in r["knobs"]])
  return out


SECTIONS = {
    "model_rollout": ("1. Model-rollout efficiency", _model_rollout),
    "outer_iteration": ("2. Outer-iteration efficiency", _outer_iteration),
    "task_gradient": ("3. Task-gradient cost", _task_gradient),
    "collection": ("4. Real-env collection", _collection),
    "task_vectorisation": ("5. Task vectorisation", _task_vectorisation),
    "compiles": ("6. Compiles", _compiles),
    "seeds": ("7. Seeds side by side", _seeds),
    "hopper_phases": ("8. Where a Hopper2D run spends its time", _hopper_phases),
}


def markdown(results: dict, quick: bool = False, notes: dict | None = None) -> str:
  from benchmarks.notes import NOTES
  notes = NOTES if notes is None else notes
  m = results["machine"]
  out = ["# Benchmarks\n",
         "Written by `.venv/bin/python -m benchmarks.run` (one process per figure; every time a median of 5 "
         "after a warm-up; every figure a ratio of two things measured in the same process). Raw numbers: "
         "`docs/benchmarks.json`.\n",
         ("**Smoke run (`--quick`): small sizes, not the figures' definitions.**\n" if quick else ""),
         _table(["machine", "value"], [["CPU", m["cpu"]], ["cores", m["cores"]], ["memory GiB", m["memory_gib"]],
                                       ["python", m["python"]], ["jax / jaxlib", f"{m['jax']} / {m['jaxlib']}"],
                                       ["brax / flax", f"{m['brax']} / {m['flax']}"], ["written", m["date"]]])]
  if any(r.get("machine", m)["cpu"] != m["cpu"] for k, r in results.items() if k in SECTIONS):
    out.append("\nThe table is the machine of the latest run (`written`); a figure measured on another machine "
               "names it in its first line.\n")
  devices = {r["device"] for k, r in results.items() if k in SECTIONS}
  if devices and all(d.startswith("cpu") for d in devices):
    out.append("\nNo accelerator: every figure below ran on this CPU. On a GPU machine, "
               "`python -m benchmarks.run --out=docs/benchmarks_gpu.md` writes the same figures to a doc of "
               "their own, to set beside this one.\n")
  summary = []
  for key, (title, _) in SECTIONS.items():
    if key in results:
      r = results[key]
      summary.append([title, r["goal"], "met" if r["met"] else "missed", r["device"]])
  out.append("\n" + _table(["figure", "goal", "result", "device"], summary))
  for key, (title, fmt) in SECTIONS.items():
    if key not in results:
      continue
    r = results[key]
    mem = r["memory"]
    own = r.get("machine", m)
    where = "" if own["cpu"] == m["cpu"] else f" ({own['cpu']}, {own['cores']} cores, {own['memory_gib']} GiB)"
    out.append(f"\n## {title}\n\n{_verdict(r)}. Device: {r['device']}{where}; measured {r['machine_date']}; "
               f"`{r['command']}` ({r['wall_seconds']:.0f} s, peak host RSS "
               f"{mem['host_max_rss_bytes'] / 2**30:.2f} GiB"
               + (f", device peak {mem['device_peak_bytes'] / 2**30:.2f} GiB" if "device_peak_bytes" in mem else "")
               + ").\n\n" + fmt(r))
    if key in notes:
      out.append("\n" + notes[key].strip() + "\n")
  return "\n".join(out)
