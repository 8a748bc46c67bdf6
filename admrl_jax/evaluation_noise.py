"""How far an evaluator's verdict on one fixed model moves with the evaluation's own randomness.

The study's evaluation draws start states and plans from one key (``eval.seed``) and adapts from one
key per run: its worst-case gap is one draw. Here the same model is evaluated again under K keys: key 0
is the study's own (``EvaluationProtocol.eval_key`` and ``adapt_key``: it reproduces the published
returns), key i > 0 draws both from a stream of its own (``NOISE_STREAM``, apart from the evaluation's
named streams). What changes with the key:

  model planner     MPC through the model, run on the true system: the start states and the plan draws;
  policy evaluator  a fresh policy adapted on the model: the adaptation keys and the start states.

The gaps are taken against one fixed V* [G] (a study folder's shared one), which was found at key 0's
start states and holds the run's own key-0 returns: key 0's gaps are never below 0 and can be 0 where the
run set V*, other keys' can be either. The per-task spread and where the worst task sits do not depend on
V*.
"""
import jax
import numpy as np

from admrl_jax.evaluation import zero_shot
from admrl_jax.study_results import gap_summary

EVALUATORS = ("planner", "policy")
NOISE_STREAM = 20_000   # folded into the eval and adaptation keys, then i: re-evaluation i > 0


def keyed(protocol, i: int) -> tuple[jax.Array, jax.Array]:
  """(eval key, adaptation key) of re-evaluation i: the study's own for i = 0, else drawn from
  ``NOISE_STREAM``'s own keys (never one of the evaluation's named streams)."""
  if i == 0:
    return protocol.eval_key, protocol.adapt_key
  fold = lambda key: jax.random.fold_in(jax.random.fold_in(key, NOISE_STREAM), i)
  return fold(protocol.eval_key), fold(protocol.adapt_key)


def returns_over_keys(protocol, state, psis: jax.Array, evaluator: str, keys: int, desc: str = "") -> np.ndarray:
  """psis [G, k] -> real returns [keys, G] of ``evaluator`` (one of ``EVALUATORS``), one row per
  re-evaluation key (``keyed``); the policy evaluator's the mean over the protocol's adaptation seeds, as
  the study's evaluation reports it. ``state``: the model state of a model-based run (the planner plans
  through it, the policy evaluator adapts on it), or, where the protocol is a model-free baseline's
  (``protocol.meta_learner``), its MetaState: the policy evaluator is then the baseline's own zero-shot
  policy (``EvaluationProtocol.model_free_returns`` at 0 episodes) and there is no planner."""
  if evaluator not in EVALUATORS:
    raise ValueError(f"evaluator: unknown value {evaluator!r}; allowed: {list(EVALUATORS)}")
  if keys < 1:
    raise ValueError(f"keys: must be a positive integer, got {keys}")
  model_free = getattr(protocol, "meta_learner", None) is not None
  if evaluator == "planner" and (model_free or protocol.planner is None):
    raise ValueError("evaluator: the run has no model planner (a model-free baseline, or eval.model_planner is "
                     "off); allowed: ['policy']")
  ev, rows = protocol.evaluator, []
  for i in range(keys):
    eval_key, adapt_key = keyed(protocol, i)
    label = f"{desc}{evaluator}, key {i + 1} of {keys}"
    if evaluator == "planner":
      real, _, _ = protocol.planner(ev.learner, state, psis, eval_key, desc=label)
    elif model_free:
      real = protocol.model_free_returns(state, psis, 0, adapt_key, eval_key, desc=label).mean(axis=0)
    else:
      real = zero_shot(ev, state, psis, adapt_key, eval_key, protocol.adapt_seeds, desc=label)[0].mean(axis=0)
    rows.append(np.asarray(real, np.float64))
  return np.stack(rows)


