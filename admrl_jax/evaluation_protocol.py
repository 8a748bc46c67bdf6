"""The evaluation protocol of SPEC section 5, one object built once from a config and used by training,
``admrl-evaluate`` and ``admrl-oracle-table`` alike (so their oracle-cache entries are the same).

``EvaluationProtocol`` holds the test sets (``make_test_sets``: the in-box grid and the OOD set), the key
streams (the evaluation key of ``eval.seed``; the adaptation key of the run's seed), the V* oracles
(``oracles``: ``eval.oracle``, the zero action, the MPC oracle where ``eval.mpc_samples`` > 0), the
adaptation budgets and the evaluators. ``evaluate`` computes for each test set
- V*: the best known return (``best_known_return``) of the oracles (cached) and the evaluated
  references, the floor and the planner; gaps also count the method's own return;
- the policy evaluator: a fresh policy adapted on the run's final model per task (zero-shot, then the
  few-shot budgets), with ``eval.adapt_seeds`` adaptation seeds: a task's return is their mean, their
  spread is reported; its curve (batch return per TRPO update, real return at a few update counts).
  For a model-free baseline (``meta_rl``): its own test-time adaptation on real episodes of each task
  (none for zero-shot, then the few-shot budgets), the same seeds and start states;
- the adaptation floor (``eval.floor``; ``oracles.floor``): the same adaptation on the true dynamics;
- the model planner (``eval.model_planner``; ``oracles.planner``): an oracle's planner (the trajectory
  optimiser, or MPC on Brax families) with the learned model as its simulator, its actions executed on
  the true system from the same start states: its gap is the model's; after each few-shot budget too,
  through that budget's refit model.
``evaluate_state`` turns that into eval.csv, eval_table.{csv,md}, the heat maps and the summary.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from admrl_jax import plots, tables
from admrl_jax.envs import ANALYTIC
from admrl_jax.evaluation import (Evaluator, best_known_return, few_shot, gap_rows, map_items, reference_rows,
                                  seeded_items, zero_shot)
from admrl_jax.meta_rl import MetaRLLoop, adapted_returns
from admrl_jax.oracles import OracleSettings, build_oracles, eval_stream
from admrl_jax.oracles.cache import cached_oracle, existing_entry, oracle_cache_path
from admrl_jax.oracles.floor import AdaptationFloor
from admrl_jax.oracles.shipped import ship, shipped_file
from admrl_jax.oracles.planner import ModelPlanner

ADAPT_STREAM = 10_000   # the run's key folded with this: the policy evaluator's adaptation key


def switched_on(value: str, family) -> bool:
  """The ``eval.floor`` switch resolved for a family: auto is on where the true dynamics are cheap,
  deterministic and differentiable (the analytic families: pure JAX), where adaptation on the true
  system at the evaluator's budget is affordable."""
  return value == "on" or (value == "auto" and family.name in ANALYTIC)


def make_test_sets(box, eval_key: jax.Array, grid_points: int, grid_points_3d: tuple, random_tasks: int,
              ood_fraction: float, ood: bool = True) -> dict[str, jax.Array]:
  """{"in_box": the box's test tasks (grid, or random and corner tasks in higher dimensions), and where
  ``ood`` "ood": those of the box widened by ``ood_fraction`` per side that lie outside the box}."""
  key = eval_stream(eval_key, "test_tasks")
  sets = {"in_box": box.test_tasks(key, grid_points, tuple(grid_points_3d), random_tasks)}
  if ood:
    wide = box.widened(ood_fraction).test_tasks(key, grid_points, tuple(grid_points_3d), random_tasks)
    inside = jnp.all((wide >= jnp.asarray(box.lo)) & (wide <= jnp.asarray(box.hi)), axis=1)
    sets["ood"] = wide[~np.asarray(inside)]
  return sets


class OracleRun(NamedTuple):
  v: np.ndarray        # [G]
  curve: np.ndarray    # [C, G]
  hit: bool            # loaded from the cache
  seconds: float


