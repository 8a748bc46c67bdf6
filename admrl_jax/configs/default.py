"""Default configuration: AdMRL on the analytic PointMass2D family at CPU scale.

Every field, its default, its meaning and its check are declared once, in ``admrl_jax/schema.py``;
variants import this module and override fields (``--config.section.field=value`` on the command line).
"""
import ml_collections

from admrl_jax.schema import default_config


def get_config() -> ml_collections.ConfigDict:
  return default_config()
