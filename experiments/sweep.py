"""`python -m experiments.sweep`: the repository's spelling of `admrl_jax.cli.sweep` (see its docstring)."""
from admrl_jax.cli.sweep import run

if __name__ == "__main__":
  run()
