"""`python -m experiments.oracle_table`: the repository's spelling of `admrl_jax.cli.oracle_table` (see its docstring)."""
from admrl_jax.cli.oracle_table import run

if __name__ == "__main__":
  run()
