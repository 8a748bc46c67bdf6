"""half_cheetah_linear at paper scale: see experiments/configs/brax_family.py."""
from experiments.configs.brax_family import brax_config


def get_config():
  return brax_config("half_cheetah_linear", "paper")
