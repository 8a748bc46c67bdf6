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


@struct.dataclass
class FocusedBuffer:
  """A buffer with a focus: ``share`` of every sampled batch of windows comes from ``focus`` (one test
  task's own episodes, at least one), the rest from ``base`` (the training data). A per-task refit on
  base + focus as one buffer would draw the task's few episodes at their share of all trajectories
  (40 of about 1700 on PointMass2D's study, 2 %), and barely move the model where that task goes."""

  base: TrajectoryBuffer
  focus: TrajectoryBuffer
  share: float = struct.field(pytree_node=False)


def sample_windows(buffer: TrajectoryBuffer | FocusedBuffer, key: jax.Array, batch_size: int, length: int):
  """Windows of ``length`` consecutive steps from filled trajectories -> (window, mask).

  window: Transition leaves [batch_size, length, ...]; mask [batch_size, length]: 1 on steps up to
  and including their episode's termination, 0 after it. Every window starts on such a step (a
  step after a termination repeats the frozen terminal observation, and a model that learned from
  it would learn that nothing moves near a fall); it may run past the termination, masked there.
  A ``FocusedBuffer`` gives its base's windows first, then round(share * batch_size) of its focus's.
  """
  if isinstance(buffer, FocusedBuffer):
    n_focus = round(buffer.share * batch_size)
    k_base, k_focus = jax.random.split(key)
    parts = [sample_windows(b, k, n, length) for b, k, n in ((buffer.base, k_base, batch_size - n_focus),
                                                            (buffer.focus, k_focus, n_focus)) if n > 0]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
  horizon = buffer.data.c.shape[1]
  k_traj, k_start = jax.random.split(key)
  traj = jax.random.randint(k_traj, (batch_size,), 0, jnp.maximum(buffer.size, 1))
  alive = alive_mask(buffer.data.done)                                   # [capacity, T]
  n_starts = jnp.minimum(jnp.sum(alive[traj], axis=-1), horizon - length + 1)
  start = jax.random.randint(k_start, (batch_size,), 0, jnp.maximum(n_starts, 1).astype(jnp.int32))
  steps = start[:, None] + jnp.arange(length)[None, :]
  window = jax.tree.map(lambda d: d[traj[:, None], steps], buffer.data)
  return window, alive[traj[:, None], steps]
