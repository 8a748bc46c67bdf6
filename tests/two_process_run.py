"""The tiny config with K = 4 tasks on two processes against one process, 4 devices either way.

Run by tests/test_workflow.py in a subprocess (``python -m tests.two_process_run``). It starts two
``experiments.train`` processes on this machine, each with 2 forced host devices, joined by
``jax.distributed`` over localhost (CPU collectives: gloo) with --config.devices=4, so the task
axis spans both processes ("pods, simulated here"); then it trains the same config in this
process on 4 forced host devices. It prints a JSON report:
  returncodes, stdout / stderr tails of the two processes;
  files:             what the run directory holds (process 0 writes it; orbax's checkpoints are
                     written by both, each its shards);
  rows:              the metric rows in metrics.jsonl (one per iteration: one writer);
  state_rel_diff:    the two-process run's final checkpoint, restored in this one process (as
                     ``experiments.evaluate`` does), against the one-process final state: psi,
                     model parameters and everything else;
  psi_rel_diff, params_rel_diff; metric_rel_diff: per iteration, per metric.
Reductions across processes run in another order than within one, so float32 rounding (1e-7),
amplified by TRPO's line search and the model rollouts, is the expected difference.
"""
import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"   # this process: 4 devices

import json  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from admrl_jax.run_dir import load_run, restore_state  # noqa: E402
from admrl_jax.runner import TIMING_FIELDS, train  # noqa: E402
from tests.sharded_run import rel_diff, unkey  # noqa: E402
from tests.tiny_config import get_config  # noqa: E402

ITERATIONS = 2
OVERRIDES = {"loop.num_tasks": 4, "devices": 4, "loop.iterations": ITERATIONS}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config():
  c = get_config()
  for field, value in OVERRIDES.items():
    section, _, name = field.rpartition(".")
    (c[section] if section else c)[name] = value
  return c


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def start_processes(run_dir: str) -> list[subprocess.Popen]:
  port = free_port()
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  cmd = [sys.executable, "-m", "experiments.train", "--config=tests/tiny_config.py", f"--run_dir={run_dir}",
         *[f"--config.{k}={v}" for k, v in OVERRIDES.items()], "--num_processes=2",
         f"--coordinator=localhost:{port}"]
  return [subprocess.Popen(cmd + [f"--process_id={i}"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True) for i in range(2)]


def main():
  with tempfile.TemporaryDirectory() as root:
    two_dir = os.path.join(root, "two")
    processes = start_processes(two_dir)
    outputs = [p.communicate(timeout=1200) for p in processes]
    one = train(config(), os.path.join(root, "one"), log=lambda *_: None)   # then in this process
    report = {"device_count": jax.device_count(), "returncodes": [p.returncode for p in processes],
              "stdout": [o[0][-2000:] for o in outputs], "stderr": [o[1][-3000:] for o in outputs]}
    if any(report["returncodes"]):
      json.dump(report, sys.stdout)
      return
    rows = [json.loads(line) for line in open(os.path.join(two_dir, "metrics.jsonl"))]
    _, loop, _ = load_run(two_dir)
    two_state, two_history = restore_state(two_dir, loop, config().seed)
    names = [k for k in one.history[0] if k not in TIMING_FIELDS]
    report.update({
        "files": sorted(os.listdir(two_dir)),
        "rows": len(rows),
        "checkpoint_rows": len(two_history),
        "iteration": int(two_state.iteration),
        "state_rel_diff": rel_diff(unkey(one.state), unkey(two_state)),
        "psi_rel_diff": rel_diff(one.state.psi, two_state.psi),
        "params_rel_diff": rel_diff(one.state.model.params, two_state.model.params),
        "key_equal": bool(np.array_equal(jax.random.key_data(one.state.key), jax.random.key_data(two_state.key))),
        "metric_rel_diff": [{k: rel_diff(np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)) for k in names}
                            for a, b in zip(one.history, rows)],
    })
  json.dump(report, sys.stdout)


if __name__ == "__main__":
  main()
