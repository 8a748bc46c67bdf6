"""The tiny config with K = 4 tasks on 1 device and on a 4-device ``tasks`` mesh, compared.

Run by tests/test_workflow.py in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4; prints a JSON report of relative differences:
  fit:       one data-parallel model fit (batch split, gradient all-reduced) vs the plain fit;
  tasks:     two TRPO updates of the 4 tasks' policies on one fixed model, split over devices,
             beside tasks_float_noise: the single-device updates after a 1e-7 relative nudge of
             the model's parameters (how far float32 rounding alone moves them);
  adapt:     one SLBO round (fit, then the 4 tasks' TRPO updates, split over devices), beside
             adapt_float_noise, the same nudge's effect on the single-device round;
  iteration: a whole outer iteration through the runner.
Parameters are float32, so reduction-order rounding (1e-7) is the floor; TRPO's line search and
the chaotic model rollouts amplify it through an iteration.
"""
import json
import sys
import tempfile

import jax
import numpy as np

from admrl_jax.config import build
from admrl_jax.runner import train
from admrl_jax.sharding import task_mesh
from tests.tiny_config import get_config


def config(devices: int, iterations: int = 1):
  c = get_config()
  c.loop.iterations = iterations
  c.loop.num_tasks = 4
  c.devices = devices
  return c


def rel_diff(a, b) -> float:
  """max |a - b| / max |a| over the leaves of two pytrees of arrays. A NaN matches a NaN (a method's
  "not set yet", AdMRL's restart anchor) and is infinitely far from anything else."""
  out = 0.0
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size:
      same = (x == y) | (np.isnan(x) & np.isnan(y))
      diff = np.where(same, 0.0, np.nan_to_num(np.abs(x - y), nan=np.inf))
      out = max(out, float(np.max(diff) / (np.max(np.abs(np.nan_to_num(x))) + 1e-12)))
  return out


def unkey(state):
  return state.replace(key=jax.random.key_data(state.key))


def pieces(devices: int):
  loop, _ = build(config(devices), mesh=task_mesh(devices))
  state = loop.place(loop.init(jax.random.key(0)))
  fit = jax.jit(lambda s: loop.learner.model.fit(s.model, s.buffer, jax.random.key(1), 5)[0])
  agents = loop._split_tasks(jax.vmap(loop.learner.agent.init)(jax.random.split(jax.random.key(2), 4)))
  keys = jax.random.split(jax.random.key(4), 4)
  tasks = jax.jit(lambda m, a, psi: jax.vmap(loop.learner.adapt_on_model, in_axes=(None, 0, 0, 0, None))(
      m, a, psi, keys, 2)[0].policy)
  adapt = jax.jit(lambda s, a: loop.learner.slbo_rounds(s.model, a, s.psi, s.buffer, jax.random.key(3), 1))
  model, adapted, _ = adapt(state, agents)
  # float noise floors: the same TRPO updates / SLBO round with the model's parameters scaled by (1 + 1e-7)
  nudged = state.model.replace(params=jax.tree.map(lambda p: p * (1 + 1e-7), state.model.params))
  noise = rel_diff(tasks(state.model, agents, state.psi), tasks(nudged, agents, state.psi))
  nudged_model, nudged_adapted, _ = adapt(state.replace(model=nudged), agents)
  adapt_noise = rel_diff((model, adapted.policy), (nudged_model, nudged_adapted.policy))
  return (fit(state), tasks(state.model, agents, state.psi), (model, adapted.policy), adapted.policy,
          noise, adapt_noise)


def main():
  one, four = pieces(1), pieces(4)
  with tempfile.TemporaryDirectory() as root:
    run1 = train(config(1), f"{root}/d1", log=lambda *_: None)
    run4 = train(config(4), f"{root}/d4", log=lambda *_: None)
  report = {
      "device_count": jax.device_count(),
      "psi_devices": len(run4.state.psi.sharding.device_set),
      "psi_spec": str(run4.state.psi.sharding.spec),
      "model_devices": len(jax.tree.leaves(run4.state.model.params)[0].sharding.device_set),
      "policy_devices": len(jax.tree.leaves(four[3])[0].sharding.device_set),
      "fit_rel_diff": rel_diff(one[0].params, four[0].params),
      "tasks_rel_diff": rel_diff(one[1], four[1]),
      "tasks_float_noise": one[4],
      "adapt_rel_diff": rel_diff(one[2], four[2]),
      "adapt_float_noise": one[5],
      "iteration_state_rel_diff": rel_diff(unkey(run1.state), unkey(run4.state)),
      "iteration_metric_rel_diff": {k: rel_diff(run1.history[0][k], run4.history[0][k])
                                    for k in ("return_hat", "return_star", "model_loss", "task_gradient")},
  }
  json.dump(report, sys.stdout)


if __name__ == "__main__":
  main()