def noise_summary(returns: np.ndarray, v_star: np.ndarray) -> dict:
  """returns [K, G] of one model under K keys and the fixed V* [G] -> the spread of the verdict:

  worst / cvar10 / mean: per key, the gap statistics (CVaR-10 %: the mean of the worst ceil(10 %) tasks);
  worst_task: per key, the index of the worst task; task_sd: per task, the standard deviation of the gap
  over keys (ddof 1); worst_of_key_mean: the worst case of the gap averaged over the keys (a less noisy
  statistic of the same model); key0_worst_repeats: the share of the other keys whose worst task is key
  0's (None for one key)."""
  returns, v_star = np.asarray(returns, np.float64), np.asarray(v_star, np.float64)
  if returns.ndim != 2 or v_star.shape != returns.shape[1:]:
    raise ValueError(f"returns [K, G] and v_star [G]: got shapes {returns.shape} and {v_star.shape}")
  if not (np.all(np.isfinite(returns)) and np.all(np.isfinite(v_star))):
    raise FloatingPointError("returns and v_star must be finite (a NaN return would hide a task's gap)")
  gaps = v_star - returns
  k, g = gaps.shape
  worst_task = np.argmax(gaps, axis=1)
  per_key = [gap_summary({"in_box": row}) for row in gaps]   # the study tables' own statistics
  return {"keys": k, "tasks": g,
          "worst": [s["worst_case_gap"] for s in per_key],
          "cvar10": [s["cvar10_gap"] for s in per_key],
          "mean": [s["mean_gap"] for s in per_key],
          "worst_task": worst_task.tolist(),
          "task_sd": (gaps.std(axis=0, ddof=1) if k > 1 else np.zeros(g)).tolist(),
          "worst_of_key_mean": float(gaps.mean(axis=0).max()),
          "key0_worst_repeats": float(np.mean(worst_task[1:] == worst_task[0])) if k > 1 else None}


def folder_table(folder: str, evaluator: str = "planner") -> str:
  """Markdown: per method of a study folder, the gap statistics of ``<folder>/evaluation_noise/<run>.json``
  (written by ``experiments/evaluation_noise.py``) recomputed against the folder's current shared V*
  (mean ± 95 % t over seeds): key 0's worst case (the study's own), the worst case averaged over the keys,
  the worst case of the key-mean gap; then each AdMRL row (the group of every run whose method is admrl:
  AdMRL and its labelled variants) minus each other row, paired by seed, on key 0's worst case (the
  protocol's primary statistic) and on the worst case of the key-mean gap, each with its p Holm-corrected
  over the table's comparisons (``study_selection.holm``); then each run's row (key 0's worst case, the
  range of the worst case over keys, the worst case of the key-mean gap, the per-task sd over keys: mean /
  max). ValueError naming the file where a run's measurement lacks ``evaluator`` or its tasks differ."""
  import glob
  import json
  import os

  from admrl_jax import tables
  from admrl_jax.study_results import NAMES, difference, group, load_runs, ordered, paired_t, shared_v_star, t_half
  from admrl_jax.study_selection import holm

  published = load_runs(folder)
  v_star = shared_v_star(published)
  adaptive = {group(r) for r in published if r["summary"].get("method") == "admrl"}   # AdMRL and its variants
  by_group = {}
  for path in sorted(glob.glob(os.path.join(folder, "evaluation_noise", "*.json"))):
    name = os.path.basename(path)[:-len(".json")]
    row, _, seed = name.rpartition("-s")
    with open(path) as fh:
      measured = json.load(fh)
    if evaluator not in measured:
      raise ValueError(f"{path}: no {evaluator!r} measurement")
    labels = [" ".join(f"{x:.3f}" for x in p) for p in measured["psis"]]
    missing = [p for p in labels if ("in_box", p) not in v_star]
    if missing:
      raise ValueError(f"{path}: task {missing[0]} is not one of {folder}'s in-box tasks")
    s = noise_summary(measured[evaluator]["returns"], np.asarray([v_star[("in_box", p)] for p in labels]))
    by_group.setdefault(row, {})[int(seed)] = {"key 0": s["worst"][0], "keys": s["keys"],
                                                "mean over keys": float(np.mean(s["worst"])),
                                                "key-mean": s["worst_of_key_mean"], "summary": s}
  fields = ("key 0", "mean over keys", "key-mean")
  cell = lambda v: f"{np.mean(v):.1f}" + (f" ± {t_half(v):.1f}" if len(v) > 1 else "")
  rows = [[NAMES.get(g, g), ", ".join(map(str, sorted(runs))), ", ".join(sorted({str(r["keys"]) for r in runs.values()})),
           *(cell([r[f] for r in runs.values()]) for f in fields)] for g, runs in
          ((g, by_group[g]) for g in ordered(by_group))]
  text = tables.markdown(["method", "seeds", "keys", "worst-case gap, key 0 (the study's)",
                          "worst-case gap, mean over keys", "worst case of the key-mean gap"], rows)
  tests = {}   # (method, other) -> {field: (mean, half, p)}, seeds
  for a in (g for g in ordered(by_group) if g in adaptive):
    for b in (g for g in ordered(by_group) if g not in adaptive):
      seeds = sorted(set(by_group[a]) & set(by_group[b]))
      if len(seeds) >= 2:
        tests[(a, b)] = ({f: paired_t([by_group[a][s][f] for s in seeds], [by_group[b][s][f] for s in seeds])
                          for f in ("key 0", "key-mean")}, len(seeds))
  if tests:
    corrected = {f: holm({k: d[f][2] for k, (d, _) in tests.items()}) for f in ("key 0", "key-mean")}
    pairs = [[f"{NAMES.get(a, a)} - {NAMES.get(b, b)}", n,
              *(x for f in ("key 0", "key-mean") for x in (difference(*d[f]), f"{corrected[f][(a, b)]:.2f}"))]
             for (a, b), (d, n) in tests.items()]
    text += "\n" + tables.markdown(
        ["paired by seed", "seeds", "worst-case gap, key 0", "Holm p", "worst case of the key-mean gap", "Holm p"],
        pairs)
  per_run = [[f"{NAMES.get(g, g)} s{seed}", f"{s['worst'][0]:.1f}", f"{min(s['worst']):.1f} / {max(s['worst']):.1f}",
              f"{s['worst_of_key_mean']:.1f}", f"{np.mean(s['task_sd']):.1f} / {np.max(s['task_sd']):.1f}"]
             for g in ordered(by_group) for seed, s in sorted((k, r["summary"]) for k, r in by_group[g].items())]
  return text + "\nPer run:\n\n" + tables.markdown(
      ["run", "worst-case gap, key 0", "worst-case gap over keys: min / max", "worst case of the key-mean gap",
       "per-task sd of the gap over keys: mean / max"], per_run)


