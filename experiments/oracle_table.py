"""The V* oracle on a family's in-box test set, reported at the corners and the centre of the box.

  python -m experiments.oracle_table --config=experiments/configs/hopper_2d_cpu.py [--out=docs/figures]

Runs the config's oracle (``eval.oracle``, budget ``eval.oracle_iters``) on the very task set that
evaluation uses (the 7 x 7 / 5 x 5 x 3 grid, or the random and corner tasks in higher dimensions),
through the same on-disk cache, so either this command or a run's evaluation computes it and the
other loads it. Prints a markdown table (V* and the learning curve's last checkpoints at every
corner and the centre in the set, then the grid mean) and writes <out>/oracle_<family>.png.
"""
import os
import time

import jax
import matplotlib
import numpy as np

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
_MAX_CORNERS = 8


def corners_and_centre(box, psis: np.ndarray) -> list[tuple[str, int]]:
  """(label, row) of the test set's tasks at a corner of the box (at most 8) and at its centre."""
  unit = (2.0 * psis - (np.asarray(box.lo) + np.asarray(box.hi))) / (np.asarray(box.hi) - np.asarray(box.lo))
  corners = [i for i in range(len(psis)) if np.allclose(np.abs(unit[i]), 1.0, atol=1e-5)][:_MAX_CORNERS]
  centre = [i for i in range(len(psis)) if np.allclose(unit[i], 0.0, atol=1e-5)][:1]
  return [("corner", i) for i in corners] + [("centre", i) for i in centre]


def main(argv):
  start(argv)
  config, e = _CONFIG.value, _CONFIG.value.eval
  _, evaluator = build(config)
  family = evaluator.learner.family
  eval_key = jax.random.key(e.seed)
  psis = family.box.test_tasks(jax.random.fold_in(eval_key, 2), e.grid_points, tuple(e.grid_points_3d),
                               e.random_tasks)   # exactly evaluation's in-box set: one cache entry for both
  t0 = time.perf_counter()
  v_star, curve, hit = cached_oracle(family, psis, eval_key, *oracle_budget(config, evaluator, psis, eval_key),
                                     e.oracle_cache)
  seconds = time.perf_counter() - t0
  psis, every = np.asarray(psis), e.oracle_iters // curve.shape[0]
  steps = every * (1 + np.arange(curve.shape[0]))
  print(f"{config.family}: {e.oracle} oracle, {e.oracle_iters} updates, {len(psis)} tasks, "
        f"{'cached' if hit else f'computed in {seconds:.0f} s'}")
  print(f"| task psi | V* | curve at updates {', '.join(str(s) for s in steps[-4:])} |\n|---|---|---|")
  rows = corners_and_centre(family.box, psis)
  for label, i in rows:
    tail = ", ".join(f"{x:.0f}" for x in curve[-4:, i])
    print(f"| {label} ({', '.join(f'{x:.2f}' for x in psis[i])}) | {v_star[i]:.0f} | {tail} |")
  mean = curve.mean(axis=1)
  print(f"| mean of all {len(psis)} | {np.mean(v_star):.0f} | {', '.join(f'{x:.0f}' for x in mean[-4:])} |")
  os.makedirs(_OUT.value, exist_ok=True)
  fig, ax = plt.subplots(figsize=(5.5, 4.0))
  for label, i in rows:
    ax.plot(steps, curve[:, i], label=f"{label} ({', '.join(f'{x:.1f}' for x in psis[i])})")
  ax.plot(steps, mean, "k--", label=f"mean of all {len(psis)}")
  ax.set_xlabel("oracle update" if e.oracle == "policy" else "optimisation step")
  ax.set_ylabel("return (on-policy, during optimisation)")
  ax.set_title(f"V* oracle on {config.family}: corners, centre and grid mean", fontsize=9)
  ax.legend(fontsize=6)
  fig.tight_layout()
  path = os.path.join(_OUT.value, f"oracle_{config.family}.png")
  fig.savefig(path, dpi=110)
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
