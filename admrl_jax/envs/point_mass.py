"""PointMass2D: a cheap analytic task family in pure JAX whose dynamics change with speed.

State / observation s = (vx, vy, ux, uy): the velocity of a puck and the state of its two
thrusters. Actions a in [-1, 1]^2 command the thrusters, which follow with a first-order lag.

    u'     = u + (dt / tau) (clip(a) - u)
    thrust = gain * R(kappa |v|) u'                    (thrust turns with speed: cross-coupling)
    drag   = (b1 + b2 |v| + b3 relu(|v| - v_turb)) v     (quadratic drag plus a turbulent regime)
    v'     = v + dt (thrust - drag)

Below ``v_turb`` the map is close to linear; above it the drag grows faster and the thrust turns
away from its command, so a model fitted on slow data extrapolates badly to fast tasks: which
tasks the learner trains on matters. Tasks are target velocities psi = (gx, gy) in [-2, 2]^2;
every target in the box is an equilibrium reachable with |a_i| <= 0.9 (checked in the tests).

Reward (SPEC section 4 form): r = c - |vx' - gx| - |vy' - gy| with the psi-free part
c = alive - ctrl * |clip(a)|^2, features f = (vx', vy'). No termination. The dynamics are
deterministic and differentiable, so V*(psi) is computed by trajectory optimisation
(``admrl_jax.oracles.trajectory``).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from admrl_jax.tasks import TaskBox, TaskFamily, tracking_reward
from admrl_jax.types import Transition


@dataclasses.dataclass(frozen=True)
class PointMassEnv:
  """Pure-function environment; see the module docstring for the equations."""

  dt: float = 0.1
  tau: float = 0.2
  gain: float = 6.0
  kappa: float = 0.1
  b1: float = 0.5
  b2: float = 0.3
  b3: float = 0.5
  v_turb: float = 1.5
  init_speed: float = 0.25
  alive: float = 4.0
  ctrl: float = 0.05
  horizon: int = 50
  obs_dim: int = 4
  action_dim: int = 2
  feature_dim: int = 2

  def reset(self, key: jax.Array) -> jax.Array:
    """key -> s0 [4]: velocity uniform in [-init_speed, init_speed]^2, thrusters at rest."""
    v0 = jax.random.uniform(key, (2,), minval=-self.init_speed, maxval=self.init_speed)
    return jnp.concatenate([v0, jnp.zeros(2)])

  def observe(self, state: jax.Array) -> jax.Array:
    return state

  def dynamics(self, obs: jax.Array, action: jax.Array) -> jax.Array:
    """(s [4], a [2]) -> s' [4]; differentiable in both arguments."""
    v, u = obs[:2], obs[2:]
    u_next = u + (self.dt / self.tau) * (jnp.clip(action, -1.0, 1.0) - u)
    speed = jnp.sqrt(jnp.sum(v**2) + 1e-12)
    angle = self.thrust_angle(v, speed)
    rot = jnp.array([[jnp.cos(angle), -jnp.sin(angle)], [jnp.sin(angle), jnp.cos(angle)]])
    thrust = self.gain * rot @ u_next
    drag = (self.b1 + self.b2 * speed + self.b3 * jax.nn.relu(speed - self.v_turb)) * v
    v_next = v + self.dt * (thrust - drag)
    return jnp.concatenate([v_next, u_next])

  def thrust_angle(self, v: jax.Array, speed: jax.Array) -> jax.Array:
    """The angle [] (radians) by which the thrust turns away from its command at velocity v [2]."""
    return self.kappa * speed

  def features(self, obs, action, next_obs):
    c = self.alive - self.ctrl * jnp.sum(jnp.clip(action, -1.0, 1.0) ** 2)
    return c, next_obs[:2]

  def terminated(self, next_obs: jax.Array) -> jax.Array:
    return jnp.zeros((), next_obs.dtype)

  def step(self, state, action):
    next_obs = self.dynamics(state, action)
    c, f = self.features(state, action, next_obs)
    return next_obs, Transition(state, action, next_obs, c, f, self.terminated(next_obs))


def point_mass_family(**env_overrides) -> TaskFamily:
  """PointMass2D: psi = target velocity (gx, gy) in [-2, 2]^2."""
  return TaskFamily(
      name="point_mass",
      box=TaskBox((-2.0, -2.0), (2.0, 2.0)),
      reward=tracking_reward((1.0, 1.0)),
      env=PointMassEnv(**env_overrides),
  )


