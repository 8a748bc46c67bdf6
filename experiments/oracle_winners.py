"""`python -m experiments.oracle_winners`: the repository's spelling of `admrl_jax.cli.oracle_winners` (see its docstring)."""
from admrl_jax.cli.oracle_winners import run

if __name__ == "__main__":
  run()
