"""How far a published run's worst-case gap moves with the evaluation's own randomness: its final model
(the run's last checkpoint in runs/) evaluated again on the in-box test set under K keys (key 0: the
study's own evaluation; ``admrl_jax.evaluation_noise``), the gaps against the study folder's shared V*.

  python -m experiments.evaluation_noise --run_dir=runs/hopper_2d_n100/unif-s0 \\
      --published=docs/runs/hopper_2d_n100 [--keys=4] [--evaluators=planner,policy] [--out=<file>.json]

Prints, per evaluator, the worst-case / CVaR-10 % / mean gap under each key, where the worst task sits,
the per-task spread of the gap over keys, and whether key 0 reproduces the published returns. The
study's primary statistic is key 0's worst case; a spread over keys as large as the difference between
methods says one evaluation cannot separate them.
"""
import json
import os
import sys

import jax.numpy as jnp
import numpy as np
from absl import flags

from admrl_jax import tables
from admrl_jax.cli.common import checked_choices, checked_folder, checked_run_config, fail, run, start
from admrl_jax.config import is_model_free
from admrl_jax.configs.default import get_config as default_config
from admrl_jax.evaluation_noise import EVALUATORS, noise_summary, returns_over_keys
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.run_dir import checkpoint_steps, load_run, restore_state
from admrl_jax.study_results import load_runs, shared_v_star

_RUN_DIR = flags.DEFINE_string("run_dir", None, "a run directory with its checkpoints (its latest is evaluated)")
_PUBLISHED = flags.DEFINE_string("published", None, "the study folder that holds the run's published "
                                 "evaluation (<folder>/<run name>/eval.csv): its shared V* and the returns key 0 "
                                 "must reproduce")
_KEYS = flags.DEFINE_integer("keys", 4, "evaluation keys (key 0: the study's own)")
_EVALUATORS = flags.DEFINE_list("evaluators", list(EVALUATORS), f"which evaluators, of {list(EVALUATORS)}")
_OUT = flags.DEFINE_string("out", "", "a JSON file for the returns and the summary (optional)")

PUBLISHED_COLUMN = {"planner": "planner_return", "policy": "return"}


def main(argv):
  start(argv)
  if _KEYS.value < 1:
    fail(f"keys: must be a positive integer, got {_KEYS.value}")
  evaluators = list(dict.fromkeys(checked_choices("evaluators", _EVALUATORS.value, EVALUATORS)))
  if _OUT.value:
    if os.path.isdir(_OUT.value):
      fail(f"out: {_OUT.value!r} is a folder; give the JSON file's path")
    checked_folder("out", os.path.dirname(_OUT.value) or ".")
  if not _RUN_DIR.value:
    fail("run_dir: give a run directory with a checkpoint")
  if not _PUBLISHED.value:
    fail("published: give the study folder that holds the run's published eval.csv")
  name = os.path.basename(os.path.normpath(_RUN_DIR.value))
  for file in ("summary.json", "eval.csv"):
    if not os.path.exists(os.path.join(_PUBLISHED.value, name, file)):
      fail(f"published: no {os.path.join(_PUBLISHED.value, name, file)!r} (the run's published evaluation)")
  try:
    runs = load_runs(_PUBLISHED.value)
  except ValueError as err:
    fail(f"published: {err}")
  run_summary = next(x for x in runs if x["name"] == name)["summary"]
  config = checked_run_config(_RUN_DIR.value)
  if is_model_free(config.method):
    fail(f"run_dir: {_RUN_DIR.value!r} is a run of the model-free baseline {config.method!r}: it has no model "
         "to plan through or adapt on")
  if "planner" in evaluators and config.eval.model_planner == "off":
    fail(f"evaluators: {_RUN_DIR.value!r}'s config has no model planner (eval.model_planner is off); "
         "ask for --evaluators=policy")
  steps = checkpoint_steps(_RUN_DIR.value)
  if not steps:
    fail(f"run_dir: {_RUN_DIR.value!r} holds no checkpoint")
  if steps[-1] != run_summary.get("iterations", steps[-1]):
    fail(f"run_dir: its latest checkpoint is iteration {steps[-1]}, the published run ended at iteration "
         f"{run_summary['iterations']}: not the published model")
  v_star = shared_v_star(runs)
  published = {r["psi"]: r for r in next(x for x in runs if x["name"] == name)["rows"]
               if r["set"] == "in_box" and r["budget"] == "zero_shot"}

  config, loop, evaluator = load_run(_RUN_DIR.value, default_config())
  protocol = EvaluationProtocol.from_config(config, evaluator, loop)
  state, _ = restore_state(_RUN_DIR.value, loop, config.seed)
  psis = protocol.test_sets["in_box"]
  labels = [" ".join(f"{x:.3f}" for x in p) for p in np.asarray(psis)]
  missing = [p for p in labels if p not in published]
  if missing:
    fail(f"published: {name}'s eval.csv lacks in-box tasks of the run's test set, e.g. {missing[0]}")
  best = np.asarray([v_star[("in_box", p)] for p in labels])

  out, rows = {"run_dir": _RUN_DIR.value, "published": _PUBLISHED.value, "psis": np.asarray(psis).tolist(),
               "v_star": best.tolist()}, []
  for which in evaluators:
    returns = returns_over_keys(protocol, state.model, jnp.asarray(psis), which, _KEYS.value, desc=f"{name}: ")
    s = noise_summary(returns, best)
    reproduced = float(np.max(np.abs(returns[0] - [published[p][PUBLISHED_COLUMN[which]] for p in labels])))
    out[which] = {"returns": returns.tolist(), **s, "key0_max_abs_difference_from_published": reproduced}
    spread = lambda v: f"{np.mean(v):.1f} [{np.min(v):.1f}, {np.max(v):.1f}]"
    rows.append([which, s["keys"], spread(s["worst"]), spread(s["cvar10"]), spread(s["mean"]),
                 f"{s['worst_of_key_mean']:.1f}", ", ".join(labels[t].replace(" ", ":") for t in s["worst_task"]),
                 f"{np.mean(s['task_sd']):.1f} / {np.max(s['task_sd']):.1f}", f"{reproduced:.3g}"])
  print(tables.markdown(["evaluator", "keys", "worst-case gap: mean [min, max] over keys", "CVaR-10 %", "mean gap",
                         "worst case of the key-mean gap", "worst task per key", "per-task sd over keys: mean / max",
                         "key 0 minus published: largest |difference|"], rows), end="")
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as fh:
      json.dump(out, fh, indent=1)
    print(f"wrote {_OUT.value}", file=sys.stderr)


if __name__ == "__main__":
  run(main)
