"""A fixed-capacity buffer of whole trajectories, as a pytree (ring overwrite when full).

Storing trajectories (not shuffled transitions) keeps consecutive steps together, so a
multi-step model loss sees true successors (the reference interleaved parallel envs).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from admrl_jax.types import Transition, alive_mask


@struct.dataclass
class TrajectoryBuffer:
  """data: Transition with leaves [capacity, T, ...]; size: filled trajectories; ptr: next slot."""

  data: Transition
  size: jax.Array
  ptr: jax.Array

  @property
  def capacity(self) -> int:
    return self.data.c.shape[0]


def init_buffer(capacity: int, horizon: int, obs_dim: int, action_dim: int, feature_dim: int) -> TrajectoryBuffer:
  z = lambda *shape: jnp.zeros((capacity, horizon) + shape)  # the default float (x64 too)
  data = Transition(z(obs_dim), z(action_dim), z(obs_dim), z(), z(feature_dim), z())
  return TrajectoryBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(buffer: TrajectoryBuffer, batch: Transition) -> TrajectoryBuffer:
  """Append a batch of trajectories (leaves [B, T, ...]); overwrites the oldest when full."""
  n = batch.c.shape[0]
  idx = (buffer.ptr + jnp.arange(n)) % buffer.capacity
  data = jax.tree.map(lambda d, b: d.at[idx].set(b.astype(d.dtype)), buffer.data, batch)
  return TrajectoryBuffer(data, jnp.minimum(buffer.size + n, buffer.capacity),
                          (buffer.ptr + n) % buffer.capacity)


def sample_windows(buffer: TrajectoryBuffer, key: jax.Array, batch_size: int, length: int):
  """Windows of ``length`` consecutive steps from filled trajectories -> (window, mask).

  window: Transition leaves [batch_size, length, ...]; mask [batch_size, length]: 1 on steps up to
  and including their episode's termination, 0 after it. Every window starts on such a step (a
  step after a termination repeats the frozen terminal observation, and a model that learned from
  it would learn that nothing moves near a fall); it may run past the termination, masked there.
  """
  horizon = buffer.data.c.shape[1]
  k_traj, k_start = jax.random.split(key)
  traj = jax.random.randint(k_traj, (batch_size,), 0, jnp.maximum(buffer.size, 1))
  alive = alive_mask(buffer.data.done)                                   # [capacity, T]
  n_starts = jnp.minimum(jnp.sum(alive[traj], axis=-1), horizon - length + 1)
  start = jax.random.randint(k_start, (batch_size,), 0, jnp.maximum(n_starts, 1).astype(jnp.int32))
  steps = start[:, None] + jnp.arange(length)[None, :]
  window = jax.tree.map(lambda d: d[traj[:, None], steps], buffer.data)
  return window, alive[traj[:, None], steps]
