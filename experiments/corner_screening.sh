#!/usr/bin/env bash
# Issue 27's selection on PointMass2D-Corner and its held-out checks, as its protocol (docs/results.md, "An
# adversary that covers the whole box: the selection protocol" and its "Screening plan") fixes it. Resumable:
# every run is published and committed as it finishes (experiments.study --commit); run the same command again.
#
#   experiments/corner_screening.sh patience     # P = 5, 10, 20 on seeds 5-7 (docs/runs/corner_patience)
#   experiments/corner_screening.sh pick         # P by the protocol's rule, from the published patience runs
#   experiments/corner_screening.sh screen       # the 13 rows on seeds 0-4 (docs/runs/corner_screening), P picked
#   experiments/corner_screening.sh finalists    # the screening's finalists by the protocol's rule (computed)
#   experiments/corner_screening.sh confirm      # finalists, AdMRL, MB-Unif on seeds 10-19 (docs/runs/corner_confirmation);
#                                                # MB-Unif's and the finalists' kept checkpoints on seeds 10-14
#   experiments/corner_screening.sh chosen       # the chosen adversary: the confirmation's lowest Holm-corrected p
#   experiments/corner_screening.sh args <row>   # a row's arguments to experiments.study (for hopper_study.sh)
#   experiments/corner_screening.sh heldout      # MB-Unif, MB-Gauss, AdMRL, the chosen row, seeds 0-4, on
#                                                # PointMass2D-Pockets (docs/runs/pockets_heldout) and
#                                                # PointMass2D (docs/runs/point_mass_heldout)
#   experiments/corner_screening.sh coverage     # each folder's coverage.md: its tasks in the family's hard
#                                                # regions, and where each run's worst task landed
#
# One row after another (the patience rows took 95-116 s a run (row means) on the idle 2-core CPU, 2026-12-06;
# earlier runs of this config under load 4-7 minutes).
set -euo pipefail
shopt -s inherit_errexit   # a failing helper inside $(...) (pick, finalists, chosen) stops the script
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CORNER=experiments/configs/point_mass_corner_study.py

pick() {   # the patience with the lowest mean planner worst-case gap over seeds 5-7; ties (the protocol says only
           # "ties: the lower mean gap"; read here as means within 0.1, the finalists' rule) by the lower mean gap
  $PY - <<'PYEOF'
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
PYEOF
}

# The screening plan's rows (docs/results.md): row name -> the study's --methods, --variant and overrides.
# A row's settings never change once it has run (the protocol).
ROWS=(unif admrl admrl_k2 admrl_k4 admrl_raw admrl_restart gap_search gap_search_model_error admrl_mix plr
      plr_model_error admrl_replay_top admrl_trusted)
row_args() {   # row name -> its arguments to experiments.study (P: the picked restart patience)
  local P
  case "$1" in
    unif|admrl|gauss|gap_search|plr) echo "--methods=$1" ;;
    admrl_k2) echo "--methods=admrl --variant=k2 --config.loop.num_tasks=2 --config.loop.real_episodes=4" ;;
    admrl_k4) echo "--methods=admrl --variant=k4 --config.loop.num_tasks=4 --config.loop.real_episodes=2" ;;
    admrl_raw) echo "--methods=admrl --variant=raw --config.adversary.step_rule=raw" ;;
    admrl_restart) P=$(pick); echo "--methods=admrl --variant=restart --config.adversary.restart_patience=$P" ;;
    gap_search_model_error) echo "--methods=gap_search --variant=model_error --config.adversary.search_signal=model_error" ;;
    admrl_mix) echo "--methods=admrl --variant=mix --config.adversary.uniform_share=0.5" ;;
    plr_model_error) echo "--methods=plr --variant=model_error --config.adversary.search_signal=model_error" ;;
    admrl_replay_top) P=$(pick); echo "--methods=admrl --variant=replay_top --config.adversary.restart_patience=$P --config.adversary.restart_from=replay_top" ;;
    admrl_trusted) echo "--methods=admrl --variant=trusted --config.task_gradient.p_control_variate=model" ;;
    *) echo "unknown row '$1'; rows: gauss ${ROWS[*]}" >&2; return 2 ;;
  esac
}

run_rows() {   # run_rows <study> <config> <seeds> <row>...: each row on the seeds, one after another
  local study=$1 config=$2 seeds=$3 row args; shift 3
  for row in "$@"; do
    args=$(row_args "$row")
    # shellcheck disable=SC2086   # (the row's arguments are words without spaces)
    $PY -m experiments.study --config=$config --commit --study=$study --seeds=$seeds $args
  done
}

finalists() {   # the screening's finalists, by study_selection.screening (the protocol's rule), one per line
  $PY - "${ROWS[@]}" <<'PYEOF'
import sys
from admrl_jax import study_results as sr, study_selection as sel
_, _, rows = sr.study_rows("docs/runs/corner_screening")
seeds = {r: len([e for e in rows.get(r, []) if e.get("planner")]) for r in sys.argv[1:]}
short = {r: n for r, n in seeds.items() if n < 5}
if short:
  raise SystemExit(f"screening incomplete (rows with fewer than 5 seeds evaluated): {short}; "
                   "run: experiments/corner_screening.sh screen")
print("\n".join(sel.screening(rows, [r for r in sys.argv[1:] if r != "unif"])["finalists"]))
PYEOF
}

