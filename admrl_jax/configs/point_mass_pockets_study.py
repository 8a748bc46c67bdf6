"""PointMass2D-Pockets at the study's scale: ``point_mass_study`` on the held-out family of the issue "An
adversary that covers the whole box" (``admrl_jax.envs.point_mass.PointMassPocketsEnv``: two separated
pockets of velocity space where the thrust turns), committed before any candidate adversary ran on it."""
from admrl_jax.configs.point_mass_study import get_config as study_config


def get_config():
  c = study_config()
  c.family = "point_mass_pockets"
  return c
