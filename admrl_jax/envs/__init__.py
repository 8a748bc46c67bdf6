"""Registry of task families: ``make_family(name)``."""
from __future__ import annotations

from admrl_jax.envs.point_mass import point_mass_family
from admrl_jax.tasks import TaskFamily

FAMILIES = {
    "point_mass": point_mass_family,
}


def make_family(name: str) -> TaskFamily:
  """The task family called ``name``; a ValueError names the allowed values otherwise."""
  if name not in FAMILIES:
    raise ValueError(f"family: unknown value {name!r}; allowed: {sorted(FAMILIES)}")
  return FAMILIES[name]()
