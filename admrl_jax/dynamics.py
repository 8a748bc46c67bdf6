"""The learned dynamics model: running normalisers, prediction, multi-step loss, optax fitting.

The model predicts the normalised state difference (s' - s - mu_delta) / sigma_delta from the
normalised state and the action, as in SLBO. Its rollouts reuse the environment's ``features``
and ``terminated`` on predicted states, so model-side rewards match real-side rewards.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from admrl_jax import replay, sharding
from admrl_jax.networks import DynamicsNet
from admrl_jax.types import Transition, alive_mask


DELTA_CLIP = 20.0  # predicted state differences are clipped at this many standard deviations


@struct.dataclass
class RunningStats:
  """Mean and variance of everything seen so far (Chan et al. parallel merge): leaves [d]."""

  count: jax.Array
  mean: jax.Array
  m2: jax.Array

  @classmethod
  def zeros(cls, dim: int) -> "RunningStats":
    return cls(jnp.zeros(()), jnp.zeros(dim), jnp.zeros(dim))

  @property
  def std(self) -> jax.Array:
    return jnp.sqrt(self.m2 / jnp.maximum(self.count, 1.0) + 1e-6)

  def update(self, x: jax.Array, weight: jax.Array) -> "RunningStats":
    """Merge samples x [n, d] with weights [n] in {0, 1} (masked steps are ignored)."""
    n_b = jnp.sum(weight)
    mean_b = jnp.sum(weight[:, None] * x, 0) / jnp.maximum(n_b, 1.0)
    m2_b = jnp.sum(weight[:, None] * (x - mean_b) ** 2, 0)
    n = self.count + n_b
    delta = mean_b - self.mean
    mean = self.mean + delta * n_b / jnp.maximum(n, 1.0)
    m2 = self.m2 + m2_b + delta**2 * self.count * n_b / jnp.maximum(n, 1.0)
    return RunningStats(n, mean, m2)


@struct.dataclass
class Normalisers:
  obs: RunningStats
  delta: RunningStats


@struct.dataclass
class ModelState:
  """Parameters, optimiser state and normalisers of the dynamics model."""

  params: dict
  opt_state: optax.OptState
  norms: Normalisers


@dataclasses.dataclass(frozen=True)
class DynamicsModel:
  """Static description of the model: network shape, optimiser and loss horizon."""

  obs_dim: int
  action_dim: int
  hidden: tuple[int, ...] = (256, 256)
  learning_rate: float = 1e-3
  weight_decay: float = 1e-5
  grad_clip: float = 2.0
  batch_size: int = 256
  loss_horizon: int = 1
  batch_sharding: jax.sharding.Sharding | None = None  # fit windows split over devices (data parallel)

  @property
  def net(self) -> DynamicsNet:
    return DynamicsNet(self.hidden, self.obs_dim)

  @property
  def optimizer(self) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(self.grad_clip),
                       optax.adamw(self.learning_rate, weight_decay=self.weight_decay))

  def init(self, key: jax.Array) -> ModelState:
    params = self.net.init(key, jnp.zeros(self.obs_dim), jnp.zeros(self.action_dim))
    norms = Normalisers(RunningStats.zeros(self.obs_dim), RunningStats.zeros(self.obs_dim))
    return ModelState(params, self.optimizer.init(params), norms)

  def predict(self, params, norms: Normalisers, obs: jax.Array, action: jax.Array) -> jax.Array:
    """obs [..., ds], action [..., da] -> predicted next obs [..., ds]."""
    delta_n = self.net.apply(params, (obs - norms.obs.mean) / norms.obs.std, action)
    delta_n = jnp.clip(delta_n, -DELTA_CLIP, DELTA_CLIP)   # no step beyond DELTA_CLIP stds of the data
    return obs + delta_n * norms.delta.std + norms.delta.mean

  def update_normalisers(self, state: ModelState, batch: Transition) -> ModelState:
    """Fold a batch of trajectories (leaves [B, T, ...]) into the running normalisers."""
    mask = alive_mask(batch.done).reshape(-1)
    obs = batch.obs.reshape(-1, self.obs_dim)
    delta = (batch.next_obs - batch.obs).reshape(-1, self.obs_dim)
    norms = Normalisers(state.norms.obs.update(obs, mask), state.norms.delta.update(delta, mask))
    return state.replace(norms=norms)

  def loss(self, params, norms: Normalisers, window: Transition, mask: jax.Array) -> jax.Array:
    """Mean over the unmasked steps of windows [B, H] of the L2 norm of the normalised prediction
    error, rolled H steps; mask [B, H] (``replay.sample_windows``) is 0 after a termination.

    H = 1 is SLBO's one-step loss; H > 1 feeds the model its own predictions (a multi-step loss
    computed per trajectory).
    """

    def one_window(w: Transition, m: jax.Array) -> jax.Array:
      def step(obs, t):
        pred = self.predict(params, norms, obs, w.action[t])
        target = jnp.where(m[t] > 0, w.next_obs[t] - w.obs[t], pred - obs)  # masked: no error, no NaN
        err = ((pred - obs) - target) / norms.delta.std
        return pred, jnp.sqrt(jnp.sum(err**2) + 1e-12)

      _, errs = jax.lax.scan(step, w.obs[0], jnp.arange(w.c.shape[0]))
      return errs

    errs = jax.vmap(one_window)(window, mask)
    return jnp.sum(errs * mask) / jnp.maximum(jnp.sum(mask), 1.0)

  def fit(self, state: ModelState, buffer: replay.TrajectoryBuffer, key: jax.Array, n_steps: int):
    """``n_steps`` Adam steps on windows sampled from the buffer -> (state, mean loss)."""

    def step(carry, k):
      params, opt_state = carry
      window = replay.sample_windows(buffer, k, self.batch_size, self.loss_horizon)
      window = sharding.constrain(self.batch_sharding, window)  # each device a slice; grads all-reduce
      loss, grads = jax.value_and_grad(self.loss)(params, state.norms, *window)
      updates, opt_state = self.optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(step, (state.params, state.opt_state),
                                               jax.random.split(key, n_steps))
    return state.replace(params=params, opt_state=opt_state), jnp.mean(losses)
