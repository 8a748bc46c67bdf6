"""Task families: a box of task parameters psi and a reward built from stored features.

Every transition stores a psi-free reward part ``c`` and task features ``f``; the reward of
any task is recomputed from them (SPEC section 4), so rewards and their psi-derivatives never
need a re-simulation. psi is always a traced argument: a new task never recompiles anything.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

RewardFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def tracking_reward(weights: tuple[float, ...]) -> RewardFn:
  """r = c - sum_d w_d |f_d - psi_d|: the velocity / height tracking rewards of SPEC section 4.

  The weights become an array where the reward runs (a constant of the compiled program), so building
  a family, as validating a config does, is no jax work."""
  weights = tuple(float(w) for w in weights)

  def reward(c: jax.Array, f: jax.Array, psi: jax.Array) -> jax.Array:
    return c - jnp.sum(jnp.asarray(weights) * jnp.abs(f - psi), axis=-1)

  return reward


def linear_reward(c: jax.Array, f: jax.Array, psi: jax.Array) -> jax.Array:
  """r = c + psi . f: the linear reward of HalfCheetahLinear."""
  return c + jnp.sum(psi * f, axis=-1)


@dataclasses.dataclass(frozen=True)
class TaskBox:
  """An axis-aligned box [lo, hi] of task parameters, with unit coordinates w in [-1, 1]^k."""

  lo: tuple[float, ...]
  hi: tuple[float, ...]

  def __post_init__(self):
    if len(self.lo) != len(self.hi) or not self.lo:
      raise ValueError(f"task box: lo and hi need the same non-zero length, got {self.lo}, {self.hi}")
    if any(h <= l for l, h in zip(self.lo, self.hi)):
      raise ValueError(f"task box: need lo < hi in every dimension, got lo={self.lo} hi={self.hi}")

  @property
  def dim(self) -> int:
    return len(self.lo)

  def to_unit(self, psi: jax.Array) -> jax.Array:
    """psi [..., k] -> w [..., k], with the box mapped onto [-1, 1]^k."""
    lo, hi = jnp.asarray(self.lo), jnp.asarray(self.hi)
    return 2.0 * (psi - lo) / (hi - lo) - 1.0

  def from_unit(self, w: jax.Array) -> jax.Array:
    """w [..., k] -> psi [..., k]: psi = lo + (w + 1) / 2 (hi - lo)."""
    lo, hi = jnp.asarray(self.lo), jnp.asarray(self.hi)
    return lo + 0.5 * (w + 1.0) * (hi - lo)

  def project(self, psi: jax.Array) -> jax.Array:
    """Euclidean projection onto the box (a clip): psi [..., k] -> [..., k]."""
    return jnp.clip(psi, jnp.asarray(self.lo), jnp.asarray(self.hi))

  def sample_uniform(self, key: jax.Array, n: int) -> jax.Array:
    """n tasks uniform on the box: [n, k]."""
    return self.from_unit(jax.random.uniform(key, (n, self.dim), minval=-1.0, maxval=1.0))

  def sample_gaussian(self, key: jax.Array, n: int, std: float = 1.0) -> jax.Array:
    """The reference's MB-Gauss proposal: w ~ N(0, std^2 I) clipped to [-1, 1]^k; [n, k]."""
    w = jnp.clip(std * jax.random.normal(key, (n, self.dim)), -1.0, 1.0)
    return self.from_unit(w)

  def grid(self, points_per_dim) -> jax.Array:
    """A regular grid including the corners, last dimension fastest: [prod(points), k].

    points_per_dim: one count for every dimension, or a tuple of k counts (e.g. 5 x 5 x 3).
    """
    counts = (points_per_dim,) * self.dim if isinstance(points_per_dim, int) else tuple(points_per_dim)
    axes = [jnp.linspace(l, h, n) for l, h, n in zip(self.lo, self.hi, counts)]
    mesh = jnp.meshgrid(*axes, indexing="ij")
    return jnp.stack([m.reshape(-1) for m in mesh], axis=-1)

  def test_tasks(self, key: jax.Array, grid_points: int, grid_points_3d: tuple, random_tasks: int) -> jax.Array:
    """SPEC section 5's test set: a grid_points^2 grid in 2-D, a grid_points_3d grid in 3-D, and
    in higher dimensions random_tasks tasks, half uniform in the box and half on its corners
    (random sign vectors in unit coordinates): [G, k]."""
    if self.dim <= 2:
      return self.grid(grid_points)
    if self.dim == 3:
      return self.grid(grid_points_3d)
    k_u, k_c = jax.random.split(key)
    corners = self.from_unit(jnp.sign(jax.random.uniform(k_c, (random_tasks - random_tasks // 2, self.dim),
                                                         minval=-1.0, maxval=1.0)))
    return jnp.concatenate([self.sample_uniform(k_u, random_tasks // 2), corners])

  def widened(self, fraction: float) -> "TaskBox":
    """The out-of-distribution box: every side pushed out by ``fraction`` of the box's width."""
    pad = [fraction * (h - l) for l, h in zip(self.lo, self.hi)]
    return TaskBox(tuple(l - p for l, p in zip(self.lo, pad)), tuple(h + p for h, p in zip(self.hi, pad)))


@dataclasses.dataclass(frozen=True, eq=False)
class TaskFamily:
  """A task family: one environment (shared dynamics), a task box, and a reward of (c, f, psi).

  ``env`` provides pure functions (see ``admrl_jax.envs.base.Env``); ``reward(c, f, psi)``
  works on any leading batch shape. Hashable by identity so it can be closed over by jit.
  """

  name: str
  box: TaskBox
  reward: RewardFn
  env: "object"

  @property
  def task_dim(self) -> int:
    return self.box.dim