def _seed_std(returns: np.ndarray) -> np.ndarray:
  """Per-task sample std (ddof 1) over adaptation seeds [S, G] -> [G]; NaN for a single seed."""
  return np.std(returns, axis=0, ddof=1) if returns.shape[0] > 1 else np.full(returns.shape[1], np.nan)


def _finite_or_none(x) -> float | None:
  return float(x) if np.isfinite(x) else None


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationProtocol:
  """Everything the evaluation of a run (or of V* alone) needs, with the config's numbers in it."""

  evaluator: Evaluator         # the policy evaluator: adaptation updates, episodes, few-shot rounds
  test_sets: dict              # name -> psis [G, k]
  eval_key: jax.Array          # eval.seed: start states, oracles, floor (the same for every run)
  adapt_key: jax.Array         # the run's seed: the policy evaluator's adaptation
  oracles: tuple               # V* oracles, the main one first (``oracles.ORACLES``)
  adapt_seeds: int
  few_shot_episodes: tuple
  floor: AdaptationFloor | None
  planner: ModelPlanner | None  # the model planner; None: off
  cache_dir: str
  method: str = ""
  family_name: str = ""
  seed: int = 0
  grid_points: int = 7
  grid_points_3d: tuple = (5, 5, 3)
  meta_learner: object = None  # a model-free baseline's learner (``meta_rl``): its own test-time adaptation

  @classmethod
  def from_config(cls, config, evaluator: Evaluator, loop=None) -> "EvaluationProtocol":
    """The protocol of a (validated) config for the policy evaluator ``build(config)`` made: the only
    place that reads the config's eval section (and the run's method, family and seed). ``loop``: the
    run's loop; a model-free baseline's (``MetaRLLoop``) brings the learner whose adaptation is evaluated."""
    e, family = config.eval, evaluator.learner.family
    eval_key = jax.random.key(e.seed)
    settings = OracleSettings(
        episodes=e.episodes, iters=e.oracle_iters, episodes_per_update=e.oracle_episodes, gamma=e.oracle_gamma,
        lam=e.oracle_lam, mpc_samples=e.mpc_samples, mpc_plan_horizon=e.mpc_plan_horizon, mpc_sigma=e.mpc_sigma,
        mpc_knot_every=e.mpc_knot_every)
    names = [e.oracle, "zero_action"] + (["mpc"] if e.mpc_samples else [])
    return cls(evaluator=evaluator, eval_key=eval_key,
               test_sets=make_test_sets(family.box, eval_key, e.grid_points, e.grid_points_3d, e.random_tasks,
                                        e.ood_fraction, e.ood),
               adapt_key=jax.random.fold_in(jax.random.key(config.seed), ADAPT_STREAM),
               oracles=build_oracles(names, settings, evaluator.learner), adapt_seeds=e.adapt_seeds,
               few_shot_episodes=tuple(e.few_shot_episodes),
               floor=AdaptationFloor.of(evaluator, e.adapt_seeds) if switched_on(e.floor, family) else None,
               planner=ModelPlanner.of(e, family.name) if e.model_planner != "off" else None,
               cache_dir=e.oracle_cache, method=config.method, family_name=config.family, seed=config.seed,
               grid_points=e.grid_points, grid_points_3d=tuple(e.grid_points_3d),
               meta_learner=loop.learner if isinstance(loop, MetaRLLoop) else None)

  @property
  def family(self):
    return self.evaluator.learner.family

  def oracle_returns(self, psis: jax.Array, set_name: str = "") -> dict[str, OracleRun]:
    """Every oracle's return on psis [G, k] (through the cache), by oracle name."""
    runs = {}
    for oracle in self.oracles:
      t0 = time.perf_counter()
      v, curve, hit = cached_oracle(oracle, self.family, psis, self.eval_key, self.cache_dir,
                                    desc=f"{oracle.label.removeprefix('the ')} V* ({set_name or 'tasks'})")
      runs[oracle.name] = OracleRun(v, curve, hit, time.perf_counter() - t0)
    return runs

  def floor_returns(self, psis: jax.Array, set_name: str) -> OracleRun:
    """The adaptation floor on psis [G, k] (through the shipped tables and the cache): returns [S, G]."""
    t0 = time.perf_counter()
    v, curve, hit = cached_oracle(self.floor, self.family, psis, self.eval_key, self.cache_dir,
                                  desc=f"adaptation floor ({set_name})")
    return OracleRun(v, curve, hit, time.perf_counter() - t0)

  def cached_references(self) -> tuple:
    """The run-independent computations cached (and shippable) per test set: the cached oracles, and
    the adaptation floor where it runs."""
    return tuple(o for o in self.oracles if o.cached) + ((self.floor,) if self.floor is not None else ())

  def reference_values(self, psis: jax.Array) -> dict[str, np.ndarray | None]:
    """Each V* candidate's mean return per task [G] on psis, by name, computing no cached one: the cached
    references (``cached_references``) from the shipped tables or the cache, None where neither holds
    it; the oracles that are not cached (the zero action: one rollout per start state) computed."""
    g, values = psis.shape[0], {}
    for ref in self.cached_references():
      found = existing_entry(oracle_cache_path(self.family, psis, self.eval_key, ref.budget, self.cache_dir or ""),
                             self.cache_dir)
      if found is None:
        values[ref.name] = None
        continue
      with np.load(found) as data:
        values[ref.name] = np.asarray(data["v_star"]).reshape(-1, g).mean(axis=0)
    for oracle in self.oracles:
      if not oracle.cached:
        values[oracle.name] = np.asarray(oracle(self.family, psis, self.eval_key)[0])
    return values

  def ship_tables(self, config_path: str, command: str, log=print) -> list[str]:
    """Compute (or load) every cached reference (``cached_references``) on the test sets and ship each
    table the package does not hold yet (``oracles.shipped.ship``), recording how many tasks each V*
    candidate wins in V*'s max (the floor counts as a candidate, as in the evaluation). Returns the paths."""
    shipped = []
    for set_name, psis in self.test_sets.items():
      found = self.oracle_returns(psis, set_name)
      if self.floor is not None:
        found[self.floor.name] = self.floor_returns(psis, set_name)
      values = {name: np.asarray(run.v).reshape(-1, psis.shape[0]).mean(axis=0) for name, run in found.items()}
      best = np.max(np.stack(list(values.values())), axis=0)
      for ref in self.cached_references():
        name = ref.name
        path = oracle_cache_path(self.family, psis, self.eval_key, ref.budget, self.cache_dir)
        if shipped_file(path):   # shipped already (another config with the same protocol): keep its record
          log(f"{set_name}, {name}: shipped already as {shipped_file(path)}")
          continue
        v = values[name]
        dest = ship(path, {"family": self.family_name, "set": set_name, "oracle": name, "budget": ref.budget,
                           "tasks": int(psis.shape[0]), "config": config_path, "command": command,
                           "computed_in_s": None if found[name].hit else round(found[name].seconds, 1),
                           "wins": int(np.sum(v >= best)), "v_mean": float(v.mean()), "v_min": float(v.min())})
        log(f"shipped {dest} ({set_name}, {name}: wins {int(np.sum(v >= best))} of {psis.shape[0]} tasks)")
        shipped.append(dest)
    return shipped

  def evaluate_set(self, name: str, psis: jax.Array, state, log=print) -> dict:
    """One test set: V* (and its candidates), the policy evaluator's returns (zero-shot and few-shot;
    mean and std over adaptation seeds) and curve, and where switched on the floor and the planner."""
    n, ev = psis.shape[0], self.evaluator
    seeds = f"{self.adapt_seeds} seed{'s' if self.adapt_seeds > 1 else ''}"
    log(f"evaluating {n} {name} tasks: V* oracles ({', '.join(o.name for o in self.oracles)}; loaded if "
        f"cached), then adaptation on the model ({seeds})")
    timed = lambda what, seconds, hit: log(f"{what} on {n} {name} tasks: {'cached' if hit else 'computed'} "
                                           f"in {seconds:.1f} s")
    found = self.oracle_returns(psis, name)
    for oracle in self.oracles:
      if oracle.cached:
        timed(oracle.label, found[oracle.name].seconds, found[oracle.name].hit)
    candidates = {oracle.label: found[oracle.name].v for oracle in self.oracles}
    res = {"psi": np.asarray(psis), "oracle_curve": np.asarray(found[self.oracles[0].name].curve).mean(axis=1)}
    if self.floor is not None:
      floor = self.floor_returns(psis, name)
      timed(f"adaptation floor ({ev.adapt_updates} updates on the true dynamics)", floor.seconds, floor.hit)
      returns = np.asarray(floor.v)
      res["floor"] = {"return": returns.mean(axis=0), "std": _seed_std(returns),
                      "curve": np.asarray(floor.curve).mean(axis=1)}
      candidates[self.floor.label] = res["floor"]["return"]
    if self.meta_learner is not None:
      return self._evaluate_model_free(res, psis, state, candidates, name, log)
    if self.planner is not None:
      t0 = time.perf_counter()
      real, predicted, plan_curve = self.planner(ev.learner, state.model, psis, self.eval_key,
                                                 desc=f"model planner: {self.planner.describe()} ({name})")
      res["planner"] = {"return": real, "predicted": predicted, "curve": plan_curve}
      timed("model planner", time.perf_counter() - t0, False)
      candidates["the model planner"] = res["planner"]["return"]
    t0 = time.perf_counter()
    returns, batch, real = zero_shot(ev, state.model, psis, self.adapt_key, self.eval_key, self.adapt_seeds,
                                     desc=f"policy evaluator: {ev.adapt_updates} TRPO updates on the model ({name}, "
                                          f"{seeds})")
    by_seed = {"zero_shot": returns}
    res["curve"] = {"batch": batch.mean(axis=(0, 1)), "real": real.mean(axis=(0, 1))}
    log(f"policy evaluator on {n} {name} tasks: {time.perf_counter() - t0:.1f} s")
    if self.few_shot_episodes:
      t0 = time.perf_counter()
      planner = self.planner.per_task(ev.learner) if self.planner is not None else None
      few, planned = few_shot(ev, state.model, state.buffer, psis, self.adapt_key, self.eval_key, self.adapt_seeds,
                              self.few_shot_episodes, planner,
                              desc=f"few-shot: {'/'.join(map(str, self.few_shot_episodes))} real episodes, refit, "
                                   f"re-adapt{', plan' if planner else ''} ({name}, {seeds})")
      budgets = [b for b in self.budgets() if b != "zero_shot"]
      by_seed.update({b: few[..., i] for i, b in enumerate(budgets)})
      if planned is not None:
        res["planner"]["few_shot"] = {b: planned[..., i].mean(axis=0) for i, b in enumerate(budgets)}
        candidates.update({f"the model planner, {b}": r for b, r in res["planner"]["few_shot"].items()})
      log(f"few-shot evaluation ({ev.few_shot_rounds} rounds per budget) on {n} {name} tasks: "
          f"{time.perf_counter() - t0:.1f} s")
    res["returns"] = {b: r.mean(axis=0) for b, r in by_seed.items()}
    res["return_std"] = {b: _seed_std(r) for b, r in by_seed.items()}
    res["v_star"] = best_known_return(candidates, log=lambda line: log(f"{name}: {line}"))
    return res

  def budgets(self) -> dict[str, int]:
    """{budget name: real episodes of the test task}: zero_shot (0), then few_shot_<real steps>."""
    horizon = self.family.env.horizon
    return {"zero_shot": 0, **{f"few_shot_{e * horizon}": e for e in self.few_shot_episodes}}

  def _evaluate_model_free(self, res: dict, psis: jax.Array, state, candidates: dict, name: str, log) -> dict:
    """A model-free baseline's returns per budget (its adaptation on real episodes of each task,
    ``adapt_seeds`` seeds), into res; V* from the candidates (no model: no planner)."""
    t0, n = time.perf_counter(), psis.shape[0]
    by_seed = {budget: self.model_free_returns(state, psis, episodes, self.adapt_key, self.eval_key,
                                               desc=f"{self.method} adaptation, {episodes} real episodes ({name})")
               for budget, episodes in self.budgets().items()}
    log(f"{self.method} adaptation on {n} {name} tasks: {time.perf_counter() - t0:.1f} s")
    res["returns"] = {b: r.mean(axis=0) for b, r in by_seed.items()}
    res["return_std"] = {b: _seed_std(r) for b, r in by_seed.items()}
    res["v_star"] = best_known_return(candidates, log=lambda line: log(f"{name}: {line}"))
    return res

  def model_free_returns(self, state, psis: jax.Array, episodes: int, adapt_key: jax.Array, eval_key: jax.Array,
                         desc: str | None = None):
    """A model-free baseline's real returns [adapt_seeds, G] on psis [G, k] after its own adaptation on
    ``episodes`` real episodes of each task (0: its zero-shot policy), from its MetaState ``state``."""
    items, keys = seeded_items(psis, adapt_key, self.adapt_seeds)
    fn = _jitted_adapted_returns(self.meta_learner, episodes, self.evaluator.n_episodes)
    returns = map_items(lambda p, k: fn(state.learner, p, k, eval_key), self.evaluator.task_batch, items, keys,
                        desc=desc)
    return returns.reshape(self.adapt_seeds, psis.shape[0])

  def evaluate(self, state, log=print) -> dict:
    """``evaluate_set`` of every test set: {set name: results}."""
    return {name: self.evaluate_set(name, psis, state, log) for name, psis in self.test_sets.items()}

  def evaluate_state(self, state, history: list, out_dir: str, log=print) -> dict:
    """Evaluate a MetaState and write eval.csv, eval_table.{csv,md} and the heat maps into out_dir.

    Returns the summary: the policy evaluator's zero-shot gaps (worst case, mean, CVaR-10%, OOD worst
    case) and seed spread, the floor's and the planner's gaps beside them (None where they did not run),
    the curves of the oracle, the adaptation and the planner, and the per-(set, budget) tables.
    """
    t0 = time.perf_counter()
    results = self.evaluate(state, log)
    rows, refs = gap_rows(results), reference_rows(results)
    write_eval_files(out_dir, results, rows + refs)
    pick = lambda s, b: next((r for r in rows + refs if r["set"] == s and r["budget"] == b), None)
    in_box, ood, res = pick("in_box", "zero_shot"), pick("ood", "zero_shot"), results["in_box"]
    std = res["return_std"]["zero_shot"]
    summary = {
        "method": self.method, "family": self.family_name, "seed": self.seed,
        "worst_case_gap": in_box["worst_case_gap"], "mean_gap": in_box["mean_gap"],
        "cvar10_gap": in_box["cvar10_gap"], "ood_worst_case_gap": ood["worst_case_gap"] if ood else None,
        "adapt_seeds": self.adapt_seeds,
        "adapt_seed_std_mean": _finite_or_none(np.mean(std)), "adapt_seed_std_max": _finite_or_none(np.max(std)),
    }
    for ref in ("floor", "planner"):
      inside, outside = pick("in_box", ref), pick("ood", ref)
      for field in ("worst_case_gap", "mean_gap", "cvar10_gap"):
        summary[f"{ref}_{field}"] = inside[field] if inside else None
      summary[f"{ref}_ood_worst_case_gap"] = outside["worst_case_gap"] if outside else None
    if "floor" in res:
      summary["floor_adapt_seed_std_mean"] = _finite_or_none(np.mean(res["floor"]["std"]))
      summary["floor_adapt_seed_std_max"] = _finite_or_none(np.max(res["floor"]["std"]))
    horizon = self.family.env.horizon
    summary["adaptation_real_steps"] = {b: e * horizon for b, e in self.budgets().items()}
    ev = self.evaluator
    if self.meta_learner is not None:   # no model: no adaptation curve on it, no planner
      summary.update({"adaptation_curve": None, "real_env_steps": int(state.real_steps),
                      "iterations": int(state.iteration), "eval_time_s": time.perf_counter() - t0, "table": rows,
                      "reference_table": refs, "oracle_curve_in_box": res["oracle_curve"].tolist()})
      self._gap_maps(out_dir, res, summary, state, history)
      return summary
    curve = {"updates": list(range(1, ev.adapt_updates + 1)),
             "model_batch_return": res["curve"]["batch"].tolist(),
             "real_return_updates": ev.curve_updates, "real_return": res["curve"]["real"].tolist(),
             "real_return_last_segment_gain": float(res["curve"]["real"][-1] - res["curve"]["real"][-2])}
    if "floor" in res:
      curve.update(floor_real_return=res["floor"]["curve"].tolist(),
                   floor_last_segment_gain=float(res["floor"]["curve"][-1] - res["floor"]["curve"][-2]))
    summary.update({
        "adaptation_curve": curve,
        "real_env_steps": int(state.real_steps), "iterations": int(state.iteration),
        "eval_time_s": time.perf_counter() - t0, "table": rows, "reference_table": refs,
        "oracle_curve_in_box": res["oracle_curve"].tolist(),
    })
    if "planner" in res:
      summary["planner"] = self.planner.describe()
      summary["planner_mean_return"] = float(np.mean(res["planner"]["return"]))
      if res["planner"]["curve"] is not None:   # the trajectory planner's (MPC replans: no curve, no prediction)
        summary["planner_curve_in_box"] = res["planner"]["curve"].tolist()
        summary["planner_predicted_mean_return"] = float(np.mean(res["planner"]["predicted"]))
    self._gap_maps(out_dir, res, summary, state, history)
    return summary

  def _gap_maps(self, out_dir: str, res: dict, summary: dict, state, history: list) -> None:
    if self.family.task_dim in (2, 3):
      plots.gap_maps(out_dir, res, summary, f"{self.method} on {self.family_name}, iteration {int(state.iteration)}",
                     self.family_name, self.adapt_seeds, self.grid_points, self.grid_points_3d,
                     np.asarray([row["psi"] for row in history]) if history else None)


