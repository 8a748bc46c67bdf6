"""Multi-task PPO: one task-conditioned policy pi(a | s, w(psi)) trained model-free with PPO.

The baseline that knows the task: its observation is the state concatenated with the task in unit
coordinates, w = ``family.box.to_unit(psi)`` in [-1, 1]^k, and one policy and one value function
serve every task of the box. Zero-shot adaptation is conditioning on the test task; with a budget
of real episodes it fine-tunes the conditioned policy on them with the same PPO loss.

Built from brax.training's maintained PPO pieces: the networks and their inference function
(``ppo.networks.make_ppo_networks`` / ``make_inference_fn``, a tanh-Gaussian policy), the clipped
surrogate with GAE and value loss (``ppo.losses.compute_ppo_loss``), the optimiser step
(``gradients.gradient_update_fn`` with optax adam) and the observation normaliser
(``acme.running_statistics``). The data collection is our own: brax's ``acting.generate_unroll``
steps a brax ``Env`` (``reset``/``step`` on a ``State`` with ``obs``/``reward``/``done``/``info``)
with auto-resets, while our environments are the pure (reset, observe, step -> Transition(c, f))
interface whose reward belongs to the task, and every episode here carries its own psi (in its
observation and in its reward). So whole episodes are collected with the one termination-masked
scan (``rollout.episode_scan``), K tasks x ``episodes_per_task`` episodes, and converted to the
batch brax's loss reads: ``brax.training.types.Transition`` leaves [B, T, ...] (B episodes; the
loss swaps to time-major [T, B] itself), reward r(c, f, psi), discount 1 - done, and
``truncation`` 1 on the episode's last step when it did not terminate there (the time limit: GAE
bootstraps from V(s_{T-1}) and, as in brax, the truncated step itself carries no advantage nor
value error) and on the masked steps after a termination (so they carry neither); a terminating
step has discount 0 and truncation 0 (a true termination).
"""
from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from admrl_jax.envs.brax_tasks import stdout_to_stderr
from admrl_jax.rollout import ActFn, episode_scan
from admrl_jax.tasks import TaskFamily
from admrl_jax.types import alive_mask

with stdout_to_stderr():   # brax's import prints a note to stdout (``stdout_to_stderr``)
  from brax.training import gradients
  from brax.training import types as brax_types
  from brax.training.acme import running_statistics
  from brax.training.agents.ppo import losses as ppo_losses
  from brax.training.agents.ppo import networks as ppo_networks

_LOSS_METRICS = ("total_loss", "policy_loss", "v_loss", "entropy_loss", "kl_mean", "policy_dist_mean_std")


@struct.dataclass
class MultiTaskState:
  """The learner's state: network parameters, their adam state and the observation normaliser."""

  params: ppo_losses.PPONetworkParams
  optimizer_state: optax.OptState
  normalizer: running_statistics.RunningStatisticsState   # statistics of [obs, w] (ds + k)


