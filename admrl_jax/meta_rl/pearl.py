"""PEARL (Rakelly et al., ICML 2019): SAC conditioned on a latent task variable z, with a probabilistic
context encoder q(z | c) inferred from real transitions of the task.

Model:
  q(z | c) = prod_n N(mu_n, diag sigma2_n): one Gaussian factor per context transition c_n = (s, a, r, s')
  (``product_of_gaussians``; as in PEARL there is no prior factor, and an empty context gives the prior
  N(0, I)). The encoder is trained through the critic's loss (z sampled by reparameterisation) plus
  ``kl_lambda`` KL(q(z | c) || N(0, I)); the actor and the critic's target see stop_gradient(z).
  SAC (Haarnoja et al. 2018, the v2 form: no separate V network, unlike PEARL's SAC v1): twin Q with
  Polyak-averaged targets, tanh-squashed Gaussian actor, learned temperature alpha driven to
  ``target_entropy``. The default target (0, above SAC's usual -da) and init_alpha = 1 keep exploration
  up: on PointMass2D a single transition only tells |v' - psi|_1, and with the usual target the policy
  settles on data from which the encoder learns that distance but not the direction of psi.

Per-task replay (tasks are continuous, so never revisited): a ring of ``task_slots`` slots, each holding
one past task's transitions with that task's reward r = family.reward(c, f, psi). A train_step writes
its K tasks into the next K slots (overwriting the oldest), each keeping the last ``slot_capacity`` alive
transitions of the task's episodes_per_task * T steps (compacted; ``count`` says how many). An update
draws ``meta_batch`` filled slots (with replacement), and from each slot a SAC batch of ``batch_size`` and,
independently, a context of ``context_size`` transitions (uniform, with replacement): the context and
the batch of a task come from the same slot.

Exploration (train_step) and adaptation (adapted_policy) collect a task's episodes the same way
(``collect``), one after another: episode 0 with z ~ N(0, I), episode e > 0 with z ~ q(z | the task's
episodes 0..e-1), z held fixed over an episode (PEARL's posterior sampling), actions sampled. The adapted
policy then acts with z = the final posterior's mean and the actor's mean action tanh(mean); with 0
real episodes it uses z = 0, the prior's mean.

The SAC losses are written here rather than taken from brax.training.agents.sac.losses: those are built
around brax's network / normaliser signatures and differentiate the critic loss with respect to the Q
parameters only, while PEARL differentiates the critic loss through z into the encoder as well.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from admrl_jax.networks import MLP
from admrl_jax.rollout import ActFn, rollout
from admrl_jax.tasks import TaskFamily
from admrl_jax.types import Transition, alive_mask

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
MIN_SIGMA2 = 1e-7   # the floor of a factor's variance (PEARL's clamp)


# ----------------------------------------------------------------------------------------------- networks

class ContextEncoder(nn.Module):
  """Context transitions [..., dc] -> one Gaussian factor each: (mean [..., L], variance [..., L])."""

  hidden: Sequence[int]
  latent_dim: int

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    out = MLP(self.hidden, 2 * self.latent_dim, "relu")(x)
    mean, pre = jnp.split(out, 2, axis=-1)
    return mean, jnp.maximum(jax.nn.softplus(pre), MIN_SIGMA2)


class TwinQ(nn.Module):
  """(obs [..., ds], action [..., da], z [..., L]) -> Q values [..., 2] of two independent critics
  (one MLP vmapped over two parameter sets)."""

  hidden: Sequence[int]

  @nn.compact
  def __call__(self, obs, action, z) -> jax.Array:
    x = jnp.concatenate([obs, action, z], axis=-1)
    twin = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None, axis_size=2)
    return jnp.moveaxis(twin(self.hidden, 1, "relu")(x)[..., 0], 0, -1)


class TanhGaussianActor(nn.Module):
  """(obs [..., ds], z [..., L]) -> (pre-tanh mean [..., da], log_std [..., da] in [-5, 2])."""

  hidden: Sequence[int]
  action_dim: int

  @nn.compact
  def __call__(self, obs, z) -> tuple[jax.Array, jax.Array]:
    out = MLP(self.hidden, 2 * self.action_dim, "relu")(jnp.concatenate([obs, z], axis=-1))
    mean, log_std = jnp.split(out, 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def tanh_gaussian_sample(mean: jax.Array, log_std: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array]:
  """A reparameterised sample a = tanh(u), u = mean + std eps, eps ~ N(0, I) [..., da]
  -> (a [..., da], log pi(a) [...])."""
  u = mean + jnp.exp(log_std) * eps
  log_prob_u = jnp.sum(-0.5 * eps**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
  # log |d tanh(u) / du| = log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|
  log_det = jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)
  return jnp.tanh(u), log_prob_u - log_det


# ------------------------------------------------------------------------------------ posterior algebra

def product_of_gaussians(mean: jax.Array, var: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The normalised product of the Gaussian factors where mask = 1.

  mean, var [N, L], mask [N] -> (mean [L], var [L]): precision = sum_n mask_n / var_n,
  mean = var_post * sum_n mask_n mean_n / var_n. With no factor (sum mask = 0): the prior N(0, I).
  """
  w = mask[:, None] / var
  precision = jnp.sum(w, axis=0)
  empty = jnp.sum(mask) <= 0
  post_var = jnp.where(empty, 1.0, 1.0 / jnp.where(empty, 1.0, precision))
  post_mean = jnp.where(empty, 0.0, post_var * jnp.sum(w * mean, axis=0))
  return post_mean, post_var


