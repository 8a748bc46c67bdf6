"""Default configuration: AdMRL on the analytic PointMass2D family at CPU scale (``make run``).

Its evaluation is the newcomer's: the in-box 7 x 7 grid with one adaptation seed, the policy evaluator,
the adaptation floor and V* shipped with the package, and the model planner; the studies' configs add the
OOD set (``eval.ood``) and the paper configs 3 adaptation seeds (docs/results.md, "The default job's budget").

Every field, its default, its meaning and its check are declared once, in ``admrl_jax/schema.py``;
variants import this module and override fields (``--config.section.field=value`` on the command line).
"""
import ml_collections

from admrl_jax.schema import default_config


def get_config() -> ml_collections.ConfigDict:
  return default_config()
