"""`python -m experiments.study_curves`: the repository's spelling of `admrl_jax.cli.study_curves` (see its docstring)."""
from admrl_jax.cli.study_curves import run

if __name__ == "__main__":
  run()
