"""Model-free meta-RL baselines (SPEC section 5): the interface they implement, their outer loop and
their test-time evaluation.

A baseline trains on the real system only, on tasks drawn uniformly from the box, and adapts at test
time on real samples of the test task. It is a frozen dataclass implementing ``MetaLearner``:

  state = learner.init(key)                                  # its own pytree (fixed shapes)
  state, steps, metrics = learner.train_step(state, psi, key)  # psi [K, k]: this iteration's tasks
  act = learner.adapted_policy(state, psi, real_episodes, key)  # (obs [ds], key) -> action [da]

``MetaRLLoop`` wraps it into the runner's loop interface (``init``/``place``/``run_chunk``): one
outer iteration is one ``train_step`` on K = ``learner.tasks_per_iteration`` tasks drawn uniformly
(``methods.ModelFree``); ``MetaRLState`` adds the bookkeeping every run has (iteration, real steps,
the last tasks, the key). ``adapted_returns`` is the evaluation's side: the real return, on the
evaluation's start states, of the policy adapted with a budget of real episodes of each test task.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from admrl_jax import sharding
from admrl_jax.adapt import episode_returns
from admrl_jax.rollout import ActFn, evaluation_starts, rollout
from admrl_jax.tasks import TaskFamily


class MetaLearner(Protocol):
  """What a model-free baseline implements (pure functions; the dataclass holds its hyper-parameters)."""

  family: TaskFamily
  tasks_per_iteration: int   # K: tasks drawn uniformly from the box for each train_step

  def init(self, key: jax.Array) -> Any:
    """The learner's state pytree (parameters, optimiser states, buffers; fixed shapes)."""

  def train_step(self, state: Any, psi: jax.Array, key: jax.Array) -> tuple[Any, jax.Array, dict]:
    """One outer iteration on tasks psi [K, k]: collect real episodes and update ->
    (state, real environment steps used [] int32 (alive steps), metrics {name: [] float})."""

  def adapted_policy(self, state: Any, psi: jax.Array, real_episodes: int, key: jax.Array) -> ActFn:
    """The test-time policy for task psi [k] after ``real_episodes`` (static) real episodes of it
    (0: zero-shot): an (obs [ds], key) -> action [da] function (the mean action: evaluation)."""


@struct.dataclass
class MetaRLState:
  """A baseline's carried state: the learner's own pytree plus the run's bookkeeping."""

  learner: Any
  psi: jax.Array          # [K, k] the tasks of the last iteration
  key: jax.Array
  iteration: jax.Array    # [] int32
  real_steps: jax.Array   # [] int32, real environment steps used in training so far


@dataclasses.dataclass(frozen=True)
class MetaRLLoop:
  """The runner's loop for a model-free baseline: one ``train_step`` per outer iteration."""

  learner: MetaLearner
  method: Any                       # methods.ModelFree: draws the K tasks uniformly
  mesh: jax.sharding.Mesh | None = None

  @property
  def family(self) -> TaskFamily:
    return self.learner.family

  @property
  def num_tasks(self) -> int:
    return self.method.num_tasks

  def init(self, key: jax.Array) -> MetaRLState:
    k_learner, k_tasks, k_state = jax.random.split(key, 3)
    zero = jnp.zeros((), jnp.int32)
    # A learner's state may hold one array twice (an optimiser state aliasing its parameters); the
    # runner donates the state to the jitted chunk, which refuses a buffer donated twice: copy each leaf.
    learner = jax.tree.map(lambda x: x.copy(), self.learner.init(k_learner))
    return MetaRLState(learner, self.method.init(k_tasks), k_state, zero, jnp.zeros((), jnp.int32))

  def place(self, state: MetaRLState) -> MetaRLState:
    """Baselines run on one device (their batch is not split over a task mesh): with a mesh, the
    state is replicated over it (``sharding.place``); without one, it is left as it is."""
    return sharding.place(state, sharding.replicated(self.mesh))

  def step(self, state: MetaRLState, _=None):
    """One outer iteration -> (state, metrics: iteration, real_steps, psi [K, k] and the learner's)."""
    key, k_prop, k_train = jax.random.split(state.key, 3)
    psi = self.method.propose(state.psi, {}, k_prop)
    learner, steps, metrics = self.learner.train_step(state.learner, psi, k_train)
    state = state.replace(learner=learner, psi=psi, key=key, iteration=state.iteration + 1,
                          real_steps=state.real_steps + steps.astype(jnp.int32))
    return state, {"iteration": state.iteration, "real_steps": state.real_steps, "psi": psi, **metrics}

  def run_chunk(self, state: MetaRLState, length: int, hp=None):
    """``length`` outer iterations in one lax.scan. hp (the model-based loop's traced
    hyper-parameters) does not apply to a baseline and is ignored."""
    del hp
    return jax.lax.scan(self.step, state, None, length=length)


def policy_return(family: TaskFamily, act: ActFn, psi: jax.Array, eval_key: jax.Array, n_episodes: int) -> jax.Array:
  """Mean undiscounted real return of ``act`` on task psi [k] over the evaluation's start states."""
  env = family.env
  starts = evaluation_starts(env, eval_key, n_episodes)

  def one(s0, k):
    traj = rollout(env.step, env.observe, act, s0, k, env.horizon)
    return episode_returns(family, jax.tree.map(lambda x: x[None], traj), psi)[0]

  return jnp.mean(jax.vmap(one)(starts, jax.random.split(jax.random.fold_in(eval_key, 1), n_episodes)))


def adapted_returns(learner: MetaLearner, state: Any, psis: jax.Array, keys: jax.Array, eval_key: jax.Array,
                    real_episodes: int, n_episodes: int) -> jax.Array:
  """psis [B, k], adaptation keys [B] -> real returns [B] of the policies adapted with
  ``real_episodes`` real episodes of each task (vmapped; jit with real_episodes and n_episodes static)."""

  def one(psi, key):
    act = learner.adapted_policy(state, psi, real_episodes, key)
    return policy_return(learner.family, act, psi, eval_key, n_episodes)

  return jax.vmap(one)(psis, keys)
