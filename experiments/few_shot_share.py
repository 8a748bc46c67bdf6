"""Does the few-shot refit's focus on the test task help? A run's final model (its last checkpoint), the
few-shot evaluation (``evaluation.few_shot``: real episodes of the task, refit, re-adapt, plan) on a few
tasks at several values of ``eval.few_shot_share`` (the share of the refit's windows drawn from the test
task's own episodes; the rest from the run's buffer), everything else as the run's own evaluation (budgets,
rounds, keys, start states). Per task and budget: the policy evaluator's and the model planner's real
return, and the model planner's zero-shot return beside them, under each of --keys evaluation keys (key 0:
the run's own evaluation keys, which reproduce its zero-shot planner returns; its few-shot draws also
depend on each task's place in --psis, so they match the study's only for the whole grid in its order;
key i > 0: ``evaluation_noise.keyed``'s, which redraws the real episodes, the refit's batches, the
adaptation and the start states and plans): a loss that the refit causes shows at every key, one that a
key's draw causes does not.

  python -m experiments.few_shot_share --run_dir=runs/hopper_2d_n100/unif-s0 --shares=0,0.5 \\
      --psis=0:1.867,-2:1.467,-0.667:1.733 [--keys=3] [--out=<file>.json]

Below the per-row table, per share: over every task and key, the model planner's loss through the refit
(zero-shot return minus the return after each budget, at the same key): median, 90th percentile and the
share of (task, key) pairs that lost more than 100; then the falls (``evaluation_noise.falls``): evaluations more than 100
below the best of their (task, key). --summarize=<a.json>,<b.json> prints the falls of saved --out files,
pooled, without running anything.

Hopper2D MB-Unif seed 0's published few-shot planner rows fell below its zero-shot ones on some tasks
(0:1.867: 1384 zero-shot, then 494 / 1373 / 1166 at 2k / 4k / 6k real steps); this measures whether the
refit's focus (0.5 in the study configs) is the cause.
"""
import dataclasses
import json
import os

import jax.numpy as jnp
import numpy as np
from absl import flags

from admrl_jax.cli.common import checked_json_out, fail, run, start, write_json
from admrl_jax.configs.default import get_config as default_config
from admrl_jax.evaluation import few_shot
from admrl_jax.evaluation_noise import FALL, falls, keyed, pooled_falls
from admrl_jax.evaluation_protocol import EvaluationProtocol
from admrl_jax.run_dir import checkpoint_steps, load_run, restore_state

_RUN_DIR = flags.DEFINE_string("run_dir", None, "a finished or checkpointed run directory (its last checkpoint)")
_SHARES = flags.DEFINE_list("shares", ["0", "0.5"], "values of eval.few_shot_share to compare, each in [0, 1]")
_PSIS = flags.DEFINE_list("psis", None, "the tasks, each as its coordinates joined by ':' (e.g. 0:1.867)")
_EPISODES = flags.DEFINE_list("episodes", [], "the nested few-shot budgets in real episodes of the task "
                              "(default: the run's eval.few_shot_episodes)")
_KEYS = flags.DEFINE_integer("keys", 1, "evaluation keys (key 0: the run's own evaluation's)")
_OUT = flags.DEFINE_string("out", "", "a JSON file for every return (tasks, shares, keys, budgets)")
_SUMMARIZE = flags.DEFINE_list("summarize", [], "instead: saved --out files whose falls are counted, pooled")


def print_falls(f: dict) -> None:
  of = lambda c: f"{c[0]} of {c[1]}"
  print(f"\nFalls (a return more than {FALL:g} below the best of its (task, key)): zero-shot planner "
        f"{of(f['zero_shot'])}; refit planner " + ", ".join(f"share {s} {of(c)}" for s, c in f["share"].items())
        + "; per key (zero-shot / refit): " + ", ".join(f"key {i} {of(k['zero_shot'])} / {of(k['refit'])}"
                                                          for i, k in enumerate(f["key"]))
        + "; policy evaluator after the refits " + ", ".join(f"share {s} {of(c)}" for s, c in f["policy"].items()))


def summarize(paths: list[str]) -> None:
  """--summarize: the pooled falls of saved --out files."""
  found = []
  for path in paths:
    try:
      with open(path) as fh:
        d = json.load(fh)
      found.append(falls(d["planner_zero_shot"], {s: v["planner"] for s, v in d["shares"].items()},
                         {s: v["policy"] for s, v in d["shares"].items()}))
    except (OSError, ValueError, KeyError) as err:
      fail(f"summarize: {path!r} is not a saved --out file of this script ({err})")
  if any(f["share"].keys() != found[0]["share"].keys() or len(f["key"]) != len(found[0]["key"]) for f in found):
    fail(f"summarize: the files differ in their shares or keys: {paths}")
  print_falls(pooled_falls(found))


def parsed_shares() -> list[float]:
  try:
    shares = [float(s) for s in _SHARES.value]
  except ValueError:
    fail(f"shares: must be numbers in [0, 1], got {_SHARES.value}")
  if not shares or any(not 0.0 <= s <= 1.0 for s in shares):
    fail(f"shares: give at least one, each in [0, 1], got {_SHARES.value}")
  return shares


def parsed_psis() -> list[list[float]]:
  """--psis as numbers (before any jax work); their dimension is checked against the run's family later."""
  if not _PSIS.value:
    fail("psis: give at least one task, its coordinates joined by ':' (e.g. 0:1.867)")
  try:
    return [[float(x) for x in p.split(":")] for p in _PSIS.value]
  except ValueError:
    fail(f"psis: each task is numbers joined by ':', got {_PSIS.value}")


