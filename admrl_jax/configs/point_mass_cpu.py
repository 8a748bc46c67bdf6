"""PointMass2D at CPU scale: the default config (about 3 minutes on 2 CPU cores)."""
from admrl_jax.configs.default import get_config as default_config


def get_config():
  return default_config()
