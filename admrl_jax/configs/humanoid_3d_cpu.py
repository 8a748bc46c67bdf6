"""humanoid_3d at cpu scale: see brax_family.py."""
from admrl_jax.configs.brax_family import brax_config


def get_config():
  return brax_config("humanoid_3d", "cpu")
