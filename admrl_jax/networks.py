"""Flax modules: Gaussian policy, value function, dynamics model; and diagonal-Gaussian algebra."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
  """Fully connected network: [..., d_in] -> [..., out_dim]."""

  hidden: Sequence[int]
  out_dim: int
  activation: str = "tanh"
  out_scale: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    act = getattr(nn, self.activation)
    for width in self.hidden:
      x = act(nn.Dense(width)(x))
    return nn.Dense(self.out_dim, kernel_init=nn.initializers.variance_scaling(
        self.out_scale, "fan_avg", "uniform"))(x)


class GaussianPolicy(nn.Module):
  """obs [..., ds] -> (mean [..., da], log_std [da]); the log-std is state-independent."""

  hidden: Sequence[int]
  action_dim: int
  init_log_std: float = 0.0

  @nn.compact
  def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean = MLP(self.hidden, self.action_dim, "tanh", out_scale=0.01)(obs)
    log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
    return mean, log_std


class ValueNet(nn.Module):
  """obs [..., ds] -> value [...]."""

  hidden: Sequence[int]

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    return MLP(self.hidden, 1, "tanh")(obs)[..., 0]


class DynamicsNet(nn.Module):
  """(normalised obs [..., ds], action [..., da]) -> normalised state difference [..., ds]."""

  hidden: Sequence[int]
  obs_dim: int

  @nn.compact
  def __call__(self, obs_n: jax.Array, action: jax.Array) -> jax.Array:
    x = jnp.concatenate([obs_n, jnp.clip(action, -1.0, 1.0)], axis=-1)
    return MLP(self.hidden, self.obs_dim, "relu")(x)


def gaussian_act_fn(policy_net: GaussianPolicy, params, deterministic: bool = False):
  """An (obs [ds], key) -> action [da] function of a Gaussian policy: a sample, or the mean."""

  def act(obs, key):
    mean, log_std = policy_net.apply(params, obs)
    if deterministic:
      return mean
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

  return act


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
  """Diagonal Gaussian log-density, summed over the last axis."""
  z = (x - mean) * jnp.exp(-log_std)
  return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi), axis=-1)


def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q) -> jax.Array:
  """KL(p || q) between diagonal Gaussians, summed over the last axis."""
  var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
  return jnp.sum(log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
  return jnp.sum(log_std + 0.5 * jnp.log(2.0 * jnp.pi * jnp.e), axis=-1)
