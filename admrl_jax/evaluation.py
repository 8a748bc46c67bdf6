"""Evaluation: adapt from a final model for every test task (vectorised), real returns, gaps.

The policy evaluator adapts a fresh policy per test task with several adaptation seeds (the return of
a task is their mean, their spread is reported) and records its curve: the batch return of every TRPO
update and the real return of the mean action at a few update counts. ``on_true_dynamics`` gives the
same evaluator with the true dynamics in place of the model: the adaptation floor (SPEC section 5).
``zero_shot`` and ``few_shot`` run it over a test set, ``task_batch`` (task, seed) items per call of
one compiled function.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from admrl_jax import progress, replay
from admrl_jax.adapt import Learner, episode_returns
from admrl_jax.dynamics import ModelState
from admrl_jax.rollout import evaluation_starts, rollout
from admrl_jax.trpo import AgentState

CURVE_POINTS = 4   # real-return checkpoints along an adaptation (besides its start)


@dataclasses.dataclass(frozen=True)
class TrueDynamicsLearner(Learner):
  """A Learner whose "virtual" batch is real episodes: adaptation on the true dynamics, same budget."""

  def virtual_batch(self, model_state, agent_state: AgentState, key: jax.Array):
    return self.real_batch(agent_state, key, self.model_rollouts)


def curve_points(n_updates: int, most: int = CURVE_POINTS) -> int:
  """Real-return checkpoints along n_updates updates: the largest divisor of n_updates <= ``most``
  (equal segments, so one compiled segment serves them all; a prime count gives just the end)."""
  return max(p for p in range(1, min(most, n_updates) + 1) if n_updates % p == 0)


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """Adaptation budgets of the test-time protocol (SPEC section 5)."""

  learner: Learner
  adapt_updates: int = 100          # zero-shot TRPO updates on the model
  n_episodes: int = 8               # evaluation episodes per task (the oracle's start states)
  few_shot_rounds: int = 4          # SLBO rounds per few-shot budget (each collects its share of the episodes)
  few_shot_share: float = 0.5       # share of the few-shot refit's windows from the test task's own episodes
  task_batch: int = 16              # tasks adapted at once (bounds memory)

  def on_true_dynamics(self) -> "Evaluator":
    """This evaluator with adaptation on the true dynamics (the floor): same agent, updates, rollouts."""
    learner = TrueDynamicsLearner(**{f.name: getattr(self.learner, f.name)
                                     for f in dataclasses.fields(self.learner)})
    return dataclasses.replace(self, learner=learner)

  @property
  def curve_updates(self) -> list[int]:
    """Update counts at which ``zero_shot_curve`` measures the real return (0 first)."""
    points = curve_points(self.adapt_updates)
    return [i * self.adapt_updates // points for i in range(points + 1)]

  def policy_return(self, agent_state: AgentState, psi: jax.Array, eval_key: jax.Array,
                    action_key: jax.Array | None = None, repeats: int = 1) -> jax.Array:
    """Mean undiscounted real return over the evaluation episodes of the policy's mean action, or,
    given ``action_key``, of actions sampled from the policy (each start ``repeats`` times)."""
    env, family = self.learner.family.env, self.learner.family
    starts = evaluation_starts(env, eval_key, self.n_episodes)
    starts = jax.tree.map(lambda x: jnp.concatenate([x] * repeats), starts)
    sampled = action_key is not None
    act = self.learner.agent.act_fn(agent_state.policy, deterministic=not sampled)
    keys = jax.random.split(action_key if sampled else jax.random.key(0), self.n_episodes * repeats)

    def one(s0, k):
      traj = rollout(env.step, env.observe, act, s0, k, env.horizon)
      return episode_returns(family, jax.tree.map(lambda x: x[None], traj), psi)[0]

    return jnp.mean(jax.vmap(one)(starts, keys))

  def zero_shot_curve(self, model_state: ModelState, psi: jax.Array, key: jax.Array, eval_key: jax.Array):
    """Zero-shot adaptation of a fresh policy for task psi [k], as ``Learner.zero_shot`` (its updates
    one by one) -> (batch return per update [adapt_updates], real return at ``curve_updates`` [P+1]).

    The last real return is the evaluation's; the batch return is the mean episode return of each
    update's own batch (on the model; on the true system for the floor)."""
    k_init, k_adapt = jax.random.split(key)
    state = self.learner.agent.init(k_init)
    points = curve_points(self.adapt_updates)
    keys = jax.random.split(k_adapt, self.adapt_updates).reshape(points, -1)
    one_update = lambda s, k: self.learner.adapt_on_model(model_state, s, psi, k, 1)

    def segment(s, seg_keys):
      s, metrics = jax.lax.scan(one_update, s, seg_keys)
      return s, (metrics["episode_return"], self.policy_return(s, psi, eval_key))

    _, (batch, real) = jax.lax.scan(segment, state, keys)
    return batch.reshape(-1), jnp.concatenate([self.policy_return(state, psi, eval_key)[None], real])

  def zero_shot_items(self, model_state: ModelState, psis: jax.Array, keys: jax.Array, eval_key: jax.Array):
    """Items psis [B, k], adaptation keys [B] -> (batch-return curves [B, U], real curves [B, P+1]) of
    ``zero_shot_curve``, vmapped (jit it once for B = ``task_batch``; ``map_items`` feeds it)."""
    return jax.vmap(lambda p, k: self.zero_shot_curve(model_state, p, k, eval_key))(psis, keys)

  def few_shot_items(self, model_state: ModelState, buffer: replay.TrajectoryBuffer, psis: jax.Array,
                     keys: jax.Array, eval_key: jax.Array, budgets: tuple[int, ...], planner=None):
    """Items psis [B, k], keys [B] -> real returns [B, P] after each of the P nested budgets (real
    episodes of the task; ``Learner.few_shot``), and given ``planner`` ((model state, psi, eval key) ->
    real return []) the planner's return through each budget's refit model [B, P] (else None)."""

    def one(psi, k):
      agents, models = self.learner.few_shot(model_state, buffer, psi, k, self.adapt_updates, budgets,
                                              self.few_shot_rounds, self.few_shot_share)
      returns = jax.vmap(lambda a: self.policy_return(a, psi, eval_key))(agents)
      planned = None if planner is None else jax.lax.map(lambda m: planner(m, psi, eval_key), models)
      return returns, planned

    return jax.vmap(one)(psis, keys)


