"""PointMass2D at CPU scale: the default config (``make run``: 2 min 14 s on 2 idle CPU cores at 133dbde,
evaluation included; docs/results.md, "The default job's budget")."""
from admrl_jax.configs.default import get_config as default_config


def get_config():
  return default_config()