@dataclasses.dataclass(frozen=True)
class PointMassCornerEnv(PointMassEnv):
  """PointMass2D plus a corner regime: where both velocity components exceed ``corner_speed`` the
  thrust turns by up to ``corner_angle`` (90 degrees), switched on smoothly over ``corner_width``:

      angle(v) = kappa |v| + corner_angle * sigmoid((vx - c) / width) * sigmoid((vy - c) / width)

  Why it is hard: only targets with gx, gy > c drive the puck there, about 4 % of the task box
  [-2, 2]^2 at c = 1.2 (the 7 x 7 test grid has 4 of its 49 tasks inside). A dynamics model fitted
  on data from the rest of the box extrapolates the ordinary, nearly unrotated thrust into the
  corner, so a policy adapted on it pushes the puck out of the regime again instead of holding it
  at the target: its gap at the corner tasks is large while the adaptation floor (the same
  adaptation on the true dynamics) stays low, because the regime is learnable from data. That is
  the situation the paper is about: the worst-case gap belongs to the model, in a part of the task
  space that uniform task proposals rarely train on, and an adversary that finds it can spend
  real data there. Every target in the box stays reachable (the regime turns the thrust, it does
  not weaken it: checked in the tests).
  """

  corner_angle: float = 1.5707963267948966
  corner_speed: float = 1.2
  corner_width: float = 0.08

  def thrust_angle(self, v: jax.Array, speed: jax.Array) -> jax.Array:
    inside = (jax.nn.sigmoid((v[0] - self.corner_speed) / self.corner_width)
              * jax.nn.sigmoid((v[1] - self.corner_speed) / self.corner_width))
    return self.kappa * speed + self.corner_angle * inside


def point_mass_corner_family(**env_overrides) -> TaskFamily:
  """PointMass2D-Corner: PointMass2D's tasks and reward, with the corner regime of
  ``PointMassCornerEnv`` in its dynamics."""
  return TaskFamily(
      name="point_mass_corner",
      box=TaskBox((-2.0, -2.0), (2.0, 2.0)),
      reward=tracking_reward((1.0, 1.0)),
      env=PointMassCornerEnv(**env_overrides),
  )


@dataclasses.dataclass(frozen=True)
class PointMassPocketsEnv(PointMassEnv):
  """PointMass2D plus two separated pockets of velocity space where the thrust turns by up to
  ``pocket_angle`` (-90 degrees), switched on smoothly at radius ``pocket_radius`` around each centre:

      angle(v) = kappa |v| + pocket_angle * sum_i sigmoid((r - |v - c_i|) / width)

  The held-out family of the issue "An adversary that covers the whole box", defined before any
  candidate adversary ran on it: its hard regime is elsewhere than PointMass2D-Corner's, and in two
  places, so an adversary that settles in one region leaves the other untrained. The centres are test
  grid tasks away from the box's corners and its diagonal, (-4/3, 2/3) and (2/3, -4/3); each pocket
  holds one of the 7 x 7 grid's tasks (its neighbours lie 2/3 away) and both hold 5 % of the box
  [-2, 2]^2 (the corner's regime: 4 %); the straight paths from rest to some other targets cross them. As in the corner, the
  regime turns the thrust without weakening it: every target stays reachable (checked in the tests).
  """

  pocket_angle: float = -1.5707963267948966
  pocket_centres: tuple = ((-4.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, -4.0 / 3.0))
  pocket_radius: float = 0.35
  pocket_width: float = 0.04

  def thrust_angle(self, v: jax.Array, speed: jax.Array) -> jax.Array:
    centres = jnp.asarray(self.pocket_centres)
    distance = jnp.sqrt(jnp.sum((v[None, :] - centres) ** 2, axis=1) + 1e-12)
    inside = jnp.sum(jax.nn.sigmoid((self.pocket_radius - distance) / self.pocket_width))
    return self.kappa * speed + self.pocket_angle * inside


def point_mass_pockets_family(**env_overrides) -> TaskFamily:
  """PointMass2D-Pockets: PointMass2D's tasks and reward, with the two pockets of
  ``PointMassPocketsEnv`` in its dynamics."""
  return TaskFamily(
      name="point_mass_pockets",
      box=TaskBox((-2.0, -2.0), (2.0, 2.0)),
      reward=tracking_reward((1.0, 1.0)),
      env=PointMassPocketsEnv(**env_overrides),
  )
