"""Compute the standardisation of HalfCheetahLinear's state features from this project's own data.

  python -m experiments.half_cheetah_linear_stats [--episodes=256]

Random actions (uniform in [-1, 1]) on Brax halfcheetah (positional backend, the family's
default), the full 18-dimensional state s' = (q, qd) after every step of T = 200-step episodes;
writes mean and std per dimension to admrl_jax/envs/data/half_cheetah_linear_stats.json.
"""
import json
import os

import jax
import jax.numpy as jnp
from absl import flags

from admrl_jax.envs.brax_tasks import HALF_CHEETAH_LINEAR_STATS
from admrl_jax.cli.common import run, start

_EPISODES = flags.DEFINE_integer("episodes", 256, "random-action episodes", lower_bound=1)
_HORIZON = 200


def main(argv):
  start(argv)
  from brax import envs   # here: importing it prints to stdout (mujoco's warp probe), not for a refused flag

  env = envs.get_environment("halfcheetah", backend="positional", exclude_current_positions_from_observation=False)

  def episode(key):
    k0, k1 = jax.random.split(key)

    def body(state, k):
      nxt = env.step(state, jax.random.uniform(k, (env.action_size,), minval=-1.0, maxval=1.0))
      return nxt, nxt.obs

    return jax.lax.scan(body, env.reset(k0), jax.random.split(k1, _HORIZON))[1]

  obs = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(0), _EPISODES.value)).reshape(-1, env.observation_size)
  mean, std = jnp.mean(obs, 0), jnp.maximum(jnp.std(obs, 0), 1e-3)
  os.makedirs(os.path.dirname(HALF_CHEETAH_LINEAR_STATS), exist_ok=True)
  with open(HALF_CHEETAH_LINEAR_STATS, "w") as fh:
    json.dump({"source": f"{_EPISODES.value} random-action episodes x {_HORIZON} steps, brax halfcheetah positional",
               "mean": [float(x) for x in mean], "std": [float(x) for x in std]}, fh, indent=1)
  print(f"wrote {HALF_CHEETAH_LINEAR_STATS}: {obs.shape[0]} states, dim {obs.shape[1]}")


if __name__ == "__main__":
  run(main)
