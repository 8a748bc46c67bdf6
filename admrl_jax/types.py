"""Pytrees shared by environments, models, rollouts and the replay buffer."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transition:
  """One step (or a stack of steps, leading axes [..., T]) of real or virtual experience.

  obs [ds], action [da] (as sampled, before clipping), next_obs [ds], c [] (psi-free reward
  part), f [k] (task features), done [] (1.0 where the episode terminated at this step).
  """

  obs: jax.Array
  action: jax.Array
  next_obs: jax.Array
  c: jax.Array
  f: jax.Array
  done: jax.Array


def alive_mask(done: jax.Array) -> jax.Array:
  """done [..., T] -> mask [..., T]: 1 up to and including the terminating step, 0 after it."""
  before = jnp.cumsum(done, axis=-1) - done
  return (before < 0.5).astype(done.dtype)
