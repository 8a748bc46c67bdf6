"""V*(psi) for families with deterministic, differentiable true dynamics: trajectory optimisation.

For deterministic dynamics the best closed-loop policy from a known start state is an open-loop
action sequence, so V*(psi) = mean over start states s0 of max_{a_0..a_{T-1}} sum_t r_psi.
Each (task, start state) pair gets its own action sequence a = tanh(z), optimised with Adam
through the true dynamics, all vectorised; the learning curve is returned so its flattening
can be checked. The start states are the evaluation's (same key), so the policy evaluation and
the oracle are averaged over the very same episodes.

The same optimiser run through a learned model (``model_planner``), its plans executed on the true
system, is the model's own evaluator: deterministic, and free of the policy adaptation's noise.
``cached_oracle`` keeps every run-independent computation (V*, the MPC oracle, the adaptation floor)
on disk, keyed by its budget.
"""
from __future__ import annotations

import hashlib
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax

from admrl_jax.adapt import episode_returns
from admrl_jax.rollout import rollout
from admrl_jax.tasks import TaskFamily

ORACLE_LR = 0.05   # Adam step size of the trajectory oracle (and of the model planner)


def evaluation_starts(family: TaskFamily, key: jax.Array, n_episodes: int):
  """The evaluation's start states: env states with a leading axis [n_episodes]."""
  return jax.vmap(family.env.reset)(jax.random.split(key, n_episodes))


def zero_action_returns(family: TaskFamily, psis: jax.Array, eval_key: jax.Array, n_episodes: int) -> jax.Array:
  """psis [G, k] -> [G]: mean return of the all-zero action from the evaluation's start states (steps
  after a termination masked): the "do nothing" floor that an oracle's V* must clear."""
  env = family.env
  act = lambda obs, key: jnp.zeros(env.action_dim)
  trajs = jax.vmap(lambda s0: rollout(env.step, env.observe, act, s0, jax.random.key(0), env.horizon))(
      evaluation_starts(family, eval_key, n_episodes))
  return jax.vmap(lambda psi: jnp.mean(episode_returns(family, trajs, psi)))(psis)


def open_loop_return(family: TaskFamily, state0, actions: jax.Array, psi: jax.Array, step=None) -> jax.Array:
  """Undiscounted return of an action sequence [H, da] from one env state, rewards after the first
  termination masked (as in ``episode_returns``); also the MPC oracle's score of a plan.

  step: (state, action) -> (state, Transition); default the true ``env.step`` (a learned model's
  step, ``rollout.model_step_fn``, plans through the model from an observation)."""
  step = family.env.step if step is None else step

  def body(carry, a):
    state, alive = carry
    state, tr = step(state, a)
    return (state, alive * (1.0 - tr.done)), alive * family.reward(tr.c, tr.f, psi)

  _, rewards = jax.lax.scan(body, (state0, jnp.ones(())), actions)
  return jnp.sum(rewards)