def kl_to_standard_normal(mean: jax.Array, var: jax.Array) -> jax.Array:
  """KL(N(mean, diag var) || N(0, I)), summed over the last axis."""
  return 0.5 * jnp.sum(var + mean**2 - 1.0 - jnp.log(var), axis=-1)


def context_features(obs, action, reward, next_obs) -> jax.Array:
  """One context transition (s [..., ds], a [..., da], r [...], s' [..., ds]) -> [..., 2 ds + da + 1]."""
  return jnp.concatenate([obs, action, reward[..., None], next_obs], axis=-1)


# -------------------------------------------------------------------------------------------------- state

@struct.dataclass
class TaskSlots:
  """The ring of per-task replay slots: S slots of N alive transitions each (N = slot_capacity), stored
  compacted at the front of the slot. Slots are written in ring order from 0, so the filled slots
  (count > 0) are always a prefix until the ring is full."""

  obs: jax.Array        # [S, N, ds]
  action: jax.Array     # [S, N, da]
  reward: jax.Array     # [S, N] the slot's task's reward (unscaled)
  next_obs: jax.Array   # [S, N, ds]
  done: jax.Array       # [S, N]
  count: jax.Array      # [S] int32 transitions stored in the slot (0: empty)
  psi: jax.Array        # [S, k] the slot's task
  cursor: jax.Array     # [] int32 the next slot to write (the oldest)


@struct.dataclass
class PEARLState:
  """The learner's parameters, optimiser states and replay."""

  actor: dict
  critic: dict
  target_critic: dict
  encoder: dict
  log_alpha: jax.Array   # []
  actor_opt: optax.OptState
  critic_opt: optax.OptState
  encoder_opt: optax.OptState
  alpha_opt: optax.OptState
  slots: TaskSlots


# ---------------------------------------------------------------------------------------------- learner