def seeded_items(psis: jax.Array, key: jax.Array, seeds: int):
  """psis [G, k] -> (psis [S * G, k], keys [S * G]): every task once per adaptation seed, seed-major."""
  g = psis.shape[0]
  keys = jnp.stack([jax.random.split(jax.random.fold_in(key, s), g) for s in range(seeds)]).reshape(-1)
  return jnp.tile(psis, (seeds, 1)), keys


def map_items(fn, batch: int, *arrays, desc: str | None = None):
  """fn(*chunks [batch, ...]) -> pytree [batch, ...] over any number of items (``arrays`` share their
  leading axis: psis [N, k], keys [N], ...), ``batch`` at a time from the host, the last chunk padded by
  repeating its last item: one compiled shape serves every test set and grid size (a lax.map over a
  whole set compiles once per set size, and again for its remainder). ``desc``: a progress bar of
  that name counts the items (``progress.bar``)."""
  n = arrays[0].shape[0]
  idx = np.minimum(np.arange(n + (-n % batch)), n - 1)
  arrays = [a[idx] for a in arrays]
  outs = []
  with progress.bar(n, desc or "", unit="task", disable=desc is None) as bar:
    for i in range(0, idx.size, batch):
      outs.append(jax.block_until_ready(fn(*(a[i:i + batch] for a in arrays))))
      bar.update(min(batch, n - i))
  return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs])[:n], *outs)


@functools.lru_cache(maxsize=8)
def _jitted_zero_shot(evaluator):
  """Jitted zero-shot evaluation of ``task_batch`` items, compiled once per evaluator."""
  return jax.jit(evaluator.zero_shot_items)


@functools.lru_cache(maxsize=8)
def _jitted_few_shot(evaluator, budgets: tuple, planner):
  """Jitted nested few-shot evaluation of ``task_batch`` items, once per (evaluator, budgets, planner)."""
  return jax.jit(lambda ms, buf, p, k, e: evaluator.few_shot_items(ms, buf, p, k, e, budgets, planner))


def zero_shot(evaluator, model_state, psis, key, eval_key, seeds: int, desc: str | None = None):
  """psis [G, k] -> (real returns [S, G], batch-return curves [S, G, U], real curves [S, G, P+1]) of
  fresh policies adapted zero-shot, ``seeds`` adaptation seeds per task (``desc``: a progress bar)."""
  items = _jitted_zero_shot(evaluator)
  batch, real = map_items(lambda p, k: items(model_state, p, k, eval_key), evaluator.task_batch,
                          *seeded_items(psis, key, seeds), desc=desc)
  batch, real = batch.reshape(seeds, psis.shape[0], -1), real.reshape(seeds, psis.shape[0], -1)
  return real[..., -1], batch, real


