"""The default config's first 3 outer iterations with the hyper-parameters baked in as constants against
traced (``admrl_jax.hyperparams``): the largest difference per iteration of a few metrics.

  .venv/bin/python -m experiments.traced_vs_constant      (about 3 minutes on 2 CPU cores; no flags)
"""
import jax
import numpy as np

from admrl_jax import hyperparams
from admrl_jax.cli.common import run, start
from admrl_jax.config import build
from admrl_jax.configs.default import get_config


def main(argv):
  start(argv)
  c = get_config()
  loop, _ = build(c)
  hp = hyperparams.from_config(c)
  s0 = loop.init(jax.random.key(0))
  const = jax.jit(lambda s: loop.run_chunk(s, 3))
  traced = jax.jit(lambda s, h: loop.run_chunk(s, 3, h))
  _, a = const(s0)
  _, b = traced(s0, hp)
  for it in range(3):
    print(it + 1, {k: float(np.max(np.abs(np.asarray(a[k][it], float) - np.asarray(b[k][it], float))))
                   for k in ("task_gradient", "return_hat", "model_loss", "cg_residual")})


if __name__ == "__main__":
  run(main)
