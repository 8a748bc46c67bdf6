"""What a smaller model-planner budget gives up, and what it saves: the MPC model planner of a run's final
model at several plan counts (``eval.planner_samples``) on a few in-box tasks, timed per batch.

  python -m experiments.planner_budget --run_dir=runs/hopper_2d_study_timing/admrl-s0-whole \\
      [--samples=16,32,64,128] [--tasks=0,6,24,42,48,3,21,45] [--out=docs/runs/planner_budget.json]

For each plan count: the planner's real return per task (the evaluation's start states and plan draws:
``oracles.planner.ModelPlanner``), the seconds of one batch of ``oracles.mpc.TASK_BATCH`` tasks after
its compile (which is reported apart), and the difference from the largest count's returns (mean, and
the largest per task). Where a cached V* reference of the run's protocol is found (shipped or in the
cache), the planner's gap on those tasks against the best of them too. One computation at a time: the
timings are the machine's with nothing else running.
"""
import dataclasses
import json
import os
import time

import jax
import numpy as np
from absl import flags

from admrl_jax import tables
from admrl_jax.cli.common import checked_json_out, checked_run_config, fail, run as run_main, start
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.oracles.mpc import TASK_BATCH
from admrl_jax.oracles.planner import ModelPlanner
from admrl_jax.run_dir import checkpoint_steps, load_run, restore_state

_RUN_DIR = flags.DEFINE_string("run_dir", None, "a run directory with a checkpoint (its latest is planned through)")
_SAMPLES = flags.DEFINE_list("samples", ["16", "32", "64", "128"], "plan counts to compare")
_TASKS = flags.DEFINE_list("tasks", ["0", "6", "24", "42", "48", "3", "21", "45"],
                           "indices into the in-box test set (a batch of 8: the 7 x 7 grid's corners, centre and "
                           "three edge midpoints)")
_OUT = flags.DEFINE_string("out", "", "a JSON file for the numbers (optional)")


def main(argv):
  start(argv)
  if not _RUN_DIR.value:
    fail("run_dir: give a run directory with a checkpoint")
  checked_json_out("out", _OUT.value)
  config = checked_run_config(_RUN_DIR.value)
  if not checkpoint_steps(_RUN_DIR.value):
    fail(f"run_dir: {_RUN_DIR.value!r} holds no checkpoint yet")
  try:
    samples = sorted({int(s) for s in _SAMPLES.value})
  except ValueError:
    fail(f"samples: plan counts (integers), got {_SAMPLES.value}")
  if not samples or min(samples) < 1:
    fail(f"samples: positive plan counts, got {_SAMPLES.value}")
  try:
    tasks = [int(t) for t in _TASKS.value]
  except ValueError:
    fail(f"tasks: indices into the in-box test set (integers), got {_TASKS.value}")
  if not tasks or min(tasks) < 0:
    fail(f"tasks: indices into the in-box test set (>= 0), got {_TASKS.value}")
  if ModelPlanner.of(config.eval, config.family).kind != "mpc" or config.eval.model_planner == "off":
    fail("run_dir: its config's model planner is not MPC (eval.planner_kind, eval.model_planner; Brax families)")
  config, loop, evaluator = load_run(_RUN_DIR.value)
  protocol = EvaluationProtocol.from_config(config, evaluator, loop)
  psis_all = protocol.test_sets["in_box"]
  if max(tasks) >= psis_all.shape[0]:
    fail(f"tasks: indices in [0, {psis_all.shape[0]}), got {_TASKS.value}")
  psis = psis_all[np.asarray(tasks)]
  state, _ = restore_state(_RUN_DIR.value, loop, config.seed)
  v_star = protocol.reference_values(psis_all)
  cached = {n: v for n, v in v_star.items() if v is not None and n != "zero_action"}
  best = (np.max(np.stack(list(cached.values()) + [v_star["zero_action"]]), axis=0)[np.asarray(tasks)]
          if cached else None)
  results = {}
  for n in samples:
    planner = dataclasses.replace(protocol.planner, samples=n)
    t0 = time.perf_counter()
    planner(evaluator.learner, state.model, psis[:1], protocol.eval_key)        # compile (one padded batch)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    real, _, _ = planner(evaluator.learner, state.model, psis, protocol.eval_key)
    seconds = time.perf_counter() - t0
    results[n] = {"returns": np.asarray(real).tolist(), "batch_s": seconds, "compile_s": compile_s,
                  "batches": -(-len(tasks) // TASK_BATCH)}
    print(f"{n} plans: {seconds:.1f} s for {len(tasks)} tasks (compile and first batch {compile_s:.1f} s)", flush=True)
  top = np.asarray(results[samples[-1]]["returns"])
  rows = []
  for n in samples:
    r = np.asarray(results[n]["returns"])
    gaps = [] if best is None else [f"{np.mean(best - r):.1f}", f"{np.max(best - r):.1f}"]
    rows.append([n, f"{results[n]['batch_s'] / results[n]['batches']:.1f}", f"{r.mean():.1f}", *gaps,
                 f"{np.mean(r - top):+.1f}", f"{np.max(np.abs(r - top)):.1f}"])
  gap_head = [] if best is None else [f"mean gap to V* ({', '.join(sorted(cached))}, zero action)", "worst gap to V*"]
  print(tables.markdown(["plans", f"s per batch of {TASK_BATCH}", "mean return", *gap_head,
                         f"mean minus {samples[-1]} plans", "largest |difference| per task"], rows), end="")
  if best is None:
    print("(no cached V* reference of this protocol found: the gaps are left out)")
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as fh:
      json.dump({"run_dir": _RUN_DIR.value, "tasks": tasks, "psis": np.asarray(psis).tolist(),
                 "v_star_candidates_found": sorted(cached),
                 "best_known": None if best is None else best.tolist(), "device": jax.devices()[0].device_kind,
                 "by_samples": {str(k): v for k, v in results.items()}}, fh, indent=1)
    print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  run_main(main)
