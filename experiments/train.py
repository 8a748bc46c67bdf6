"""`python -m experiments.train`: the repository's spelling of `admrl_jax.cli.train` (see its docstring)."""
from admrl_jax.cli.train import run

if __name__ == "__main__":
  run()