chosen() {   # the confirmation's chosen row (study_selection.confirmation), or nothing when there are no finalists
  local rows; rows=$(finalists | paste -sd, -)
  [ -z "$rows" ] && return 0
  $PY - "$rows" <<'PYEOF'
import sys
from admrl_jax import study_results as sr, study_selection as sel
_, _, rows = sr.study_rows("docs/runs/corner_confirmation")
need = sys.argv[1].split(",") + ["admrl", "unif"]
short = {r: len([e for e in rows.get(r, []) if e.get("planner")]) for r in need}
short = {r: n for r, n in short.items() if n < 10}
if short:
  raise SystemExit(f"confirmation incomplete (rows with fewer than 10 seeds evaluated): {short}; "
                   "run: experiments/corner_screening.sh confirm")
print(sel.confirmation(rows, sys.argv[1].split(","))["chosen"] or "")
PYEOF
}

case "${1:-}" in
  patience)
    for P in 5 10 20; do
      $PY -m experiments.study --config=$CORNER --commit --study=corner_patience --methods=admrl \
        --variant=restart_p$P --config.adversary.restart_patience=$P --seeds=5,6,7
    done ;;
  pick)
    pick ;;
  screen)
    P=$(pick)
    echo "restart patience P = $P (the protocol's rule on docs/runs/corner_patience)"
    run_rows corner_screening $CORNER 0,1,2,3,4 "${ROWS[@]}" ;;
  finalists)
    finalists ;;
  confirm)
    F=$(finalists)
    if [ -z "$F" ]; then echo "no finalists (no row below MB-Unif in docs/runs/corner_screening): nothing to confirm"; exit 0; fi
    echo "finalists: $F"
    for row in unif admrl $(echo "$F" | grep -vx admrl || true); do
      run_rows corner_confirmation $CORNER 10,11,12,13,14,15,16,17,18,19 $row
      if [ $row != admrl ] || echo "$F" | grep -qx admrl; then   # MB-Unif's and the finalists' curves, seeds 10-14,
        # every kept checkpoint (20, 40, 60, 80), at once: the checkpoints live in the machine-local runs/
        $PY -m experiments.study_curves --study=corner_confirmation --commit \
          --runs=$row-s10,$row-s11,$row-s12,$row-s13,$row-s14
      fi
    done ;;
  chosen)
    chosen ;;
  args)   # args <row>: the row's arguments to experiments.study (another study's script runs the chosen row)
    row_args "${2:?give a row: gauss ${ROWS[*]}}" ;;
  heldout)
    C=$(chosen)
    if [ -z "$C" ]; then
      echo "no chosen adversary (no finalists, or none with a finite p): the held-out folders get MB-Unif, MB-Gauss, AdMRL"
    fi
    for spec in "pockets_heldout experiments/configs/point_mass_pockets_study.py" \
                "point_mass_heldout experiments/configs/point_mass_study.py"; do
      set -- $spec
      # shellcheck disable=SC2086
      run_rows $1 $2 0,1,2,3,4 unif gauss admrl $(echo "$C" | grep -vx admrl || true)
    done ;;
  coverage)   # the protocol's "Reported": the share of each run's tasks in the family's hard regime, per
              # evaluator (planner, policy, floor) where each run's worst task landed (* inside the region),
              # and the local link (study_coverage --local) for the region's test tasks
    for spec in "corner_screening corner" "corner_confirmation corner" "pockets_heldout pockets" \
                "point_mass_heldout point_mass"; do
      set -- $spec
      F=docs/runs/$1
      [ -d "$F" ] || { echo "$F: no such folder yet, passed over"; continue; }
      case $2 in   # name:lo:hi boxes of (psi_1, psi_2)
        corner) REGIONS=("the corner regime:1.2,1.2:2,2" "psi_1 < -0.5 (the far side):-2,-2:-0.5,2") ;;
        pockets) REGIONS=("the pocket at (-4/3, 2/3):-1.6833,0.3167:-0.9833,1.0167"
                          "the pocket at (2/3, -4/3):0.3167,-1.6833:1.0167,-0.9833"
                          "psi_1 < -0.5:-2,-2:-0.5,2") ;;
        point_mass) REGIONS=("psi_1 < -0.5:-2,-2:-0.5,2" "the corner [1.2, 2]^2:1.2,1.2:2,2") ;;
      esac
      for region in "${REGIONS[@]}"; do
        IFS=: read -r name lo hi <<< "$region"
        for kind in planner policy floor; do
          echo "### $name; the $kind's worst task"; echo
          $PY -m experiments.study_coverage $F --lo=$lo --hi=$hi --evaluator=$kind; echo
        done
        echo "### $name: a run's tasks within 1/3 of each test task there against its planner gap there"; echo
        $PY -m experiments.study_coverage $F --lo=$lo --hi=$hi --local=0.3333; echo
      done > $F/coverage.md
      git add $F/coverage.md && git commit -q -m "Study $1: coverage of the family's hard regions ($F/coverage.md)" -- $F/coverage.md
      echo "$F/coverage.md"
    done ;;
  *)
    sed -n '2,19p' "$0"; exit 2 ;;
esac