@functools.lru_cache(maxsize=16)
def _jitted_adapted_returns(learner, real_episodes: int, n_episodes: int):
  """A baseline's ``adapted_returns`` at one budget, jitted once per (learner, budget)."""
  return jax.jit(lambda s, p, k, e: adapted_returns(learner, s, p, k, e, real_episodes, n_episodes))


def evaluate(config, loop, evaluator, state, log=print) -> dict:
  """``EvaluationProtocol.evaluate`` of a config's protocol (the outer loop is not needed)."""
  return EvaluationProtocol.from_config(config, evaluator).evaluate(state, log)


_NUMBER = tables.fixed_or_blank(3)
EVAL_CSV = tuple(tables.Column(k) for k in ("set", "budget", "psi")) + tuple(
    tables.Column(k, csv=_NUMBER) for k in ("v_star", "return", "gap", "return_std", "floor_return", "floor_std",
                                           "floor_gap", "planner_return", "planner_gap"))
EVAL_CSV_COLUMNS = tuple(c.key for c in EVAL_CSV)
_GAP = tables.fixed(2)
EVAL_TABLE = (tables.Column("set"), tables.Column("budget"), tables.Column("worst_case_gap", "worst-case gap", _GAP),
              tables.Column("mean_gap", "mean gap", _GAP), tables.Column("cvar10_gap", "CVaR-10% gap", _GAP))