# The few-shot refit's falls (``experiments/few_shot_share.py``): whether a loss is the refit's (it shows at
# every key) or one key's draw (it does not).
FALL = 100.0   # a return this far below the best of its (task, key) counts as a fall


def falls(zero, planner: dict, policy: dict) -> dict:
  """Planner returns zero [K, G] (zero-shot) and, per share, planner / policy returns [K, S, G, P] ->
  counts (falls, evaluations) of: the zero-shot planner, each share's refit planner (both against the best
  planner return of the (task, key) over zero-shot and every share and budget), each key's zero-shot and
  refit planner, and each share's policy evaluator (against the best of its own evaluations of the (task,
  key)); returns are first averaged over the S adaptation seeds."""
  zero = np.asarray(zero, np.float64)
  plan = {s: np.asarray(v, np.float64).mean(axis=1) for s, v in planner.items()}   # [K, G, P]
  best = np.max(np.concatenate([zero[..., None], *plan.values()], axis=-1), axis=-1)   # [K, G]
  count = lambda fell: (int(fell.sum()), int(fell.size))
  refit = np.concatenate([best[..., None] - p > FALL for p in plan.values()], axis=-1)   # [K, G, shares * P]
  pol = {s: np.asarray(v, np.float64).mean(axis=1) for s, v in policy.items()}   # [K, G, P]
  pol_best = np.max(np.concatenate(list(pol.values()), axis=-1), axis=-1)   # [K, G]
  return {"zero_shot": count(best - zero > FALL),
          "share": {s: count(best[..., None] - p > FALL) for s, p in plan.items()},
          "key": [{"zero_shot": count(best[k] - zero[k] > FALL), "refit": count(refit[k])} for k in range(len(zero))],
          "policy": {s: count(pol_best[..., None] - q > FALL) for s, q in pol.items()}}


def pooled_falls(found: list[dict]) -> dict:
  """``falls`` of several measurements (same shares and keys), summed count by count."""
  add = lambda a, b: (a[0] + b[0], a[1] + b[1])
  total = found[0]
  for f in found[1:]:
    total = {"zero_shot": add(total["zero_shot"], f["zero_shot"]),
             "share": {s: add(c, f["share"][s]) for s, c in total["share"].items()},
             "key": [{w: add(k[w], g[w]) for w in k} for k, g in zip(total["key"], f["key"])],
             "policy": {s: add(c, f["policy"][s]) for s, c in total["policy"].items()}}
  return total
