"""`python -m experiments.study`: the repository's spelling of `admrl_jax.cli.study` (see its docstring)."""
from admrl_jax.cli.study import run

if __name__ == "__main__":
  run()
