"""Registry of task families: ``make_family(name, backend, lo, hi)``."""
from __future__ import annotations

import functools

from admrl_jax.envs import brax_tasks
from admrl_jax.envs.point_mass import point_mass_corner_family, point_mass_family, point_mass_pockets_family
from admrl_jax.tasks import TaskBox, TaskFamily

FAMILIES = {
    "point_mass": point_mass_family,
    "point_mass_corner": point_mass_corner_family,
    "point_mass_pockets": point_mass_pockets_family,
    "hopper_2d": brax_tasks.hopper_2d,
    "walker_2d": brax_tasks.walker_2d,
    "ant_2d": brax_tasks.ant_2d,
    "ant_3d": brax_tasks.ant_3d,
    "half_cheetah_2d": brax_tasks.half_cheetah_2d,
    "half_cheetah_linear": brax_tasks.half_cheetah_linear,
    "humanoid_3d": brax_tasks.humanoid_3d,
}
# Physics backends each family can run on; the first is its default.
BACKENDS = {name: brax_tasks.BRAX_BACKENDS for name in FAMILIES}
ANALYTIC = ("point_mass", "point_mass_corner", "point_mass_pockets")   # pure-JAX families: one backend, no Brax
for _name in ANALYTIC:
  BACKENDS[_name] = ("jax",)


@functools.lru_cache(maxsize=32)
def make_family(name: str, backend: str | None = None, lo: tuple = (), hi: tuple = ()) -> TaskFamily:
  """The task family ``name`` on ``backend``, with its task box replaced by [lo, hi] if given.

  Cached: families are immutable, and building a Brax one takes seconds. Raises ValueError naming
  the field and its allowed values.
  """
  if name not in FAMILIES:
    raise ValueError(f"family: unknown value {name!r}; allowed: {sorted(FAMILIES)}")
  backend = backend or BACKENDS[name][0]
  if backend not in BACKENDS[name]:
    raise ValueError(f"backend: unknown value {backend!r} for family {name!r}; allowed: {list(BACKENDS[name])}")
  family = FAMILIES[name]() if name in ANALYTIC else FAMILIES[name](backend=backend)
  if lo or hi:
    dim = family.box.dim
    for field, value in (("task.lo", lo), ("task.hi", hi)):
      if len(value) != dim:
        raise ValueError(f"{field}: family {name!r} has {dim}-dimensional tasks, got {len(value)} values {tuple(value)}")
    if any(h <= l for l, h in zip(lo, hi)):
      raise ValueError(f"task.lo, task.hi: the box is empty or inverted; need lo < hi in every dimension, "
                       f"got lo={tuple(lo)} hi={tuple(hi)}")
    family = TaskFamily(family.name, TaskBox(tuple(map(float, lo)), tuple(map(float, hi))), family.reward,
                        family.env)
  return family
