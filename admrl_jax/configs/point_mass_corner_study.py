"""PointMass2D-Corner at the study's scale: ``point_mass_study`` on the family whose worst case
belongs to the model (``admrl_jax.envs.point_mass.PointMassCornerEnv``)."""
from admrl_jax.configs.point_mass_study import get_config as study_config


def get_config():
  c = study_config()
  c.family = "point_mass_corner"
  return c