def optimise_open_loop(score, starts, psis: jax.Array, horizon: int, action_dim: int, iters: int,
                       lr: float = ORACLE_LR, curve_every: int = 50):
  """Adam on one open-loop sequence a = tanh(z) per (task, start state), maximising
  ``score(start, actions [H, da], psi)``; starts: a pytree with leading axis [S], psis [G, k].

  Returns (z [G, S, H, da], curve [iters // curve_every, G]: the mean score over starts every
  ``curve_every`` steps). z starts at 0 (the zero action) and the step size decays (cosine) to 1 %.
  """
  n_starts = jax.tree.leaves(starts)[0].shape[0]
  z0 = jnp.zeros((psis.shape[0], n_starts, horizon, action_dim))
  opt = optax.adam(optax.cosine_decay_schedule(lr, iters, alpha=0.01))  # decays to settle on the L1 kinks

  objective = lambda z: _scores(score, starts, z, psis)

  def step(carry, _):
    z, opt_state = carry
    ret, vjp = jax.vjp(objective, z)
    (grad,) = vjp(-jnp.ones_like(ret))
    updates, opt_state = opt.update(grad, opt_state, z)
    return (optax.apply_updates(z, updates), opt_state), jnp.mean(ret, axis=1)

  def chunk(carry, _):
    carry, rets = jax.lax.scan(step, carry, None, length=curve_every)
    return carry, rets[-1]

  (z, _), curve = jax.lax.scan(chunk, (z0, opt.init(z0)), None, length=iters // curve_every)
  return z, curve


def trajectory_optimisation_oracle(family: TaskFamily, psis: jax.Array, key: jax.Array,
                                   n_episodes: int, iters: int = 1500, lr: float = ORACLE_LR,
                                   curve_every: int = 50):
  """V*(psi) for psis [G, k] -> (v_star [G], curve [iters // curve_every, G]).

  Start states come from ``evaluation_starts(family, key, n_episodes)``.
  """
  env = family.env
  starts = evaluation_starts(family, key, n_episodes)
  score = lambda s0, a, psi: open_loop_return(family, s0, a, psi)
  z, curve = jax.jit(lambda p: optimise_open_loop(score, starts, p, env.horizon, env.action_dim, iters, lr,
                                                  curve_every))(psis)
  return jnp.mean(jax.jit(lambda z, p: _scores(score, starts, z, p))(z, psis), axis=1), curve


def _scores(score, starts, z: jax.Array, psis: jax.Array) -> jax.Array:
  """Scores [G, S] of the open-loop sequences tanh(z) [G, S, H, da] from the starts [S] for psis [G, k]."""
  return jax.vmap(lambda zg, psi: jax.vmap(lambda s0, zz: score(s0, jnp.tanh(zz), psi))(starts, zg))(z, psis)


def model_planner(family: TaskFamily, model_step, psis: jax.Array, key: jax.Array, n_episodes: int,
                  iters: int = 1500, lr: float = ORACLE_LR, curve_every: int = 50):
  """The deterministic model evaluator: the trajectory oracle's optimiser run through a model, its
  plans executed open-loop on the true system from the same start states (as the oracle's).

  model_step: (obs, action) -> (next obs, Transition), e.g. ``rollout.model_step_fn`` of a learned
  model, or the true ``env.step`` where the observation is the state (PointMass). Traceable (jit it
  with the model state as an argument). Returns (real return [G], the model's predicted return [G],
  curve [iters // curve_every, G] of the predicted return): V* - real return is the model's gap.
  """
  env = family.env
  starts = evaluation_starts(family, key, n_episodes)
  obs0 = jax.vmap(env.observe)(starts)
  score = lambda o0, a, psi: open_loop_return(family, o0, a, psi, step=model_step)
  z, curve = optimise_open_loop(score, obs0, psis, env.horizon, env.action_dim, iters, lr, curve_every)
  real = _scores(lambda s0, a, psi: open_loop_return(family, s0, a, psi), starts, z, psis)
  return jnp.mean(real, axis=1), jnp.mean(_scores(score, obs0, z, psis), axis=1), curve


def oracle_cache_path(family: TaskFamily, psis: jax.Array, key: jax.Array, budget: dict, cache_dir: str) -> str:
  """The cache file of an oracle computation, keyed by the family (name, box, environment
  parameters), the task grid, the evaluation key and the oracle's kind and budget (``budget``).

  The key is built from reprs, so it must not depend on the process: a repr holding an object
  address (``at 0x...``) would never match again, and is refused.
  """
  ident = repr((family.name, family.box, family.env, np.asarray(psis, np.float32).tobytes(),
                np.asarray(jax.random.key_data(key)).tobytes(), sorted(budget.items())))
  if re.search(r" at 0x[0-9a-f]+", ident):
    raise ValueError(f"oracle cache key of family {family.name!r} holds an object address, so no other process "
                     f"would find its file; give its env and budget stable reprs: {ident[:300]}")
  return os.path.join(cache_dir, f"{family.name}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.npz")


def cached_oracle(family: TaskFamily, psis: jax.Array, key: jax.Array, budget: dict, compute,
                  cache_dir: str | None):
  """``compute() -> (v_star [G], curve [C, G])`` behind an on-disk cache -> (v_star, curve, hit).

  Every run and every method evaluated on the same grid reuses one computation (see
  ``oracle_cache_path`` for the key). ``cache_dir`` None or "" turns it off.
  """
  if cache_dir:
    path = oracle_cache_path(family, psis, key, budget, cache_dir)
    if os.path.exists(path):
      with np.load(path) as data:
        return data["v_star"], data["curve"], True
  v_star, curve = compute()
  v_star, curve = np.asarray(v_star), np.asarray(curve)
  if cache_dir:
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + f".tmp{os.getpid()}.npz"
    np.savez(tmp, v_star=v_star, curve=curve, psi=np.asarray(psis))
    os.replace(tmp, path)  # atomic: concurrent runs never read a half-written file
  return v_star, curve, False