@dataclasses.dataclass(frozen=True)
class MultiTaskPPO:
  """Task-conditioned PPO (a ``base.MetaLearner``); fields are static hyper-parameters."""

  family: TaskFamily
  tasks_per_iteration: int = 16          # K: tasks drawn uniformly per train_step
  episodes_per_task: int = 2             # real episodes of each task per train_step (batch: K x this episodes)
  epochs: int = 4                        # passes of minibatch updates over each batch
  minibatches: int = 4                   # minibatches per pass, split over episodes (must divide the batch)
  learning_rate: float = 1e-3            # adam step size of the PPO updates
  entropy_cost: float = 1e-3             # weight of the entropy bonus in the PPO loss
  discounting: float = 0.97              # discount of GAE and the value targets
  gae_lambda: float = 0.95               # GAE lambda
  clipping_epsilon: float = 0.2          # PPO ratio clip
  reward_scaling: float = 0.1            # rewards are multiplied by this inside the loss (value-target scale)
  vf_coefficient: float = 0.5            # weight of the value loss
  max_grad_norm: float = 1.0             # global-norm gradient clip before adam (0: none)
  policy_hidden: tuple[int, ...] = (64, 64)   # hidden widths of the policy MLP (swish; tanh-Gaussian head)
  value_hidden: tuple[int, ...] = (64, 64)    # hidden widths of the value MLP (swish)
  normalize_observations: bool = True    # running mean/std normalisation of [obs, w] (brax running_statistics)
  finetune_updates: int = 10             # full-batch PPO updates on the test task's real episodes (adapted_policy)
  finetune_learning_rate: float = 3e-4   # adam step size of those updates (fresh adam state)

  def __post_init__(self):
    for name in ("policy_hidden", "value_hidden"):
      object.__setattr__(self, name, tuple(int(h) for h in getattr(self, name)))
    for name in ("tasks_per_iteration", "episodes_per_task", "epochs", "minibatches"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"multitask.{name}: must be >= 1, got {getattr(self, name)}")
    batch = self.tasks_per_iteration * self.episodes_per_task
    if batch % self.minibatches:
      raise ValueError(f"multitask.minibatches: {self.minibatches} must divide tasks_per_iteration * "
                       f"episodes_per_task = {batch}")
    if self.finetune_updates < 0:
      raise ValueError(f"multitask.finetune_updates: must be >= 0, got {self.finetune_updates}")
    for name in ("learning_rate", "finetune_learning_rate", "discounting", "clipping_epsilon", "reward_scaling"):
      if not getattr(self, name) > 0.0:
        raise ValueError(f"multitask.{name}: must be > 0, got {getattr(self, name)}")
    if not 0.0 <= self.gae_lambda <= 1.0 or self.discounting > 1.0:
      raise ValueError(f"multitask.gae_lambda and discounting: need 0 <= gae_lambda <= 1 and discounting <= 1, got "
                       f"{self.gae_lambda}, {self.discounting}")
    if self.entropy_cost < 0.0 or self.vf_coefficient < 0.0 or self.max_grad_norm < 0.0:
      raise ValueError("multitask.entropy_cost, vf_coefficient and max_grad_norm must be >= 0, got "
                       f"{self.entropy_cost}, {self.vf_coefficient}, {self.max_grad_norm}")

  # -- networks, loss, optimiser (brax) ------------------------------------------------------------

  @property
  def input_dim(self) -> int:
    return self.family.env.obs_dim + self.family.box.dim

  @property
  def networks(self) -> ppo_networks.PPONetworks:
    preprocess = (running_statistics.normalize if self.normalize_observations
                  else brax_types.identity_observation_preprocessor)
    return ppo_networks.make_ppo_networks(
        self.input_dim, self.family.env.action_dim, preprocess_observations_fn=preprocess,
        policy_hidden_layer_sizes=self.policy_hidden, value_hidden_layer_sizes=self.value_hidden)

  def optimizer(self, learning_rate: float) -> optax.GradientTransformation:
    adam = optax.adam(learning_rate)
    return optax.chain(optax.clip_by_global_norm(self.max_grad_norm), adam) if self.max_grad_norm > 0 else adam

  def update_fn(self, learning_rate: float):
    """brax's gradient step on the PPO loss: f(params, normalizer, data [B, T], key,
    optimizer_state=) -> ((loss, metrics), params, optimizer_state)."""
    loss = functools.partial(
        ppo_losses.compute_ppo_loss, ppo_network=self.networks, entropy_cost=self.entropy_cost,
        discounting=self.discounting, reward_scaling=self.reward_scaling, gae_lambda=self.gae_lambda,
        clipping_epsilon=self.clipping_epsilon, normalize_advantage=True, vf_coefficient=self.vf_coefficient)
    return gradients.gradient_update_fn(loss, self.optimizer(learning_rate), pmap_axis_name=None, has_aux=True)

  def conditioned(self, obs: jax.Array, psi: jax.Array) -> jax.Array:
    """obs [..., ds], psi [k] -> the policy's input [..., ds + k]."""
    w = jnp.broadcast_to(self.family.box.to_unit(psi), obs.shape[:-1] + (self.family.box.dim,))
    return jnp.concatenate([obs, w], axis=-1)

  def init(self, key: jax.Array) -> MultiTaskState:
    k_pi, k_v = jax.random.split(key)
    nets = self.networks
    params = ppo_losses.PPONetworkParams(nets.policy_network.init(k_pi), nets.value_network.init(k_v))
    normalizer = running_statistics.init_state(jax.ShapeDtypeStruct((self.input_dim,), jnp.float32))
    normalizer = normalizer.replace(std_eps=jnp.zeros((), jnp.float32))   # an array leaf, not a Python float
    return MultiTaskState(params, self.optimizer(self.learning_rate).init(params), normalizer)

  # -- data --------------------------------------------------------------------------------------

  def collect(self, state: MultiTaskState, psi: jax.Array, n: int, key: jax.Array):
    """n real episodes of task psi [k] with the sampling policy -> (brax Transition leaves [n, T, ...],
    alive mask [n, T], undiscounted returns [n])."""
    env = self.family.env
    policy = ppo_networks.make_inference_fn(self.networks)((state.normalizer, state.params.policy))

    def control(env_state, obs, carry, k):
      action, extras = policy(self.conditioned(obs, psi), k)   # extras: raw action, log-prob, logits
      return action, carry, extras

    def one(k):
      k_reset, k_roll = jax.random.split(k)
      ep = episode_scan(env.step, env.observe, control, env.reset(k_reset), jax.random.split(k_roll, env.horizon),
                        reward=lambda tr: self.family.reward(tr.c, tr.f, psi))
      return self.to_brax(ep.traj, ep.outs, ep.rewards, psi)

    data, alive = jax.vmap(one)(jax.random.split(key, n))
    return data, alive, jnp.sum(data.reward, axis=-1)

  def to_brax(self, traj, policy_extras: dict, rewards: jax.Array, psi: jax.Array):
    """One episode (our Transition leaves [T, ...], the policy's extras [T, ...], rewards [T], 0 after
    the terminating step) -> (brax Transition [T, ...], alive mask [T]); see the module docstring."""
    alive = alive_mask(traj.done)
    last = jnp.arange(traj.done.shape[-1]) == traj.done.shape[-1] - 1
    truncation = jnp.where(alive > 0, last * (1.0 - traj.done), 1.0)
    data = brax_types.Transition(
        observation=self.conditioned(traj.obs, psi), action=traj.action, reward=rewards,
        discount=1.0 - traj.done, next_observation=self.conditioned(traj.next_obs, psi),
        extras={"state_extras": {"truncation": truncation}, "policy_extras": policy_extras})
    return data, alive

  # -- the interface -----------------------------------------------------------------------------

  def train_step(self, state: MultiTaskState, psi: jax.Array, key: jax.Array):
    """One outer iteration on tasks psi [K, k]: K x episodes_per_task real episodes, the
    normaliser's update, then ``epochs`` x ``minibatches`` PPO steps -> (state, alive steps [] int32,
    metrics)."""
    chex.assert_shape(psi, (None, self.family.box.dim))
    k_collect, k_sgd = jax.random.split(key)
    n = self.episodes_per_task
    data, alive, returns = jax.vmap(self.collect, in_axes=(None, 0, None, 0))(
        state, psi, n, jax.random.split(k_collect, psi.shape[0]))
    flat = lambda x: x.reshape((-1,) + x.shape[2:])   # [K, n, ...] -> [K n, ...]
    data, alive = jax.tree.map(flat, data), flat(alive)
    normalizer = state.normalizer
    if self.normalize_observations:
      normalizer = running_statistics.update(normalizer, data.observation, weights=alive)
    update = self.update_fn(self.learning_rate)

    def minibatch(carry, batch):
      params, opt_state, k = carry
      k, k_loss = jax.random.split(k)
      (_, metrics), params, opt_state = update(params, normalizer, batch, k_loss, optimizer_state=opt_state)
      return (params, opt_state, k), {m: metrics[m] for m in _LOSS_METRICS}

    def epoch(carry, k):
      k_perm, k_grad = jax.random.split(k)
      order = jax.random.permutation(k_perm, alive.shape[0])   # one shuffle of the episodes for every leaf
      shuffled = jax.tree.map(lambda x: x[order].reshape((self.minibatches, -1) + x.shape[1:]), data)
      (params, opt_state, _), metrics = jax.lax.scan(minibatch, (*carry, k_grad), shuffled)
      return (params, opt_state), metrics

    (params, opt_state), metrics = jax.lax.scan(
        epoch, (state.params, state.optimizer_state), jax.random.split(k_sgd, self.epochs))
    metrics = {name: jnp.mean(v) for name, v in metrics.items()}
    metrics["episode_return"] = jnp.mean(returns)
    steps = jnp.sum(alive).astype(jnp.int32)
    return MultiTaskState(params, opt_state, normalizer), steps, metrics

  def finetune(self, state: MultiTaskState, psi: jax.Array, real_episodes: int, key: jax.Array):
    """``real_episodes`` (static) real episodes of task psi [k] with the conditioned policy, then
    ``finetune_updates`` full-batch PPO steps on them from a fresh adam state (normaliser kept) ->
    (policy-and-value parameters, the episodes: brax Transition leaves [real_episodes, T, ...])."""
    k_collect, k_sgd = jax.random.split(key)
    data, _, _ = self.collect(state, psi, real_episodes, k_collect)
    update = self.update_fn(self.finetune_learning_rate)
    opt_state = self.optimizer(self.finetune_learning_rate).init(state.params)

    def body(carry, k):
      params, opt_state = carry
      _, params, opt_state = update(params, state.normalizer, data, k, optimizer_state=opt_state)
      return (params, opt_state), None

    (params, _), _ = jax.lax.scan(body, (state.params, opt_state), jax.random.split(k_sgd, self.finetune_updates))
    return params, data

  def mean_policy(self, state: MultiTaskState, params: ppo_losses.PPONetworkParams, psi: jax.Array) -> ActFn:
    """(obs [ds], key) -> the tanh-Gaussian's mode [da] for task psi [k]."""
    policy = ppo_networks.make_inference_fn(self.networks)((state.normalizer, params.policy), deterministic=True)
    return lambda obs, key: policy(self.conditioned(obs, psi), key)[0]

  def adapted_policy(self, state: MultiTaskState, psi: jax.Array, real_episodes: int, key: jax.Array) -> ActFn:
    """Zero-shot (real_episodes == 0): the policy conditioned on psi [k]; otherwise fine-tuned on
    ``real_episodes`` real episodes of psi (``finetune``). Returns the mean-action policy."""
    chex.assert_shape(psi, (self.family.box.dim,))
    if real_episodes < 0:
      raise ValueError(f"real_episodes: must be >= 0, got {real_episodes}")
    params = state.params if real_episodes == 0 else self.finetune(state, psi, real_episodes, key)[0]
    return self.mean_policy(state, params, psi)
