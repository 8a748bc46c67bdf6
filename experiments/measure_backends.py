"""Measure Brax backends per task family: compile time and env steps/s of a batched rollout.

  python -m experiments.measure_backends --families=hopper_2d,ant_2d --backends=positional,generalized,mjx

Each (family, backend): a jitted ``real_rollouts`` of --batch episodes x the family's horizon with
random actions; compile time, then the median of 3 timed calls. Prints a markdown table.
"""
import statistics
import time

import jax
from absl import flags

from admrl_jax.envs import BACKENDS, make_family
from admrl_jax.rollout import real_rollouts
from admrl_jax.cli.common import checked_choices, run, start

_FAMILIES = flags.DEFINE_list("families", ["hopper_2d", "walker_2d", "ant_2d", "half_cheetah_2d"],
                              f"families, from {sorted(BACKENDS)}")
_BACKENDS = flags.DEFINE_list("backends", ["positional", "generalized", "mjx"], "Brax backends (each family's "
                              "allowed ones: admrl_jax.envs.BACKENDS)")
_BATCH = flags.DEFINE_integer("batch", 64, "episodes per rollout call", lower_bound=1)


def measure(name: str, backend: str, batch: int) -> tuple[float, float]:
  env = make_family(name, backend).env
  act = lambda obs, k: jax.random.uniform(k, (env.action_dim,), minval=-1.0, maxval=1.0)
  roll = jax.jit(lambda k: real_rollouts(env, act, k, batch).next_obs)  # all of the physics
  t0 = time.perf_counter()
  jax.block_until_ready(roll(jax.random.key(0)))
  compile_s = time.perf_counter() - t0
  times = []
  for i in range(3):
    t0 = time.perf_counter()
    jax.block_until_ready(roll(jax.random.key(i + 1)))
    times.append(time.perf_counter() - t0)
  return compile_s, batch * env.horizon / statistics.median(times)


def main(argv):
  start(argv)
  for name in checked_choices("families", _FAMILIES.value, sorted(BACKENDS)):
    checked_choices(f"backends (of family {name})", _BACKENDS.value, BACKENDS[name])
  print(f"| family | backend | compile (s) | env steps/s ({_BATCH.value} envs) |\n|---|---|---|---|", flush=True)
  for name in _FAMILIES.value:
    for backend in _BACKENDS.value:
      compile_s, rate = measure(name, backend, _BATCH.value)
      print(f"| {name} | {backend} | {compile_s:.1f} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
  run(main)
