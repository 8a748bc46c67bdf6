"""The paper's task families on Brax environments (SPEC section 4), behind the same Env interface.

A Brax env is wrapped as pure functions: ``reset(key) -> brax State``, ``observe(state) -> obs``,
``step(state, a) -> (state, Transition)``. The psi-free reward part c and the task features f are
functions of (obs, action, next_obs) only, so the learned model's rollouts compute them from
predicted observations with the very same code. The observations exclude the torso's x (and y)
position (Brax's default), so the velocity features are the torso's generalised velocities qd in
the next observation and the height the torso's world z (see ``_layout``).
Termination follows the SPEC's table (not Brax's own health rules) and is also a function of the
next observation; steps after it are masked, never reset inside an episode.

Backend, frame skip and horizon per family are chosen by measurement
(``experiments/measure_backends.py``; numbers in ``docs/results.md``) and stated below.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp

from admrl_jax.tasks import TaskBox, TaskFamily, linear_reward, tracking_reward
from admrl_jax.types import Transition

BRAX_BACKENDS = ("positional", "generalized", "spring", "mjx")


def stdout_to_stderr():
  """A context in which printing goes to stderr: import brax inside it. Brax imports mujoco.mjx, which
  prints "Failed to import warp: ..." to stdout where its optional warp backend is absent (this
  project's CPU install), and the command lines' stdout is what goes into docs/ as tables."""
  return contextlib.redirect_stdout(sys.stderr)


@dataclasses.dataclass(frozen=True, eq=False)
class BraxTaskEnv:
  """A Brax environment with SPEC features: c, f = features(obs, a, next_obs); done = terminated(next_obs)."""

  brax_env: Any
  feature_fn: Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
  terminated_fn: Callable[[jax.Array], jax.Array]
  feature_dim: int
  horizon: int
  backend: str
  height_offset: float = 0.0   # torso height = obs[0] + height_offset
  feature_tag: str = ""        # what else fixes feature_fn (e.g. a hash of standardisation statistics)

  def __repr__(self) -> str:
    """Stable across processes (no object addresses): it keys the V* oracle's on-disk cache."""
    return (f"BraxTaskEnv(env={type(self.brax_env).__name__}, backend={self.backend!r}, dt={self.dt!r}, "
            f"horizon={self.horizon}, obs_dim={self.obs_dim}, action_dim={self.action_dim}, "
            f"feature_dim={self.feature_dim}, height_offset={self.height_offset!r}, "
            f"feature_tag={self.feature_tag!r})")

  @functools.cached_property
  def obs_dim(self) -> int:
    """Brax computes it by an eager reset on every read (about 90 s on a fresh MJX process): read once."""
    return self.brax_env.observation_size

  @property
  def action_dim(self) -> int:
    return self.brax_env.action_size

  @property
  def dt(self) -> float:
    return float(self.brax_env.dt)

  def reset(self, key: jax.Array):
    return self.brax_env.reset(key)

  def observe(self, state) -> jax.Array:
    return state.obs

  def features(self, obs, action, next_obs):
    return self.feature_fn(obs, action, next_obs)

  def terminated(self, next_obs: jax.Array) -> jax.Array:
    bad = self.terminated_fn(next_obs) | ~jnp.all(jnp.isfinite(next_obs))
    return bad.astype(next_obs.dtype)

  def step(self, state, action: jax.Array):
    next_state = self.brax_env.step(state, jnp.clip(action, -1.0, 1.0))
    c, f = self.features(state.obs, action, next_state.obs)
    return next_state, Transition(state.obs, action, next_state.obs, c, f, self.terminated(next_state.obs))


def _brax_env(name: str, backend: str, n_frames: int | None):
  with stdout_to_stderr():
    from brax import envs  # imported lazily: importing brax takes seconds
  if backend not in BRAX_BACKENDS:
    raise ValueError(f"backend: unknown value {backend!r}; allowed: {list(BRAX_BACKENDS)}")
  kwargs = {} if n_frames is None else {"n_frames": n_frames}
  return envs.get_environment(name, backend=backend, **kwargs)


def _layout(env, planar: bool, slide_z: bool = False):
  """Where the features sit in Brax's observation: the torso's pitch angle and velocities (indices),
  and its world height as a function of the observation. obs[0] is the world height for Brax's
  hopper, walker2d (which write x.pos there), ant and humanoid (free joints); for halfcheetah
  (``slide_z``) it is the root's slide joint, measured from the torso's initial height (0.7)."""
  skip = 1 if planar else 2                      # x (and y) positions are excluded from obs
  vel = env.sys.q_size() - skip
  z0 = float(env.sys.link.transform.pos[0, 2]) if slide_z else 0.0
  return {"height": lambda obs: obs[0] + z0, "z0": z0, "angle": 1, "vel": [vel] if planar else [vel, vel + 1]}


def _hopping_family(name: str, brax_name: str, box: TaskBox, unhealthy, backend, horizon, n_frames):
  """Hopper2D / Walker2D: r = 10 - 0.001 |a|^2 - |v - g_v| - 5 |h - g_h|, f = (v, h);
  unhealthy(h, angle) -> done."""
  env = _brax_env(brax_name, backend, n_frames)
  ix = _layout(env, planar=True)

  def features(obs, action, next_obs):
    c = 10.0 - 0.001 * jnp.sum(action**2)
    return c, jnp.stack([next_obs[ix["vel"][0]], ix["height"](next_obs)])

  def terminated(next_obs):
    return unhealthy(ix["height"](next_obs), next_obs[ix["angle"]])

  return TaskFamily(name, box, tracking_reward((1.0, 5.0)),
                    BraxTaskEnv(env, features, terminated, 2, horizon, backend, ix["z0"]))


def hopper_2d(backend: str = "positional", horizon: int = 200, n_frames: int | None = None) -> TaskFamily:
  """Hopper2D: psi = (forward velocity, torso height) in [-2, 2] x [1.2, 2.0].

  r = 10 - 0.001 |a|^2 - |v - g_v| - 5 |h - g_h|; done when h <= 0.7, |angle| >= 0.2 or non-finite.
  Brax hopper, dt = 0.008 s (4 frames of 2 ms), T = 200 (1.6 s; the reference ran 200 steps of 2 ms).
  Backend in the configs: positional (33.9k env steps/s; generalized 9.8k, mjx 11.2k; docs/results.md).
  Reachability, measured: the best oracle here (MPC with smooth plans) averages 0.69 m/s at (2, 1.2)
  over the 1.6 s from standstill, and 0.66 m/s over a 3.2 s probe episode (so not held back by the
  horizon); no optimiser here reached +-2 m/s, so the velocity corners are tracked only in part (V*
  1693-1727 of at most 2000 at height 1.2).
  """
  return _hopping_family("hopper_2d", "hopper", TaskBox((-2.0, 1.2), (2.0, 2.0)),
                         lambda h, angle: (h <= 0.7) | (jnp.abs(angle) >= 0.2), backend, horizon, n_frames)


def walker_2d(backend: str = "positional", horizon: int = 200, n_frames: int | None = None) -> TaskFamily:
  """Walker2D: psi = (forward velocity, torso height) in [-2, 2] x [1.0, 1.8].

  r = 10 - 0.001 |a|^2 - |v - g_v| - 5 |h - g_h|; done when h is outside (0.8, 2.0) or the torso
  angle outside (-1, 1). Brax walker2d, dt = 0.008 s, T = 200 (1.6 s; the reference: 0.4 s).
  Backend in the configs: positional (17.0k env steps/s; generalized 11.4k, mjx 1.6k; docs/results.md).
  Reachability, measured: MPC with smooth 0.8 s plans averages 1.58 m/s at (2, 1.8) and -1.12 m/s at
  (-2, 1.0) over the episode from standstill (one start each), near the corners' targets.
  """
  return _hopping_family("walker_2d", "walker2d", TaskBox((-2.0, 1.0), (2.0, 1.8)),
                         lambda h, angle: (h <= 0.8) | (h >= 2.0) | (angle <= -1.0) | (angle >= 1.0),
                         backend, horizon, n_frames)


def half_cheetah_2d(backend: str = "positional", horizon: int = 200, n_frames: int | None = None) -> TaskFamily:
  """HalfCheetah2D: psi = (forward velocity, root height) in [-2, 2] x [0.2, 1.0].

  r = -0.1 |a|^2 - |v - g_v| - |h - g_h|; never done. Brax halfcheetah, dt = 0.05 s, T = 200.
  """
  env = _brax_env("halfcheetah", backend, n_frames)
  ix = _layout(env, planar=True, slide_z=True)

  def features(obs, action, next_obs):
    return -0.1 * jnp.sum(action**2), jnp.stack([next_obs[ix["vel"][0]], ix["height"](next_obs)])

  return TaskFamily("half_cheetah_2d", TaskBox((-2.0, 0.2), (2.0, 1.0)), tracking_reward((1.0, 1.0)),
                    BraxTaskEnv(env, features, lambda o: jnp.zeros((), bool), 2, horizon, backend, ix["z0"]))


def _ant(backend, horizon, n_frames, with_height: bool) -> BraxTaskEnv:
  env = _brax_env("ant", backend, n_frames)
  ix = _layout(env, planar=False)
  bonus = 3.0 if with_height else 5.0

  def features(obs, action, next_obs):
    c = -0.005 * jnp.sum(jnp.clip(action, -1.0, 1.0) ** 2) + 0.05 + bonus
    f = [next_obs[ix["vel"][0]], next_obs[ix["vel"][1]]] + ([ix["height"](next_obs)] if with_height else [])
    return c, jnp.stack(f)

  def terminated(next_obs):
    z = ix["height"](next_obs)
    return (z < 0.2) | (z > 1.0)

  return BraxTaskEnv(env, features, terminated, 3 if with_height else 2, horizon, backend, ix["z0"])


def ant_2d(backend: str = "positional", horizon: int = 200, n_frames: int | None = None) -> TaskFamily:
  """Ant2D: psi = torso velocity (vx, vy) in [-3, 3]^2.

  r = -|vx - gx| - |vy - gy| - 0.005 |a_c|^2 + 0.05 + 5; done when torso z leaves [0.2, 1.0].
  Brax ant, dt = 0.05 s (5 frames of 10 ms), T = 200 (10 s; the reference: 2 s).
  Backend in the configs: mjx (17.7k env steps/s; positional 3.7k, generalized 4.5k; docs/results.md).
  Reachability, measured: MPC walks at (2.7, 2.6) m/s on average at the corner (3, 3) (one episode,
  positional backend).
  """
  return TaskFamily("ant_2d", TaskBox((-3.0, -3.0), (3.0, 3.0)), tracking_reward((1.0, 1.0)),
                    _ant(backend, horizon, n_frames, with_height=False))


def ant_3d(backend: str = "positional", horizon: int = 200, n_frames: int | None = None) -> TaskFamily:
  """Ant3D: psi = (vx, vy, torso height) in [-3, 3]^2 x [0.4, 0.6].

  r = -|vx - gx| - |vy - gy| - 30 |z - gz| - 0.005 |a_c|^2 + 0.05 + 3; done as Ant2D.
  """
  return TaskFamily("ant_3d", TaskBox((-3.0, -3.0, 0.4), (3.0, 3.0, 0.6)), tracking_reward((1.0, 1.0, 30.0)),
                    _ant(backend, horizon, n_frames, with_height=True))


def humanoid_3d(backend: str = "positional", horizon: int = 200, n_frames: int | None = None) -> TaskFamily:
  """Humanoid3D: psi = (vx, vy, torso height) in [-1.5, 1.5]^2 x [1.2, 1.6].

  r = -|vx - gx| - |vy - gy| - 7.5 |z - gz| + 5 (alive) - 0.1 |a_c|^2 (Brax humanoid's alive and
  control weights); done when torso z leaves (0.8, 2.0). Brax humanoid, dt = 0.015 s, T = 200.
  """
  env = _brax_env("humanoid", backend, n_frames)
  ix = _layout(env, planar=False)

  def features(obs, action, next_obs):
    c = 5.0 - 0.1 * jnp.sum(jnp.clip(action, -1.0, 1.0) ** 2)
    return c, jnp.stack([next_obs[ix["vel"][0]], next_obs[ix["vel"][1]], ix["height"](next_obs)])

  def terminated(next_obs):
    z = ix["height"](next_obs)
    return (z <= 0.8) | (z >= 2.0)

  return TaskFamily("humanoid_3d", TaskBox((-1.5, -1.5, 1.2), (1.5, 1.5, 1.6)), tracking_reward((1.0, 1.0, 7.5)),
                    BraxTaskEnv(env, features, terminated, 3, horizon, backend, ix["z0"]))


HALF_CHEETAH_LINEAR_STATS = os.path.join(os.path.dirname(__file__), "data", "half_cheetah_linear_stats.json")


def half_cheetah_linear(backend: str = "positional", horizon: int = 200, n_frames: int | None = None,
                        stats_path: str = HALF_CHEETAH_LINEAR_STATS) -> TaskFamily:
  """HalfCheetahLinear: psi in [-1, 1]^18, r = -0.05 |a_c|^2 + psi . standardised(s').

  s' is the full 18-dimensional generalised state (q with the root's x position, then qd), so the
  observation keeps the x position here. The standardisation (mean, std of s') was computed by
  ``python -m experiments.half_cheetah_linear_stats`` from this project's own random-action data and
  ships as a small JSON file. Never done. Brax halfcheetah, dt = 0.05 s, T = 200.
  """
  with stdout_to_stderr():
    from brax import envs
  if backend not in BRAX_BACKENDS:
    raise ValueError(f"backend: unknown value {backend!r}; allowed: {list(BRAX_BACKENDS)}")
  kwargs = {} if n_frames is None else {"n_frames": n_frames}
  env = envs.get_environment("halfcheetah", backend=backend, exclude_current_positions_from_observation=False,
                             **kwargs)
  with open(stats_path, "rb") as fh:
    raw = fh.read()
  stats = json.loads(raw)
  mean, std = jnp.asarray(stats["mean"]), jnp.asarray(stats["std"])

  def features(obs, action, next_obs):
    return -0.05 * jnp.sum(jnp.clip(action, -1.0, 1.0) ** 2), (next_obs - mean) / std

  return TaskFamily("half_cheetah_linear", TaskBox((-1.0,) * 18, (1.0,) * 18), linear_reward,
                    BraxTaskEnv(env, features, lambda o: jnp.zeros((), bool), 18, horizon, backend,
                                feature_tag="stats-sha256:" + hashlib.sha256(raw).hexdigest()[:16]))
