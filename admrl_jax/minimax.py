"""The outer minimax loop: one pure outer step for every task-proposal method, scanned in chunks.

One outer iteration, for K tasks side by side (vmap):
  the method proposes tasks -> fresh policies -> warm-up on the model (theta_hat, zero-shot)
  -> SLBO stages: collect real data, refit the model, refine (theta*)
  -> one real batch of theta* -> task gradient (methods that use it) -> the method's update.
The task gradient uses the model theta_hat was adapted on (the warm-up model), so theta_hat is
a stationary point of the very objective whose Hessian is inverted.

Two settings of the estimator shape the real batches (``TaskGradientEstimator.p_episodes`` and
``common_random_numbers``; both off by default, which collects exactly as before): theta_hat's batch
(stage 0's collection, which feeds p) may take more of the iteration's real episodes, the later
collections giving them up so the iteration's total stays (slbo_stages + 1) x real_episodes per task;
and theta*'s batch may reuse theta_hat's start states and action-noise keys (``real_pair``).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from admrl_jax import replay, sharding
from admrl_jax.adapt import Learner, episode_returns
from admrl_jax.dynamics import ModelState
from admrl_jax.hyperparams import Hyperparams, bind
from admrl_jax.methods import Feedback, TaskProposal
from admrl_jax.rollout import real_rollouts, rollout
from admrl_jax.schema import ConfigError
from admrl_jax.task_gradient import TaskGradientEstimator
from admrl_jax.types import Transition, alive_mask

def episode_counts(real_episodes: int, slbo_stages: int, p_episodes: int) -> tuple[int, int]:
  """(theta_hat's real episodes per task, those of each later collection). By default (p_episodes 0)
  both are real_episodes. With p_episodes = P > 0, stage 0 collects P and the S = slbo_stages later
  collections (SLBO stages 1.. and theta*'s batch) share the rest of the iteration's (S + 1) x
  real_episodes equally, so the total per task is unchanged; ConfigError where they cannot (at least 1 each)."""
  if not p_episodes:
    return real_episodes, real_episodes
  total = (slbo_stages + 1) * real_episodes
  rest, left = divmod(total - p_episodes, slbo_stages)
  if left or rest < 1:
    allowed = [total - slbo_stages * r for r in range(1, total // slbo_stages + 1) if total - slbo_stages * r > 0]
    raise ConfigError(
        f"task_gradient.p_episodes: the iteration's {total} real episodes per task ((loop.slbo_stages + 1) x "
        f"loop.real_episodes) less p_episodes must split equally over the {slbo_stages} later collections, "
        f"at least 1 each; allowed: {sorted(allowed)}, got {p_episodes}")
  return p_episodes, rest


@struct.dataclass
class MetaState:
  """Everything that carries over between outer iterations (policies do not)."""

  model: ModelState
  buffer: replay.TrajectoryBuffer
  psi: jax.Array          # [K, k] the method's carried tasks (AdMRL: the adversary's iterate)
  memory: dict            # the method's own memory pytree (``TaskProposal.init_memory``; {} if none)
  key: jax.Array
  iteration: jax.Array    # [] int32
  real_steps: jax.Array   # [] int32, real environment steps collected so far


@dataclasses.dataclass(frozen=True)
class OuterLoop:
  """Static description of the outer loop; its methods are pure functions of MetaState."""

  learner: Learner
  estimator: TaskGradientEstimator
  method: TaskProposal             # how the K tasks are picked (admrl_jax.methods)
  iterations: int = 20
  warmup_rounds: int = 10
  slbo_stages: int = 2
  stage_rounds: int = 5
  real_episodes: int = 10          # real episodes per task per collection
  initial_episodes: int = 8        # real episodes of uniform random actions before iteration 1
  mesh: jax.sharding.Mesh | None = None  # a ``tasks`` axis: the K tasks split over its devices

  @property
  def num_tasks(self) -> int:
    return self.method.num_tasks

  @property
  def family(self):
    return self.learner.family

  @property
  def collections_per_iteration(self) -> int:
    return self.slbo_stages + 1

  def __post_init__(self):
    self.episode_counts   # noqa: B018  (raises ConfigError on a task_gradient.p_episodes that does not fit)

  @property
  def episode_counts(self) -> tuple[int, int]:
    """(theta_hat's real episodes per task: stage 0's collection, which feeds p; the episodes of every
    later collection: SLBO stages 1.. and theta*'s batch): ``episode_counts`` of the loop's numbers."""
    return episode_counts(self.real_episodes, self.slbo_stages, getattr(self.estimator, "p_episodes", 0))

  @property
  def collection_episodes(self) -> tuple[int, ...]:
    """Episodes per task of each real collection of an iteration, in the order they enter the buffer
    (``refine``): SLBO stage 0 (theta_hat's), stages 1.., then theta*'s batch."""
    n_hat, n_rest = self.episode_counts
    return (n_hat,) + (n_rest,) * self.slbo_stages

  def init(self, key: jax.Array) -> MetaState:
    env = self.family.env
    k_model, k_tasks, k_random, k_state = jax.random.split(key, 4)
    capacity = (self.iterations * self.num_tasks * self.collections_per_iteration * self.real_episodes
                + self.initial_episodes)
    buffer = replay.init_buffer(capacity, env.horizon, env.obs_dim, env.action_dim, env.feature_dim)
    state = MetaState(self.learner.model.init(k_model), buffer, self.method.init(k_tasks),
                      self.method.init_memory(), k_state, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    # The model's first fit needs data: a batch of uniformly random actions (SLBO does the same).
    uniform = lambda obs, k: jax.random.uniform(k, (env.action_dim,), minval=-1.0, maxval=1.0)
    traj = real_rollouts(env, uniform, k_random, self.initial_episodes)
    return self._add_real(state, traj)

  def place(self, state: MetaState) -> MetaState:
    """Put a state on the mesh: psi [K, k] split over the ``tasks`` axis, the rest replicated (one
    process or several: ``sharding.place``)."""
    if self.mesh is None:
      return state
    replicated = jax.tree.map(lambda _: sharding.replicated(self.mesh), state)
    return sharding.place(state, replicated.replace(psi=sharding.split(self.mesh)))

  def _split_tasks(self, tree):
    """Constrain leaves with a leading task axis [K, ...] to be split over the mesh's devices."""
    return sharding.constrain_split(self.mesh, tree)

  def _add_real(self, state: MetaState, traj: Transition) -> MetaState:
    """Fold real episodes (leaves [B, T, ...]) into the buffer, the normalisers and the counter."""
    model = self.learner.model.update_normalisers(state.model, traj)
    steps = jnp.sum(alive_mask(traj.done)).astype(jnp.int32)
    return state.replace(model=model, buffer=replay.add(state.buffer, traj),
                         real_steps=state.real_steps + steps)

  def _collect(self, state: MetaState, agents, key: jax.Array, n: int | None = None, keys_of: int | None = None):
    """Real episodes of every task's policy, added to the buffer -> (state, traj [K, E, T, ...]).

    n: episodes per task (default ``real_episodes``); keys_of: draw them as the first n of a
    collection of ``keys_of`` episodes with the same key (``task_batch``)."""
    n = self.real_episodes if n is None else n
    keys = jax.random.split(key, self.num_tasks)
    traj = jax.vmap(lambda a, k: self.task_batch(a, k, n, keys_of))(agents, keys)
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), traj)
    return self._add_real(state, flat), traj

  def task_batch(self, agent, key: jax.Array, n: int, keys_of: int | None = None) -> Transition:
    """n real episodes of one task's policy: leaves [n, T, ...]. keys_of None: ``Learner.real_batch``
    (episode keys split(key, n)); else the episodes that a batch of ``keys_of`` >= n episodes with the
    same key would start from, with its action-noise keys: episode keys split(key, keys_of)[:n], each
    rolled out as ``rollout.real_rollouts`` rolls out its episodes (so keys_of = n is real_batch)."""
    if keys_of is None:
      return self.learner.real_batch(agent, key, n)
    env, act = self.family.env, self.learner.agent.act_fn(agent.policy)

    def one(k):
      k_reset, k_roll = jax.random.split(k)
      return rollout(env.step, env.observe, act, env.reset(k_reset), k_roll, env.horizon)

    return jax.vmap(one)(jax.random.split(key, keys_of)[:n])

  def real_pair(self, hat, star, key_hat: jax.Array, key_star: jax.Array):
    """One task's real batches of theta_hat and theta* as the outer step collects them (sizes
    ``episode_counts``; with ``estimator.common_random_numbers`` theta*'s reuses theta_hat's key, so
    its episodes start where theta_hat's first ones did and draw the same action noise) -> (real_hat,
    real_star). The step collects theta_hat's inside stage 0 (``refine``); this is for measurements."""
    n_hat, n_rest = self.episode_counts
    if getattr(self.estimator, "common_random_numbers", False):
      return self.task_batch(hat, key_hat, n_hat), self.task_batch(star, key_hat, n_rest, n_hat)
    return self.task_batch(hat, key_hat, n_hat), self.task_batch(star, key_star, n_rest)

  def refine(self, state: MetaState, psi: jax.Array, hat, k_stages: jax.Array, k_star: jax.Array):
    """The SLBO stages from theta_hat (each: collect real episodes, refit, refine), then theta*'s real
    batch -> (state, star, real_hat [K, E_hat, ...], real_star [K, E_star, ...], the last stage's metrics).

    real_hat is stage 0's collection (with theta_hat itself). By default every collection has
    ``real_episodes`` per task; ``episode_counts`` moves episodes to stage 0, and with
    ``estimator.common_random_numbers`` theta*'s batch uses stage 0's collection key, drawn as the first
    of stage 0's episodes (``task_batch``): the same start states and action-noise keys, task by task.
    """
    learner = self.learner
    n_hat, n_rest = self.episode_counts

    def stage(carry, k, n=None):
      state, agents = carry
      k_col, k_rounds = jax.random.split(k)
      state, traj = self._collect(state, agents, k_col, n)
      model, agents, metrics = learner.slbo_rounds(state.model, agents, psi, state.buffer, k_rounds,
                                                   self.stage_rounds)
      return (state.replace(model=model), agents), (traj, metrics)

    stage_keys = jax.random.split(k_stages, self.slbo_stages)
    if not getattr(self.estimator, "p_episodes", 0):   # the default: every collection alike, one scan
      (state, star), (stage_traj, stage_metrics) = jax.lax.scan(stage, (state, hat), stage_keys)
      real_hat = jax.tree.map(lambda x: x[0], stage_traj)   # stage 0 collected with theta_hat
      last = jax.tree.map(lambda m: m[-1], stage_metrics)
    else:
      (state, star), (real_hat, last) = stage((state, hat), stage_keys[0], n_hat)
      if self.slbo_stages > 1:
        (state, star), (_, stage_metrics) = jax.lax.scan(lambda c, k: stage(c, k, n_rest), (state, star),
                                                         stage_keys[1:])
        last = jax.tree.map(lambda m: m[-1], stage_metrics)
    if getattr(self.estimator, "common_random_numbers", False):
      k_col0 = jax.random.split(stage_keys[0])[0]    # stage 0's collection key
      state, real_star = self._collect(state, star, k_col0, n_rest, n_hat)
    elif n_rest == self.real_episodes:
      state, real_star = self._collect(state, star, k_star)
    else:
      state, real_star = self._collect(state, star, k_star, n_rest)
    return state, star, real_hat, real_star, last

  def step(self, state: MetaState, _=None):
    """One outer iteration: (MetaState) -> (MetaState, metrics pytree)."""
    learner, K = self.learner, self.num_tasks
    key, k_prop, k_init, k_warm, k_stages, k_star, k_grad = jax.random.split(state.key, 7)
    psi = self._split_tasks(self.method.propose(state.psi, state.memory, k_prop))
    agents = self._split_tasks(jax.vmap(learner.agent.init)(jax.random.split(k_init, K)))

    model, hat, warm_metrics = learner.slbo_rounds(state.model, agents, psi, state.buffer, k_warm,
                                                   self.warmup_rounds)
    model_hat = model
    state = state.replace(model=model)
    state, star, real_hat, real_star, stage_metrics = self.refine(state, psi, hat, k_stages, k_star)

    return_hat = jax.vmap(lambda t, q: jnp.mean(episode_returns(self.family, t, q)))(real_hat, psi)
    return_star = jax.vmap(lambda t, q: jnp.mean(episode_returns(self.family, t, q)))(real_star, psi)
    metrics = {
        "iteration": state.iteration + 1,
        "real_steps": state.real_steps,
        "psi": psi,
        "return_hat": return_hat,
        "return_star": return_star,
        "gap_estimate": return_star - return_hat,
        "model_loss": stage_metrics["model_loss"],
        "warmup_model_return": warm_metrics["episode_return"],
    }

    grad = info = None
    if self.method.uses_task_gradient:
      grad, info = jax.vmap(self.estimator, in_axes=(0, 0, None, 0, 0, 0, 0))(
          hat, psi, model_hat, jax.random.split(k_grad, K), real_hat, real_star, agents)
      metrics.update(task_gradient=grad, cg_residual=info.cg_residual,
                     inner_stationarity=info.inner_stationarity,
                     inner_stationarity_rel=info.inner_stationarity_rel, hessian_norm=info.hessian_norm,
                     envelope_star=info.envelope_star, envelope_hat=info.envelope_hat,
                     implicit_term=info.implicit_term)

    model_error = metrics["warmup_model_return"] - return_hat
    feedback = Feedback(metrics["gap_estimate"], model_error, grad, info, jax.random.fold_in(k_prop, 1))
    next_psi, memory = self.method.update(psi, state.memory, feedback)
    state = state.replace(psi=self._split_tasks(next_psi), memory=memory, key=key,
                          iteration=state.iteration + 1)
    return state, metrics

  def run_chunk(self, state: MetaState, length: int, hp: Hyperparams | None = None):
    """``length`` outer iterations in one lax.scan -> (state, metrics with leading axis [length]).

    hp: traced hyper-parameters (``admrl_jax.hyperparams``) bound into the step; None keeps the
    static objects' own values (baked into the compiled step as constants).
    """
    loop = self if hp is None else bind(self, hp)
    return jax.lax.scan(loop.step, state, None, length=length)
