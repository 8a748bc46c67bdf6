"""`python -m experiments.results_table`: the repository's spelling of `admrl_jax.cli.results_table` (see its docstring)."""
from admrl_jax.cli.results_table import run

if __name__ == "__main__":
  run()
