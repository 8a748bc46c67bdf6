"""The V* oracle at the corners and the centre of a family's task box, with its learning curve.

  python -m experiments.oracle_table --config=experiments/configs/hopper_2d_cpu.py [--out=docs/figures]

Runs the config's oracle (``eval.oracle``, budget ``eval.oracle_iters``) on the 2^k corners and the
centre of the task box (for k <= 3), through the same on-disk cache as evaluation, and prints a
markdown table (V* per task, the curve's last values) and writes <out>/oracle_<family>.png.
"""
import itertools
import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from admrl_jax.config import build  # noqa: E402
from admrl_jax.oracle import cached_oracle  # noqa: E402
from admrl_jax.runner import oracle_budget  # noqa: E402
from experiments.cli import start  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "ml-collections config file", lock_config=True)
_OUT = flags.DEFINE_string("out", "docs/figures", "folder of the learning-curve figure")


def main(argv):
  start(argv)
  config = _CONFIG.value
  _, evaluator = build(config)
  box = evaluator.learner.family.box
  corners = [box.from_unit(jnp.asarray(w, jnp.float32)) for w in itertools.product((-1.0, 1.0), repeat=box.dim)]
  psis = jnp.stack(corners + [box.from_unit(jnp.zeros(box.dim))])
  eval_key = jax.random.key(config.eval.seed)
  t0 = time.perf_counter()
  v_star, curve, hit = cached_oracle(evaluator.learner.family, psis, eval_key,
                                     *oracle_budget(config, evaluator, psis, eval_key), config.eval.oracle_cache)
  seconds = time.perf_counter() - t0
  every = config.eval.oracle_iters // curve.shape[0]
  print(f"{config.family}: {config.eval.oracle} oracle, {config.eval.oracle_iters} steps, "
        f"{'cached' if hit else f'{seconds:.0f} s'}")
  print("| task psi | V* | curve: last 3 checkpoints |\n|---|---|---|")
  for i, psi in enumerate(psis):
    label = "centre" if i == len(psis) - 1 else "corner"
    tail = ", ".join(f"{x:.1f}" for x in curve[-3:, i])
    print(f"| {label} ({', '.join(f'{x:.2f}' for x in psi)}) | {v_star[i]:.1f} | {tail} |")
  os.makedirs(_OUT.value, exist_ok=True)
  fig, ax = plt.subplots(figsize=(5.5, 4.0))
  steps = every * (1 + jnp.arange(curve.shape[0]))
  for i, psi in enumerate(psis):
    ax.plot(steps, curve[:, i], label=f"({', '.join(f'{x:.1f}' for x in psi)})")
  ax.set_xlabel("oracle update" if config.eval.oracle == "policy" else "optimisation step")
  ax.set_ylabel("return")
  ax.set_title(f"V* oracle on {config.family}: corners and centre", fontsize=9)
  ax.legend(fontsize=6)
  fig.tight_layout()
  path = os.path.join(_OUT.value, f"oracle_{config.family}.png")
  fig.savefig(path, dpi=110)
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