def main(argv):
  start(argv)
  if _SUMMARIZE.value:
    summarize(_SUMMARIZE.value)
    return
  shares, given = parsed_shares(), parsed_psis()
  try:
    episodes = tuple(int(e) for e in _EPISODES.value)
  except ValueError:
    fail(f"episodes: must be positive integers, got {_EPISODES.value}")
  if any(e <= 0 for e in episodes):
    fail(f"episodes: must be positive integers, got {_EPISODES.value}")
  if _KEYS.value < 1:
    fail(f"keys: must be a positive integer, got {_KEYS.value}")
  out = checked_json_out("out", _OUT.value)
  run_dir = _RUN_DIR.value
  if not run_dir or not os.path.isdir(run_dir):
    fail(f"run_dir: no such run directory {run_dir!r}")
  steps = checkpoint_steps(run_dir)
  if not steps:
    fail(f"run_dir: {run_dir!r} holds no checkpoint")
  config, loop, evaluator = load_run(run_dir, default_config())
  dim = len(evaluator.learner.family.box.lo)
  if any(len(p) != dim for p in given):
    fail(f"psis: each task of {config.family} needs {dim} coordinates joined by ':', got {_PSIS.value}")
  psis = jnp.asarray(given, jnp.float32)
  protocol = EvaluationProtocol.from_config(config, evaluator, loop)
  if episodes:
    protocol = dataclasses.replace(protocol, few_shot_episodes=episodes)
  if protocol.planner is None or not protocol.few_shot_episodes:
    fail("run_dir: the run's config has no model planner (eval.model_planner) or no few-shot budgets "
         "(eval.few_shot_episodes; or give --episodes)")
  state, _ = restore_state(run_dir, loop, config.seed, steps[-1])
  learner = evaluator.learner
  budgets = tuple(protocol.few_shot_episodes)
  evaluators = {share: dataclasses.replace(evaluator, few_shot_share=share) for share in shares}
  zero, found = [], {share: ([], []) for share in shares}   # per key: [G]; per share: ([S, G, P], [S, G, P]) per key
  for i in range(_KEYS.value):
    eval_key, adapt_key = keyed(protocol, i)
    zero.append(np.asarray(protocol.planner(learner, state.model, psis, eval_key)[0]))
    for share, ev in evaluators.items():
      returns, planned = few_shot(ev, state.model, state.buffer, psis, adapt_key, eval_key, protocol.adapt_seeds,
                                  budgets, protocol.planner.per_task(learner), desc=f"key {i}, few-shot at share {share:g}")
      found[share][0].append(np.asarray(returns))
      found[share][1].append(np.asarray(planned))
  horizon = learner.family.env.horizon
  print(f"{run_dir} at iteration {steps[-1]}: real return after each few-shot budget (real steps of the task), "
        f"mean over {protocol.adapt_seeds} adaptation seed(s); eval.few_shot_share as given, "
        f"{evaluator.few_shot_rounds} rounds per budget, {_KEYS.value} evaluation key(s)\n")
  print("| task | share | key | model planner, zero-shot | " + " | ".join(
      f"planner after {b * horizon}" for b in budgets) + " | " + " | ".join(
      f"policy after {b * horizon}" for b in budgets) + " |")
  print("|---|---|---|---|" + "---|" * (2 * len(budgets)))
  for g, psi in enumerate(np.asarray(psis)):
    for share, (returns, planned) in found.items():
      for i in range(_KEYS.value):
        print(f"| ({', '.join(f'{x:g}' for x in psi)}) | {share:g} | {i} | {float(zero[i][g]):.1f} | "
              + " | ".join(f"{x:.1f}" for x in planned[i][:, g].mean(axis=0)) + " | "
              + " | ".join(f"{x:.1f}" for x in returns[i][:, g].mean(axis=0)) + " |")
  print(f"\nThe model planner's loss through the refit (zero-shot minus after the budget, same key), over "
        f"{len(psis)} task(s) x {_KEYS.value} key(s): median / 90th percentile / share of pairs losing > 100\n")
  print("| share | " + " | ".join(f"after {b * horizon}" for b in budgets) + " |")
  print("|---|" + "---|" * len(budgets))
  for share, (_, planned) in found.items():
    loss = np.stack([zero[i][:, None] - planned[i].mean(axis=0) for i in range(_KEYS.value)])   # [K, G, P]
    print(f"| {share:g} | " + " | ".join(
        f"{np.median(loss[..., b]):+.1f} / {np.percentile(loss[..., b], 90):+.1f} / {np.mean(loss[..., b] > 100):.0%}"
        for b in range(len(budgets))) + " |")
  print_falls(falls(zero, {f"{s:g}": p for s, (_, p) in found.items()}, {f"{s:g}": r for s, (r, _) in found.items()}))
  if out:
    write_json(out, {"run_dir": run_dir, "iteration": int(steps[-1]), "psis": np.asarray(psis).tolist(),
                     "budgets_steps": [b * horizon for b in budgets], "keys": _KEYS.value,
                     "planner_zero_shot": [z.tolist() for z in zero],   # [K][G]
                     "shares": {f"{share:g}": {"planner": [p.tolist() for p in planned],   # [K][S][G][P]
                                               "policy": [r.tolist() for r in returns]}
                                for share, (returns, planned) in found.items()}})

if __name__ == "__main__":
  run(main)
