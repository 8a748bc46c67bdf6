"""Policy adaptation: TRPO on the learned model (zero-shot), and with a few real samples (few-shot)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax import replay
from admrl_jax.dynamics import DynamicsModel, ModelState
from admrl_jax.rollout import model_rollouts, real_rollouts
from admrl_jax.tasks import TaskFamily
from admrl_jax.trpo import TRPO, AgentState
from admrl_jax.types import Transition, alive_mask


@dataclasses.dataclass(frozen=True)
class Learner:
  """Everything static an adaptation needs: the family, the TRPO agent, the model and budgets."""

  family: TaskFamily
  agent: TRPO
  model: DynamicsModel
  model_rollouts: int = 32     # virtual episodes per TRPO update
  trpo_updates: int = 10       # TRPO updates per round
  fit_steps: int = 50          # model-fit steps per round

  def virtual_batch(self, model_state: ModelState, agent_state: AgentState, key: jax.Array) -> Transition:
    """On-policy virtual episodes on the model: leaves [model_rollouts, T, ...]."""
    return model_rollouts(self.model, model_state, self.family.env,
                          self.agent.act_fn(agent_state.policy), key, self.model_rollouts)

  def real_batch(self, agent_state: AgentState, key: jax.Array, n: int, deterministic: bool = False) -> Transition:
    """n real episodes with the policy: leaves [n, T, ...]."""
    return real_rollouts(self.family.env, self.agent.act_fn(agent_state.policy, deterministic), key, n)

  def adapt_on_model(self, model_state: ModelState, agent_state: AgentState, psi: jax.Array,
                     key: jax.Array, n_updates: int):
    """``n_updates`` TRPO updates on virtual data for task psi [k] -> (agent_state, last metrics)."""

    def body(state, k):
      k_roll, k_upd = jax.random.split(k)
      traj = self.virtual_batch(model_state, state, k_roll)
      rewards = self.family.reward(traj.c, traj.f, psi)
      return self.agent.update(state, traj, rewards, k_upd)

    state, metrics = jax.lax.scan(body, agent_state, jax.random.split(key, n_updates))
    return state, jax.tree.map(lambda m: m[-1], metrics)

  def slbo_rounds(self, model_state: ModelState, agents: AgentState, psi: jax.Array,
                  buffer: replay.TrajectoryBuffer, key: jax.Array, n_rounds: int):
    """n_rounds x [fit the shared model on the buffer; adapt K policies on it].

    agents: AgentState with leaves [K, ...]; psi [K, k]. Returns (model_state, agents, metrics).
    """

    def body(carry, k):
      model_state, agents = carry
      k_fit, k_adapt = jax.random.split(k)
      model_state, model_loss = self.model.fit(model_state, buffer, k_fit, self.fit_steps)
      keys = jax.random.split(k_adapt, psi.shape[0])
      agents, metrics = jax.vmap(self.adapt_on_model, in_axes=(None, 0, 0, 0, None))(
          model_state, agents, psi, keys, self.trpo_updates)
      return (model_state, agents), {"model_loss": model_loss, **metrics}

    (model_state, agents), metrics = jax.lax.scan(body, (model_state, agents), jax.random.split(key, n_rounds))
    return model_state, agents, jax.tree.map(lambda m: m[-1], metrics)

  def zero_shot(self, model_state: ModelState, psi: jax.Array, key: jax.Array, n_updates: int) -> AgentState:
    """A fresh policy trained on the model alone for task psi [k]."""
    k_init, k_adapt = jax.random.split(key)
    agent_state, _ = self.adapt_on_model(model_state, self.agent.init(k_init), psi, k_adapt, n_updates)
    return agent_state

  def few_shot(self, model_state: ModelState, buffer: replay.TrajectoryBuffer, psi: jax.Array, key: jax.Array,
               n_updates: int, budgets: tuple[int, ...], rounds: int, share: float):
    """Nested few-shot adaptation to task psi [k]: zero-shot, then for each budget (real episodes of
    the task, increasing) its new episodes in ``rounds`` equal rounds of [collect them with the current
    policy; one SLBO round (``slbo_rounds``: refit the model, ``trpo_updates`` TRPO updates on it)],
    the model a task-local copy refit on windows ``share`` from the task's episodes so far and the rest
    from the training buffer (``replay.FocusedBuffer``). Budget b continues from budget b - 1, so the
    three budgets cost one pass, and budget i's result does not depend on the budgets after it.

    Returns (agent states, model states), leaves [len(budgets), ...]: the state after each budget.
    """
    increments = [b - a for a, b in zip((0,) + tuple(budgets), budgets)]
    if min(increments) <= 0 or any(n % rounds for n in increments):
      raise ValueError(f"few-shot budgets {budgets}: must increase, each step a multiple of {rounds} rounds")
    k_zero, k_budgets = jax.random.split(key)
    agent = self.zero_shot(model_state, psi, k_zero, n_updates)
    env = self.family.env
    focus = replay.init_buffer(budgets[-1], env.horizon, env.obs_dim, env.action_dim, env.feature_dim)
    after = []
    for i, n_new in enumerate(increments):

      def one_round(carry, k, n=n_new // rounds):
        model_state, agent, focus = carry
        k_real, k_slbo = jax.random.split(k)
        traj = self.real_batch(agent, k_real, n)
        model_state = self.model.update_normalisers(model_state, traj)
        focus = replay.add(focus, traj)
        model_state, agents, _ = self.slbo_rounds(model_state, jax.tree.map(lambda x: x[None], agent), psi[None],
                                                  replay.FocusedBuffer(buffer, focus, share), k_slbo, 1)
        return (model_state, jax.tree.map(lambda x: x[0], agents), focus), None

      keys = jax.random.split(jax.random.fold_in(k_budgets, i), rounds)
      (model_state, agent, focus), _ = jax.lax.scan(one_round, (model_state, agent, focus), keys)
      after.append((agent, model_state))
    return jax.tree.map(lambda *xs: jnp.stack(xs), *after)


def episode_returns(family: TaskFamily, traj: Transition, psi: jax.Array) -> jax.Array:
  """Undiscounted return of each episode: leaves [N, T, ...], psi [k] -> [N]."""
  rewards = family.reward(traj.c, traj.f, psi)
  return jnp.sum(rewards * alive_mask(traj.done), axis=-1)
