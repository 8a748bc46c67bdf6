#!/usr/bin/env bash
# Issue 27's screening on PointMass2D-Corner, as its protocol (docs/results.md, "An adversary that covers the
# whole box: the selection protocol" and its "Screening plan") fixes it. Resumable: every run is published and
# committed as it finishes (experiments.study --commit); run the same command again to go on.
#
#   experiments/corner_screening.sh patience     # P = 5, 10, 20 on seeds 5-7 (docs/runs/corner_patience)
#   experiments/corner_screening.sh pick         # P by the protocol's rule, from the published patience runs
#   experiments/corner_screening.sh screen       # the 13 rows on seeds 0-4 (docs/runs/corner_screening), P picked
#
# One row after another (the patience rows took 95-116 s a run (row means) on the idle 2-core CPU, 2026-12-06; earlier runs
# of this config under load 4-7 minutes: 65 runs, about 2-5 hours).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CONFIG=experiments/configs/point_mass_corner_study.py
STUDY="$PY -m experiments.study --config=$CONFIG --commit"

pick() {   # the patience with the lowest mean planner worst-case gap over seeds 5-7; ties (the protocol says only
           # "ties: the lower mean gap"; read here as means within 0.1, the finalists' rule) by the lower mean gap
  $PY - <<'EOF'
import numpy as np
from admrl_jax import study_results as sr
_, _, rows = sr.study_rows("docs/runs/corner_patience")
done = {g: [e["planner"] for e in es if e.get("planner")] for g, es in rows.items()}
score = {g: (np.mean([p["worst_case_gap"] for p in ps]), np.mean([p["mean_gap"] for p in ps]), len(ps))
         for g, ps in done.items() if ps}
if len(score) != 3 or any(n != 3 for *_, n in score.values()):
  raise SystemExit(f"patience runs incomplete (3 patiences x 3 seeds with a planner row): {score}; "
                   "run: experiments/corner_screening.sh patience")
low = min(w for w, _, _ in score.values())
best = min((g for g, (w, _, _) in score.items() if w <= low + 0.1), key=lambda g: score[g][1])
print(best.removeprefix("admrl_restart_p"))
EOF
}

case "${1:-}" in
  patience)
    for P in 5 10 20; do
      $STUDY --study=corner_patience --methods=admrl --variant=restart_p$P --config.adversary.restart_patience=$P \
        --seeds=5,6,7
    done ;;
  pick)
    pick ;;
  screen)
    P=$(pick)
    echo "restart patience P = $P (the protocol's rule on docs/runs/corner_patience)"
    S="$STUDY --study=corner_screening --seeds=0,1,2,3,4"
    $S --methods=unif
    $S --methods=admrl
    $S --methods=admrl --variant=k2 --config.loop.num_tasks=2 --config.loop.real_episodes=4
    $S --methods=admrl --variant=k4 --config.loop.num_tasks=4 --config.loop.real_episodes=2
    $S --methods=admrl --variant=raw --config.adversary.step_rule=raw
    $S --methods=admrl --variant=restart --config.adversary.restart_patience=$P
    $S --methods=gap_search
    $S --methods=gap_search --variant=model_error --config.adversary.search_signal=model_error
    $S --methods=admrl --variant=mix --config.adversary.uniform_share=0.5
    $S --methods=plr
    $S --methods=plr --variant=model_error --config.adversary.search_signal=model_error
    $S --methods=admrl --variant=replay_top --config.adversary.restart_patience=$P --config.adversary.restart_from=replay_top
    $S --methods=admrl --variant=trusted --config.task_gradient.p_control_variate=model ;;
  *)
    sed -n '2,10p' "$0"; exit 2 ;;
esac