def few_shot(evaluator, model_state, buffer, psis, key, eval_key, seeds: int, budgets: tuple[int, ...],
             planner=None, desc: str | None = None):
  """psis [G, k] -> (real returns [S, G, P], planner returns [S, G, P] or None) after each nested
  budget (real episodes per task, ``Evaluator.few_shot_items``), ``seeds`` adaptation seeds per task.
  ``planner``: hashable (jitted once per planner), as ``few_shot_items``."""
  items = _jitted_few_shot(evaluator, tuple(budgets), planner)
  returns, planned = map_items(lambda p, k: items(model_state, buffer, p, k, eval_key), evaluator.task_batch,
                               *seeded_items(psis, key, seeds), desc=desc)
  shape = (seeds, psis.shape[0], len(budgets))
  return returns.reshape(shape), None if planned is None else planned.reshape(shape)


def best_known_return(returns_by_policy: dict, log=print) -> np.ndarray:
  """{name: returns [G]} of policies that exist (the oracles, the zero action, the evaluated references:
  floor and model planner) -> the best known return [G]; the gaps also count the method's own return.

  The first entry is the reference its log lines compare with. A NaN return (a policy whose episode
  blew up the physics) counts as no return; a task with no finite return left raises
  FloatingPointError naming the task, so no NaN reaches a gap table.
  """
  named = [(name, np.asarray(v, np.float64)) for name, v in returns_by_policy.items()]
  for name, v in named:
    if not np.all(np.isfinite(v)):
      log(f"{name}: no finite return on tasks {np.flatnonzero(~np.isfinite(v)).tolist()} (counted as none)")
  (first, best), *others = named
  for name, v in others:
    if np.any(v > best):
      log(f"{name} beats {first} on {int(np.sum(v > best))} of {v.size} tasks (by up to {np.nanmax(v - best):.3g})")
    best = np.fmax(best, v)
  if not np.all(np.isfinite(best)):
    bad = np.flatnonzero(~np.isfinite(best)).tolist()
    raise FloatingPointError(f"V*: no finite return on tasks {bad} from any of {list(returns_by_policy)}")
  return best


def gap_summary(returns: np.ndarray, v_star: np.ndarray) -> dict:
  """Gaps against the best known return max(V*, return) (never negative): worst, mean, CVaR-10%.

  Raises FloatingPointError on a non-finite return (named by task index): a NaN real return means the
  adapted policy or the simulator blew up, and a NaN gap would hide it in the table's max and mean.
  """
  returns, v_star = np.asarray(returns, np.float64), np.asarray(v_star, np.float64)
  for name, x in (("returns", returns), ("v_star", v_star)):
    if not np.all(np.isfinite(x)):
      raise FloatingPointError(f"{name}: not finite on tasks {np.flatnonzero(~np.isfinite(x)).tolist()}")
  gaps = np.maximum(v_star, returns) - returns
  n_tail = max(1, int(np.ceil(0.1 * gaps.size)))
  return {
      "worst_case_gap": float(gaps.max()),
      "mean_gap": float(gaps.mean()),
      "cvar10_gap": float(np.sort(gaps)[-n_tail:].mean()),
      "gaps": gaps,
  }


def _gap_summary_of(returns, v_star, where: str) -> dict:
  """``gap_summary``, its FloatingPointError naming ``where`` (the set and budget or reference)."""
  try:
    return gap_summary(returns, v_star)
  except FloatingPointError as err:
    raise FloatingPointError(f"evaluation of the {where}: {err}") from err


def gap_rows(results: dict) -> list[dict]:
  """One row per (test set, budget) of the policy evaluator's results (``evaluation_protocol``):
  worst-case, mean and CVaR-10% gap; adds the per-task gaps to results (res["gaps"][budget])."""
  rows = []
  for name, res in results.items():
    for budget, returns in res["returns"].items():
      gaps = _gap_summary_of(returns, res["v_star"], f"{name} set, budget {budget}")
      res.setdefault("gaps", {})[budget] = gaps.pop("gaps")
      rows.append({"set": name, "budget": budget, **gaps})
  return rows


def reference_rows(results: dict) -> list[dict]:
  """Rows of the floor and the planner (budget "floor", "planner") where they ran, and of the planner
  after each few-shot refit (budget "planner_few_shot_<real steps>"); adds their gaps (the few-shot
  planner's to res["planner"]["few_shot_gaps"])."""
  rows = []
  for name, res in results.items():
    for ref in ("floor", "planner"):
      if ref in res:
        gaps = _gap_summary_of(res[ref]["return"], res["v_star"], f"{name} set, {ref}")
        res[ref]["gaps"] = gaps.pop("gaps")
        rows.append({"set": name, "budget": ref, **gaps})
    for budget, returns in res.get("planner", {}).get("few_shot", {}).items():
      gaps = _gap_summary_of(returns, res["v_star"], f"{name} set, planner after {budget}")
      res["planner"].setdefault("few_shot_gaps", {})[budget] = gaps.pop("gaps")
      rows.append({"set": name, "budget": f"planner_{budget}", **gaps})
  return rows
