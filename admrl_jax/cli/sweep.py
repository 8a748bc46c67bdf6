"""Sweep methods x seeds on one config, then the results table.

  python -m experiments.sweep --config=experiments/configs/default.py \
      --methods=admrl,unif,gauss --seeds=0,1,2 --root=runs/sweep [--config.field=value ...]

Per method, the seeds train side by side in one jit (``admrl_jax.sweep``: the outer step compiled
once, vmapped over seeds; --side_by_side=false runs them one after another), then each is evaluated.
Each run lives in <root>/<method>-s<seed>. Finished runs (summary.json present) are skipped and
interrupted ones resume from their checkpoint, so re-running the same command completes a sweep.
The table (mean ± std over seeds) goes to <root>/results.md. For many hosts or devices, launch
one sweep per host with disjoint --seeds (see the README).
"""
import json
import os

from absl import flags

from admrl_jax import runner
from admrl_jax.run_dir import checkpoint_steps
from admrl_jax.methods import names as method_names
from admrl_jax.sweep import train_seeds
from admrl_jax.cli.common import (checked_configs, checked_folder, checked_methods_and_seeds, define_config,
                                  run as run_main, start)
from admrl_jax.cli.results_table import table

_CONFIG = define_config()
_METHODS = flags.DEFINE_list("methods", ["admrl", "unif", "gauss"], f"methods to run, from {list(method_names())}")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds to run (integers)")
_ROOT = flags.DEFINE_string("root", "runs/sweep", "folder of the sweep's run directories")
_SIDE_BY_SIDE = flags.DEFINE_bool("side_by_side", True, "train a method's seeds in one jit (vmap over seeds)")



def main(argv):
  start(argv)
  seeds = checked_methods_and_seeds(_METHODS.value, _SEEDS.value)
  checked_folder("root", _ROOT.value)
  configs = {f"{m}-s{s}": c for (m, s), c in checked_configs(_CONFIG.value, _METHODS.value, seeds).items()}
  for method in _METHODS.value:
    todo = []
    for seed in seeds:
      name, run_dir = f"{method}-s{seed}", os.path.join(_ROOT.value, f"{method}-s{seed}")
      if os.path.exists(os.path.join(run_dir, "summary.json")):
        print(f"{name}: finished already, skipped")
      else:
        todo.append((seed, run_dir))
    if not todo:
      continue
    if _SIDE_BY_SIDE.value and configs[f"{method}-s{todo[0][0]}"].devices == 1:
      print(f"{method}: seeds {[s for s, _ in todo]} side by side")
      results = train_seeds(configs[f"{method}-s{todo[0][0]}"], [s for s, _ in todo], [d for _, d in todo])
      summaries = [runner.evaluate_result(configs[f"{method}-s{seed}"], result, run_dir)
                   for (seed, run_dir), result in zip(todo, results)]
    else:
      summaries = []
      for seed, run_dir in todo:
        resume = bool(os.path.exists(os.path.join(run_dir, "config.json")) and checkpoint_steps(run_dir))
        print(f"{method}-s{seed}: {'resuming' if resume else 'starting'} in {run_dir}")
        summaries.append(runner.train_and_evaluate(configs[f"{method}-s{seed}"], run_dir, resume=resume))
    for (seed, _), summary in zip(todo, summaries):
      print(f"{method}-s{seed}: " + json.dumps({k: summary[k] for k in ("worst_case_gap", "mean_gap", "cvar10_gap")}))
  with open(os.path.join(_ROOT.value, "results.md"), "w") as fh:
    fh.write(table(_ROOT.value))
  print(table(_ROOT.value), end="")


def run():
  """Console-script entry point (admrl-sweep)."""
  run_main(main)


if __name__ == "__main__":
  run()
