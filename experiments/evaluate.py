"""`python -m experiments.evaluate`: the repository's spelling of `admrl_jax.cli.evaluate` (see its docstring)."""
from admrl_jax.cli.evaluate import run

if __name__ == "__main__":
  run()