@dataclasses.dataclass(frozen=True)
class PEARL:
  """PEARL on a task family; implements ``meta_rl.base.MetaLearner``. See the module docstring."""

  family: TaskFamily
  tasks_per_iteration: int = 4            # K: tasks collected per train_step (and slots written)
  episodes_per_task: int = 2              # real episodes per task per train_step (the first from the prior)
  task_slots: int = 64                    # S: tasks kept in the replay ring
  slot_capacity: int = 100                # N: transitions kept per slot (the task's last N alive ones)
  latent_dim: int = 4                     # L: size of z
  hidden: tuple[int, ...] = (64, 64)      # actor and critic hidden layers (relu)
  encoder_hidden: tuple[int, ...] = (64, 64)  # context encoder hidden layers (relu)
  actor_lr: float = 3e-4
  critic_lr: float = 3e-4
  encoder_lr: float = 3e-4
  alpha_lr: float = 3e-4
  init_alpha: float = 1.0                 # initial entropy temperature
  target_entropy: float | None = 0.0      # the temperature's entropy target (None: -action_dim, SAC's default)
  gamma: float = 0.9                      # discount
  tau: float = 0.005                      # Polyak rate of the target critics
  kl_lambda: float = 0.03                 # weight of KL(q(z|c) || N(0, I)) in the encoder's loss
  batch_size: int = 64                    # B: SAC transitions per task in a meta-batch
  context_size: int = 64                  # C: context transitions per task in a meta-batch
  meta_batch: int = 8                     # M: tasks (slots) per gradient step
  gradient_steps: int = 64                # SAC + encoder updates per train_step
  reward_scale: float = 1.0               # multiplies rewards in the critic's target (not in the context)

  def __post_init__(self):
    for name in ("hidden", "encoder_hidden"):   # a config may give lists; keep the dataclass hashable
      object.__setattr__(self, name, tuple(int(w) for w in getattr(self, name)))
    for name in ("tasks_per_iteration", "episodes_per_task", "task_slots", "slot_capacity", "latent_dim",
                 "batch_size", "context_size", "meta_batch", "gradient_steps"):
      if getattr(self, name) < 1:
        raise ValueError(f"pearl.{name}: need >= 1, got {getattr(self, name)}")
    if self.task_slots < self.tasks_per_iteration:
      raise ValueError(f"pearl.task_slots: need >= tasks_per_iteration ({self.tasks_per_iteration}), got {self.task_slots}")
    if not 0.0 <= self.gamma < 1.0:
      raise ValueError(f"pearl.gamma: need 0 <= gamma < 1, got {self.gamma}")
    if not 0.0 < self.tau <= 1.0:
      raise ValueError(f"pearl.tau: need 0 < tau <= 1, got {self.tau}")
    for name in ("actor_lr", "critic_lr", "encoder_lr", "alpha_lr", "init_alpha", "reward_scale"):
      if getattr(self, name) <= 0:
        raise ValueError(f"pearl.{name}: need > 0, got {getattr(self, name)}")
    if self.kl_lambda < 0:
      raise ValueError(f"pearl.kl_lambda: need >= 0, got {self.kl_lambda}")

  # networks ------------------------------------------------------------------------------------------
  @property
  def actor_net(self) -> TanhGaussianActor:
    return TanhGaussianActor(tuple(self.hidden), self.family.env.action_dim)

  @property
  def critic_net(self) -> TwinQ:
    return TwinQ(tuple(self.hidden))

  @property
  def encoder_net(self) -> ContextEncoder:
    return ContextEncoder(tuple(self.encoder_hidden), self.latent_dim)

  @property
  def context_dim(self) -> int:
    env = self.family.env
    return 2 * env.obs_dim + env.action_dim + 1

  def init(self, key: jax.Array) -> PEARLState:
    """Fresh networks, optimisers (Adam) and an empty slot ring."""
    env = self.family.env
    ds, da, L = env.obs_dim, env.action_dim, self.latent_dim
    k_a, k_c, k_e = jax.random.split(key, 3)
    obs, act, z = jnp.zeros(ds), jnp.zeros(da), jnp.zeros(L)
    actor = self.actor_net.init(k_a, obs, z)
    critic = self.critic_net.init(k_c, obs, act, z)
    encoder = self.encoder_net.init(k_e, jnp.zeros(self.context_dim))
    log_alpha = jnp.log(jnp.asarray(self.init_alpha, jnp.float32))
    S, N = self.task_slots, self.slot_capacity
    slots = TaskSlots(jnp.zeros((S, N, ds)), jnp.zeros((S, N, da)), jnp.zeros((S, N)), jnp.zeros((S, N, ds)),
                      jnp.zeros((S, N)), jnp.zeros((S,), jnp.int32), jnp.zeros((S, self.family.box.dim)),
                      jnp.zeros((), jnp.int32))
    return PEARLState(actor, critic, jax.tree.map(jnp.copy, critic), encoder, log_alpha,
                      optax.adam(self.actor_lr).init(actor), optax.adam(self.critic_lr).init(critic),
                      optax.adam(self.encoder_lr).init(encoder), optax.adam(self.alpha_lr).init(log_alpha), slots)

  # inference -----------------------------------------------------------------------------------------
  def posterior(self, encoder: dict, context: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """q(z | c): context [N, dc], mask [N] -> (mean [L], var [L]) (the prior where mask is all 0)."""
    mean, var = self.encoder_net.apply(encoder, context)
    return product_of_gaussians(mean, var, mask)

  def act_fn(self, actor: dict, z: jax.Array, deterministic: bool) -> ActFn:
    """The z-conditioned policy: (obs [ds], key) -> action [da] (tanh of the mean if deterministic)."""

    def act(obs, key):
      mean, log_std = self.actor_net.apply(actor, obs, z)
      if deterministic:
        return jnp.tanh(mean)
      return tanh_gaussian_sample(mean, log_std, jax.random.normal(key, mean.shape))[0]

    return act

  def collect(self, state: PEARLState, psi: jax.Array, key: jax.Array, n_episodes: int):
    """``n_episodes`` (static) real episodes of task psi [k], one after another, stochastic actions:
    episode 0 with z ~ N(0, I), episode e with z ~ q(z | episodes 0..e-1), z fixed over an episode.

    -> (traj: Transition leaves [n, T, ...], rewards [n, T], context [n T, dc], mask [n T] (alive)).
    """
    env = self.family.env
    T = env.horizon

    def episode(carry, inp):
      context, mask = carry
      e, k = inp
      k_z, k_reset, k_roll = jax.random.split(k, 3)
      mean, var = self.posterior(state.encoder, context, mask)
      z = mean + jnp.sqrt(var) * jax.random.normal(k_z, mean.shape)
      traj = rollout(env.step, env.observe, self.act_fn(state.actor, z, False), env.reset(k_reset), k_roll, T)
      rewards = self.family.reward(traj.c, traj.f, psi)
      feats = context_features(traj.obs, traj.action, rewards, traj.next_obs)
      context = jax.lax.dynamic_update_slice(context, feats, (e * T, 0))
      mask = jax.lax.dynamic_update_slice(mask, alive_mask(traj.done), (e * T,))
      return (context, mask), (traj, rewards)

    carry0 = (jnp.zeros((n_episodes * T, self.context_dim)), jnp.zeros(n_episodes * T))
    (context, mask), (traj, rewards) = jax.lax.scan(
        episode, carry0, (jnp.arange(n_episodes), jax.random.split(key, n_episodes)))
    return traj, rewards, context, mask

  def adapted_policy(self, state: PEARLState, psi: jax.Array, real_episodes: int, key: jax.Array) -> ActFn:
    """The deterministic policy for task psi [k] after ``real_episodes`` (static) real episodes collected
    with posterior sampling (``collect``), acting with z = the final posterior's mean and the mean
    action tanh(mean); 0 episodes: z = 0, the prior's mean."""
    if real_episodes == 0:
      z = jnp.zeros(self.latent_dim)
    else:
      _, _, context, mask = self.collect(state, psi, key, real_episodes)
      z, _ = self.posterior(state.encoder, context, mask)
    return self.act_fn(state.actor, z, deterministic=True)

  # replay --------------------------------------------------------------------------------------------
  def write_slots(self, slots: TaskSlots, traj: Transition, rewards: jax.Array, psi: jax.Array) -> TaskSlots:
    """Write K tasks' episodes (traj leaves [K, E, T, ...], rewards [K, E, T], psi [K, k]) into the K
    oldest slots, each keeping the task's last N alive transitions, compacted to the slot's front."""
    K, N = psi.shape[0], self.slot_capacity
    flat = lambda x: x.reshape((K, -1) + x.shape[3:])
    fields = dict(obs=flat(traj.obs), action=flat(traj.action), reward=flat(rewards),
                  next_obs=flat(traj.next_obs), done=flat(traj.done))
    alive = flat(alive_mask(traj.done))                                               # [K, E T]
    n_alive = jnp.sum(alive, axis=1).astype(jnp.int32)
    # alive transitions first (in time order), then the last N of them
    order = jnp.argsort(1.0 - alive, axis=1, stable=True)
    positions = jnp.arange(N)[None] + jnp.maximum(n_alive - N, 0)[:, None]            # [K, N]
    rows = jnp.take_along_axis(order, jnp.minimum(positions, order.shape[1] - 1), axis=1)
    keep = positions < n_alive[:, None]

    def select(x):
      picked = jax.vmap(lambda xi, ri: xi[ri])(x, rows)
      return jnp.where(keep.reshape(keep.shape + (1,) * (x.ndim - 2)), picked, 0.0)

    idx = (slots.cursor + jnp.arange(K)) % self.task_slots
    updates = {name: getattr(slots, name).at[idx].set(select(x)) for name, x in fields.items()}
    return slots.replace(**updates, count=slots.count.at[idx].set(jnp.minimum(n_alive, N)),
                         psi=slots.psi.at[idx].set(psi), cursor=(slots.cursor + K) % self.task_slots)

  def sample_meta_batch(self, slots: TaskSlots, u: jax.Array):
    """u [M, 1 + B + C] uniform numbers -> meta_batch filled slots (with replacement) and from each a
    SAC batch (dict of leaves [M, B, ...]) and a context [M, C, dc] (with replacement)."""
    B = self.batch_size
    n_filled = jnp.sum(slots.count > 0)
    slot = jnp.minimum((u[:, 0] * n_filled).astype(jnp.int32), n_filled - 1)          # [M]
    count = slots.count[slot][:, None]
    index = jnp.minimum((u[:, 1:] * count).astype(jnp.int32), count - 1)              # [M, B + C]
    take = lambda x: x[slot[:, None], index]
    obs, action, reward, next_obs, done = map(take, (slots.obs, slots.action, slots.reward, slots.next_obs,
                                                       slots.done))
    batch = dict(obs=obs[:, :B], action=action[:, :B], reward=reward[:, :B], next_obs=next_obs[:, :B],
                 done=done[:, :B])
    context = context_features(obs[:, B:], action[:, B:], reward[:, B:], next_obs[:, B:])
    return batch, context

  # losses --------------------------------------------------------------------------------------------
  def critic_loss(self, critic: dict, encoder: dict, state: PEARLState, batch: dict, context: jax.Array,
                  eps_z: jax.Array, eps_next: jax.Array):
    """Twin-Q soft Bellman error + kl_lambda KL(q(z|c) || N(0, I)), differentiated into the critic and
    the encoder. batch leaves [M, B, ...], context [M, C, dc], noises eps_z [M, L], eps_next [M, B, da]
    -> (loss, (stop_gradient(z) [M, B, L], q_loss, kl, posterior std))."""
    mean, var = jax.vmap(lambda ctx: self.posterior(encoder, ctx, jnp.ones(ctx.shape[0])))(context)
    z = mean + jnp.sqrt(var) * eps_z                                                   # [M, L]
    z_b = jnp.broadcast_to(z[:, None], batch["obs"].shape[:2] + z.shape[1:])
    z_sg = jax.lax.stop_gradient(z_b)
    next_mean, next_log_std = self.actor_net.apply(state.actor, batch["next_obs"], z_sg)
    next_action, next_logp = tanh_gaussian_sample(next_mean, next_log_std, eps_next)
    next_q = jnp.min(self.critic_net.apply(state.target_critic, batch["next_obs"], next_action, z_sg), axis=-1)
    alpha = jnp.exp(state.log_alpha)
    target = self.reward_scale * batch["reward"] + self.gamma * (1.0 - batch["done"]) * (next_q - alpha * next_logp)
    q = self.critic_net.apply(critic, batch["obs"], batch["action"], z_b)            # [M, B, 2]
    q_loss = jnp.mean(jnp.sum((q - jax.lax.stop_gradient(target)[..., None]) ** 2, axis=-1))
    kl = jnp.mean(kl_to_standard_normal(mean, var))
    return q_loss + self.kl_lambda * kl, (z_sg, q_loss, kl, jnp.mean(jnp.sqrt(var)))

  def actor_loss(self, actor: dict, critic: dict, log_alpha: jax.Array, batch: dict, z: jax.Array, eps: jax.Array):
    """E[alpha log pi(a|s,z) - min_i Q_i(s, a, z)], z [M, B, L] stopped, eps [M, B, da] -> (loss, log pi [M, B])."""
    mean, log_std = self.actor_net.apply(actor, batch["obs"], z)
    action, logp = tanh_gaussian_sample(mean, log_std, eps)
    q = jnp.min(self.critic_net.apply(critic, batch["obs"], action, z), axis=-1)
    return jnp.mean(jnp.exp(log_alpha) * logp - q), logp

  def update(self, state: PEARLState, key: jax.Array):
    """One critic + encoder, actor, temperature and target update on a meta-batch -> (state, metrics).

    All of an update's randomness comes from one uniform and one normal draw (compile time on CPU)."""
    M, B, C, L = self.meta_batch, self.batch_size, self.context_size, self.latent_dim
    da = self.family.env.action_dim
    k_u, k_eps = jax.random.split(key)
    batch, context = self.sample_meta_batch(state.slots, jax.random.uniform(k_u, (M, 1 + B + C)))
    eps = jax.random.normal(k_eps, (M, L + 2 * B * da))
    eps_z, eps_next, eps_pi = eps[:, :L], eps[:, L:L + B * da], eps[:, L + B * da:]
    eps_next, eps_pi = eps_next.reshape(M, B, da), eps_pi.reshape(M, B, da)

    grads, (z, q_loss, kl, z_std) = jax.grad(self.critic_loss, argnums=(0, 1), has_aux=True)(
        state.critic, state.encoder, state, batch, context, eps_z, eps_next)
    upd, critic_opt = optax.adam(self.critic_lr).update(grads[0], state.critic_opt)
    critic = optax.apply_updates(state.critic, upd)
    upd, encoder_opt = optax.adam(self.encoder_lr).update(grads[1], state.encoder_opt)
    encoder = optax.apply_updates(state.encoder, upd)

    (policy_loss, logp), g_actor = jax.value_and_grad(self.actor_loss, has_aux=True)(
        state.actor, critic, state.log_alpha, batch, z, eps_pi)
    upd, actor_opt = optax.adam(self.actor_lr).update(g_actor, state.actor_opt)
    actor = optax.apply_updates(state.actor, upd)

    # temperature loss -log_alpha E[log pi + target entropy]: alpha grows while the policy's entropy is
    # below the target
    target_entropy = -float(da) if self.target_entropy is None else self.target_entropy
    alpha_grad = -target_entropy - jnp.mean(jax.lax.stop_gradient(logp))
    upd, alpha_opt = optax.adam(self.alpha_lr).update(alpha_grad, state.alpha_opt)
    log_alpha = optax.apply_updates(state.log_alpha, upd)

    target = jax.tree.map(lambda t, p: (1.0 - self.tau) * t + self.tau * p, state.target_critic, critic)
    state = state.replace(actor=actor, critic=critic, target_critic=target, encoder=encoder, log_alpha=log_alpha,
                          actor_opt=actor_opt, critic_opt=critic_opt, encoder_opt=encoder_opt, alpha_opt=alpha_opt)
    return state, {"q_loss": q_loss, "policy_loss": policy_loss, "kl": kl, "alpha": jnp.exp(log_alpha),
                   "entropy": -jnp.mean(logp), "z_std": z_std}

  def train_step(self, state: PEARLState, psi: jax.Array, key: jax.Array):
    """Collect episodes_per_task episodes of each task psi [K, k] (``collect``), write them to K slots,
    then gradient_steps updates -> (state, alive real steps [] int32, metrics: the updates' means, and
    episode_return (all collected episodes) and episode_return_posterior (each task's last episode))."""
    k_collect, k_update = jax.random.split(key)
    K = psi.shape[0]
    traj, rewards, _, _ = jax.vmap(self.collect, in_axes=(None, 0, 0, None))(
        state, psi, jax.random.split(k_collect, K), self.episodes_per_task)
    alive = alive_mask(traj.done)                                                    # [K, E, T]
    returns = jnp.sum(rewards * alive, axis=-1)                                      # [K, E]
    state = state.replace(slots=self.write_slots(state.slots, traj, rewards, psi))
    state, metrics = jax.lax.scan(self.update, state, jax.random.split(k_update, self.gradient_steps))
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics.update(episode_return=jnp.mean(returns), episode_return_posterior=jnp.mean(returns[:, -1]))
    return state, jnp.sum(alive).astype(jnp.int32), metrics