def eval_csv_rows(results: dict) -> list[dict]:
  """eval.csv's rows: per test set, budget and task (the floor's columns per task repeated on every
  budget's row; the planner's on a few-shot row those through that budget's refit model where the
  few-shot planner ran, else the final model's; None where they did not run)."""
  rows = []
  for name, res in results.items():
    g = len(res["v_star"])
    col = lambda ref, key: res[ref][key] if ref in res else [None] * g
    floor = list(zip(col("floor", "return"), col("floor", "std"), col("floor", "gaps")))
    planner = res.get("planner", {})
    for budget, returns in res["returns"].items():
      plan = (list(zip(planner["few_shot"][budget], planner["few_shot_gaps"][budget]))
              if budget in planner.get("few_shot", {}) else list(zip(col("planner", "return"), col("planner", "gaps"))))
      for i, psi in enumerate(res["psi"]):
        numbers = (res["v_star"][i], returns[i], res["gaps"][budget][i], res["return_std"][budget][i], *floor[i],
                   *plan[i])
        rows.append({"set": name, "budget": budget, "psi": " ".join(f"{x:.3f}" for x in psi),
                     **dict(zip(EVAL_CSV_COLUMNS[3:], numbers))})
  return rows


def write_eval_files(out_dir: str, results: dict, rows: list[dict]) -> None:
  """eval.csv (``eval_csv_rows``; numbers at 3 decimals, empty where a reference did not run, and
  return_std for one seed), and eval_table.csv / eval_table.md (per set and budget, the floor and the
  planner as budgets)."""
  os.makedirs(out_dir, exist_ok=True)
  tables.write(EVAL_CSV, eval_csv_rows(results), csv_path=os.path.join(out_dir, "eval.csv"))
  tables.write(EVAL_TABLE, rows, os.path.join(out_dir, "eval_table.md"), os.path.join(out_dir, "eval_table.csv"))


