"""Evaluate finished (or interrupted) runs from their checkpoints.

  python -m experiments.evaluate --run_dir=runs/a [--run_dir=runs/b ...] [--checkpoints=all] [--out=dir]

For each run and each chosen checkpoint: adapt on that model for every grid task (zero-shot, then
the config's few-shot budgets), compare with the cached oracle V*, and write
<run_dir>/eval/iteration_<i>/{eval.csv, eval_table.md, eval_table.csv, gap_heatmap.png, summary.json}.
Across all runs: <out>/eval_table.{md,csv} (one row per run and checkpoint) and
<out>/worst_gap_vs_samples.png. Results go to each run's wandb run too (offline unless configured).
"""
import datetime
import json
import os

from absl import flags

from admrl_jax import plots, tables
from admrl_jax.evaluation_protocol import EvaluationProtocol, summary_lines
from admrl_jax.logger import RunLogger
from admrl_jax.config import build
from admrl_jax.run_dir import checkpoint_steps, restore_state
from admrl_jax.cli.common import checked_folder, checked_run_config, fail, run as run_main, start

_RUN_DIRS = flags.DEFINE_multi_string("run_dir", None, "run directories to evaluate (repeat the flag)")
_CHECKPOINTS = flags.DEFINE_enum("checkpoints", "last", ["last", "all"],
                                 "evaluate the latest checkpoint only, or every kept checkpoint (a curve)")
_OUT = flags.DEFINE_string("out", None, "folder of the combined table and figure "
                           "(default: <run_dir>/eval for one run, runs/eval-<time> for several)")


def main(argv):
  start(argv)
  run_dirs = _RUN_DIRS.value or fail("run_dir: give at least one run directory")
  configs = {run_dir: checked_run_config(run_dir) for run_dir in run_dirs}
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  out = checked_folder("out", _OUT.value or (os.path.join(run_dirs[0], "eval") if len(run_dirs) == 1
                                             else f"runs/eval-{stamp}"))
  for run_dir in run_dirs:
    if not checkpoint_steps(run_dir):
      fail(f"run_dir: {run_dir!r} holds no checkpoint yet")
  os.makedirs(out, exist_ok=True)

  rows, curves = [], {}
  for run_dir in run_dirs:
    steps = checkpoint_steps(run_dir)
    steps = steps if _CHECKPOINTS.value == "all" else steps[-1:]
    label = os.path.basename(os.path.normpath(run_dir))
    config = configs[run_dir]
    loop, evaluator = build(config)  # built once: one compile for all checkpoints
    protocol = EvaluationProtocol.from_config(config, evaluator, loop)
    for step in steps:
      state, history = restore_state(run_dir, loop, config.seed, step)
      step_dir = os.path.join(run_dir, "eval", f"iteration_{step}")
      summary = protocol.evaluate_state(state, history, step_dir)
      with open(os.path.join(step_dir, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
      for r in summary["table"]:
        rows.append({"run": label, "method": config.method, "seed": config.seed, "iteration": step,
                     "real_env_steps": summary["real_env_steps"], **r})
      curves.setdefault(label, ([], []))
      curves[label][0].append(summary["real_env_steps"])
      curves[label][1].append(summary["worst_case_gap"])
      if config.logging.wandb != "disabled":
        logger = RunLogger(run_dir, config, None, config.logging.wandb, config.logging.project)
        logger.log_summary({f"eval/{k}": v for k, v in summary.items()},
                           {f"eval/gap_heatmap_iteration_{step}": os.path.join(step_dir, "gap_heatmap.png")}
                           if os.path.exists(os.path.join(step_dir, "gap_heatmap.png")) else {})
        logger.close()
      print(f"{label}, iteration {step}:\n" + "\n".join(summary_lines(summary, step_dir)))

  columns = [tables.Column(key, md=tables.floats_at(2)) for key in (
      "run", "method", "seed", "iteration", "real_env_steps", "set", "budget", "worst_case_gap", "mean_gap",
      "cvar10_gap")]
  tables.write(columns, rows, os.path.join(out, "eval_table.md"), os.path.join(out, "eval_table.csv"))
  plots.gap_vs_samples(os.path.join(out, "worst_gap_vs_samples.png"),
                       {k: (v[0], v[1]) for k, v in curves.items()}, "worst-case gap vs real samples")
  print(f"wrote {out}/eval_table.md, eval_table.csv, worst_gap_vs_samples.png")


def run():
  """Console-script entry point (admrl-evaluate)."""
  run_main(main)


if __name__ == "__main__":
  run()