EVALUATORS = (("", "policy evaluator", "policies adapted on the model"),
              ("floor_", "adaptation floor", "the same adaptation on the true dynamics"),
              ("planner_", "model planner", "plans through the model, run on the true system"))
HEAT_MAPS = ("gap_heatmap.png", "gap_policy_heatmap.png", "gap_floor_heatmap.png")


def summary_lines(summary: dict, run_dir: str) -> list[str]:
  """The end of a run, for the console: the evaluators it ran side by side (worst, mean, CVaR-10% and
  OOD worst-case gap where evaluated), how to read them, and the paths of the heat maps."""
  number = lambda x: "-" if x is None else f"{x:.2f}"
  rows = [[name, what, *(number(summary.get(f"{prefix}{field}")) for field in
                         ("worst_case_gap", "mean_gap", "cvar10_gap", "ood_worst_case_gap"))]
          for prefix, name, what in EVALUATORS if summary.get(f"{prefix}worst_case_gap") is not None]
  head = ["evaluator", "what is run on the true system", "worst", "mean", "CVaR-10%", "OOD worst"]
  widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
  line = lambda cells: "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths)))
  out = [f"{summary['method']} on {summary['family']}, seed {summary['seed']}: gaps V* - return over the test "
         f"tasks (lower is better; {summary['real_env_steps']} real training steps)", line(head),
         *(line(r) for r in rows)]
  if len(rows) > 1:
    out.append("How to read them: the floor is what adaptation alone leaves (no model error); the policy "
               "evaluator adds the model's error to it; the planner is the model's own gap, without adaptation.")
  if summary.get("ood_worst_case_gap") is None:
    out.append("OOD set not evaluated (--config.eval.ood=True adds it).")
  maps = [os.path.join(run_dir, m) for m in HEAT_MAPS if os.path.exists(os.path.join(run_dir, m))]
  out.append("heat maps: " + (", ".join(maps) if maps else "none (task dimension above 3)"))
  return out
