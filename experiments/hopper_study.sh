#!/usr/bin/env bash
# Issue 26's Hopper2D study at N = 100, in the order its protocol (docs/results.md, "Hopper2D at N = 100: the
# study protocol") needs it. Every stage but the timing is resumable and commits as it goes: run it again.
#
#   experiments/hopper_study.sh v_star      # V* and floor tables in pieces (MPC, policy oracle, floor; in-box, OOD)
#   experiments/hopper_study.sh ship        # once every piece is saved: ship the assembled tables
#   experiments/hopper_study.sh timing      # one AdMRL run, whole (train + evaluation), outside the study folder
#   experiments/hopper_study.sh study       # AdMRL, MB-Unif, MB-Gauss, seeds 0-4, few-shot rows, curve at 20, 60
#   experiments/hopper_study.sh cost        # the baselines' training cost: 2 chunks of each, outside the study folder
#   experiments/hopper_study.sh baselines   # multitask, MAML, PEARL, seeds 0-2, 10x with every 1x kept
#   experiments/hopper_study.sh curves      # catch-up of the kept checkpoints' evaluation (gap against samples)
#   experiments/hopper_study.sh coverage    # the share of each run's tasks in the protocol's four regions
#   experiments/hopper_study.sh noise       # each published model-based run's final model under KEYS (3) evaluation keys,
#                                           # then the folder's noise table (evaluation_noise/table.md) recomputed
#   experiments/hopper_study.sh model_error # the model link: every model-based run with checkpoints here, its final
#                                           # model's prediction error per task cell on the other runs' real data
#   experiments/hopper_study.sh optimism    # the planner audited: each published model-based run's final model
#                                           # (checkpoints here), its chosen plans' promised minus true return
#   experiments/hopper_study.sh alignment   # the gradient-direction link: AdMRL's (and the chosen adversary's) logged
#                                           # task gradients against the measured gap maps' slopes
#   experiments/hopper_study.sh all         # every stage still to do, in the fourth amendment's order (below)
#
# SEEDS="0 1 2" limits study or baselines to those seeds (the fourth amendment's order: the model-based
# seeds 0-2, then the baselines, then the model-based seeds 3-4), e.g. SEEDS="0 1 2" experiments/hopper_study.sh study;
# `all` runs that order, then the curves' catch-up and the coverage: one command resumes the whole study.
#
# One computation at a time on the 2-core CPU. Measured there: an MPC piece (8 tasks) 13.8 min, training 11.5
# min; the rest is written into docs/results.md as it is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
C=experiments/configs/hopper_2d_study.py
B=experiments/configs/hopper_2d_baselines.py
FEW=("--config.eval.few_shot_episodes=(10,20,30)" "--config.eval.few_shot_rounds=2")   # 5 new episodes a round (the Brax paper configs')
CURVE=20,60   # the model-based runs' kept checkpoints evaluated for the gap against real samples (third amendment)
TABLES=("mpc in_box 7" "policy in_box 4" "floor in_box 4" "policy ood 2" "floor ood 2" "mpc ood 3")

ship_tables() {   # ship every table (done already: a no-op); exit 2 naming the missing pieces of any table
  for spec in "${TABLES[@]}"; do
    set -- $spec
    $PY -m experiments.oracle_table --config=$C --oracle=$1 --set=$2 --pieces=$3 --piece=status --ship --commit
  done
}

commit_files() {   # commit_files <message> <path>...: git add + commit of those paths, retried while another git
                  # process (a study's commit) holds the index
  local message=$1; shift
  for _ in 1 2 3 4 5; do
    if git add -- "$@" && git commit -q -m "$message" -- "$@"; then return 0; fi
    sleep 5
  done
  echo "not committed (commit them by hand): $*" >&2; return 1
}

published() {   # published <method>...: the folder's published runs of these methods (<method>-s<seed>), one per line
  (cd docs/runs/hopper_2d_n100 && shopt -s nullglob && for m in "$@"; do
     for d in "$m"-s*; do if [ -f "$d/summary.json" ]; then echo "$d"; fi; done; done)
}

curve() {   # curve <run> [study_curves flags]: a run's kept checkpoints evaluated; a run whose checkpoints are
            # gone from the machine-local runs/ (another machine) is named and passed over, not a stop
  local run=$1; shift
  if [ -d runs/hopper_2d_n100/$run/checkpoints ]; then
    $PY -m experiments.study_curves --study=hopper_2d_n100 --runs=$run --commit "$@"
  else
    echo "$run: no kept checkpoints in runs/hopper_2d_n100/$run (another machine?): its curve points are not evaluated" >&2
  fi
}

case "${1:-}" in
  v_star)
    for spec in "${TABLES[@]}"; do
      set -- $spec
      $PY -m experiments.oracle_table --config=$C --oracle=$1 --set=$2 --pieces=$3 --piece=all --commit
    done ;;
  ship)
    ship_tables
    W=docs/runs/hopper_2d_v_star/winners.md
    $PY -m experiments.oracle_winners --config=$C --reach=4 | tee $W
    git add $W && git commit -q -m "Hopper2D's V*: per-task winners of the shipped tables ($W)" -- $W ;;
  timing)   # a timing is one uninterrupted run: an interrupted one is started again, not resumed
    ship_tables   # exits unless all six tables are shipped: an evaluation would compute them itself
    T=runs/hopper_2d_study_timing/admrl-s0-whole
    if [ -f $T/summary.json ]; then echo "$T: finished already (its time_s and the evaluation's log lines)"; exit 0; fi
    rm -rf $T; mkdir -p "$(dirname $T)"
    $PY -m experiments.train --config=$C --run_dir=$T --config.seed=0 2>&1 | tee $T.log ;;
  study)
    # seeds outermost; after each run, at once (its checkpoints live in runs/ only): its curve's points at
    # iterations 20 and 60 (the protocol's third amendment), zero-shot
    # issue 27's chosen adversary joins, same seeds, once chosen (experiments/corner_screening.sh chosen)
    ship_tables
    CHOSEN=$(experiments/corner_screening.sh chosen 2>/dev/null) || CHOSEN=""
    if [ -z "$CHOSEN" ] || [ "$CHOSEN" = admrl ]; then
      echo "issue 27's chosen adversary: ${CHOSEN:-none yet (experiments/corner_screening.sh chosen)}; no row of its own"
      CHOSEN=""
    else
      echo "issue 27's chosen adversary: $CHOSEN ($(experiments/corner_screening.sh args $CHOSEN))"
    fi
    for seed in ${SEEDS:-0 1 2 3 4}; do
      for row in unif gauss admrl $CHOSEN; do
        ARGS=$(experiments/corner_screening.sh args $row)   # (an assignment: a failure stops the script)
        # shellcheck disable=SC2086   # a row's arguments are words without spaces
        $PY -m experiments.study --study=hopper_2d_n100 --config=$C --seeds=$seed "${FEW[@]}" --commit $ARGS
        curve $row-s$seed --iterations=$CURVE
        KEYS=3 EVALUATORS=planner RUNS=$row-s$seed "$0" noise   # the fifth amendment's secondary statistic
        RUNS=$row-s$seed "$0" optimism                          # the model-exploitation link (item 6)
      done
    done ;;
  cost)   # per baseline, seed 0, outside the study folder: its study run's compile and two chunks, then killed
          # (the rows are on disk; no checkpoint is needed); the second chunk alone is timed (metrics' time_s: seconds
          # since the compile, at each chunk's end); the compile from the run's log. Written to $CO/cost.md
    CO=runs/hopper_2d_baseline_cost; mkdir -p $CO; : > $CO/cost.md
    for spec in "multitask 750 25" "maml 60 6" "pearl 3010 43"; do
      set -- $spec
      T=$CO/$1
      rm -rf $T
      $PY -m experiments.train --config=$B --config.method=$1 --run_dir=$T --config.loop.iterations=$2 \
        --config.loop.iterations_per_chunk=$3 --config.checkpoint.every=$2 --config.checkpoint.keep_period=0 > $T.log 2>&1 &
      pid=$!
      while kill -0 $pid 2>/dev/null; do
        if [ -f $T/metrics.csv ] && [ $(($(wc -l < $T/metrics.csv) - 1)) -ge $((2 * $3)) ]; then
          kill -KILL $pid 2>/dev/null || true; break
        fi
        sleep 2
      done
      wait $pid 2>/dev/null || true
      if [ ! -f $T/metrics.csv ] || [ $(($(wc -l < $T/metrics.csv) - 1)) -lt $((2 * $3)) ]; then
        echo "$1: the run ended before two chunks (see $T.log)" | tee -a $CO/cost.md; continue
      fi
      compile=$(tr '\r' '\n' < $T.log | grep -o "compiled the outer step[^,;]*" | tail -1 || true)
      $PY - "$T/metrics.csv" $1 $2 $3 "${compile:-compile: not found in the log}" <<'PY' | tee -a $CO/cost.md
import csv, os, sys
path, method, iterations, chunk, compile_line = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = list(csv.DictReader(open(path)))
first, second = float(rows[chunk - 1]["time_s"]), float(rows[2 * chunk - 1]["time_s"])
per_it = (second - first) / chunk
steps = (float(rows[2 * chunk - 1]["real_steps"]) - float(rows[chunk - 1]["real_steps"])) / chunk
print(f"- {method}: {compile_line}; first chunk {first:.0f} s; second chunk {per_it:.2f} s per iteration, {steps:.0f} "
      f"real steps per iteration ({steps / per_it:.0f} per s); {iterations} iterations: {iterations * per_it / 3600:.2f} h "
      f"of training; load average {os.getloadavg()[0]:.1f} at its end ({os.cpu_count()} cores; the run alone keeps "
      f"it near that: well above it, something else was running and the figures are not the run's alone)")
PY
    done ;;
  baselines)
    # iterations: 10x the model-based real-sample maximum at full-length episodes; every 1x kept (the config).
    # After each run, at once (its checkpoints live in runs/ only, which a change of machine loses): the 1x
    # point (the first kept checkpoint) with its few-shot rows, a primary row; then the curve's other points.
    ship_tables
    for spec in "multitask 750 25 75" "maml 60 6 6" "pearl 3010 43 301"; do
      set -- $spec
      for seed in ${SEEDS:-0 1 2}; do
        $PY -m experiments.study --study=hopper_2d_n100 --config=$B --methods=$1 --seeds=$seed \
          --config.loop.iterations=$2 --config.loop.iterations_per_chunk=$3 --config.checkpoint.every=$4 \
          --config.checkpoint.keep_period=$4 --commit
        $PY -m experiments.study_curves --study=hopper_2d_n100 --runs=$1-s$seed --iterations=$4 --few_shot --commit
        $PY -m experiments.study_curves --study=hopper_2d_n100 --runs=$1-s$seed --commit
      done
    done ;;
  curves)   # catch-up: the model-based runs' points at $CURVE, the baselines' every kept checkpoint
    for run in $(published unif gauss admrl $(experiments/corner_screening.sh chosen 2>/dev/null || true)); do curve $run --iterations=$CURVE; done
    for run in $(published multitask maml pearl); do curve $run; done ;;
  noise)   # the evaluation-noise link: each published model-based run's final model (its checkpoints in runs/, this
           # machine) evaluated again under ${KEYS:-3} keys (key 0: the study's own) by ${EVALUATORS:-planner}; RUNS= names runs
    F=docs/runs/hopper_2d_n100; O=$F/evaluation_noise; mkdir -p $O
    for run in ${RUNS:-$(published unif gauss admrl $(experiments/corner_screening.sh chosen 2>/dev/null || true))}; do
      if [ ! -f $O/$run.json ]; then
        if [ ! -d runs/hopper_2d_n100/$run/checkpoints ]; then
          echo "$run: no checkpoints in runs/ here: not measured" >&2; continue
        fi
        $PY -m experiments.evaluation_noise --run_dir=runs/hopper_2d_n100/$run --published=$F --keys=${KEYS:-3} \
          --evaluators=${EVALUATORS:-planner} --out=$O/$run.json.part > $O/$run.md.part
        cat $O/$run.md.part
        mv $O/$run.md.part $O/$run.md; mv $O/$run.json.part $O/$run.json
      fi
      if git ls-files --error-unmatch $O/$run.json > /dev/null 2>&1 && git diff --quiet HEAD -- $O/$run.json $O/$run.md; then
        echo "$run: measured and committed already ($O/$run.json)"; continue
      fi
      commit_files "Hopper2D study: $run's final model under several evaluation keys ($O/$run.md)" $O/$run.json $O/$run.md
    done
    # the table: the planner's (the fifth amendment's secondary statistic; measured in every run)
    if ! $PY -m experiments.evaluation_noise --table=$F --evaluators=planner > /dev/null; then
      echo "noise table: not recomputed (the error above)" >&2
    elif git diff --quiet HEAD -- $O/table.md; then echo "noise table: unchanged"
    else commit_files "Hopper2D study: the evaluation-noise table recomputed ($O/table.md)" $O/table.md; fi ;;
  all)   # the fourth amendment's order; every stage skips what is published already
    SEEDS="0 1 2" "$0" study
    SEEDS="0 1 2" "$0" baselines
    SEEDS="3 4" "$0" study
    "$0" model_error
    "$0" optimism
    "$0" curves
    "$0" coverage
    "$0" alignment ;;
  model_error)   # one pool: the published model-based runs whose checkpoints are here (runs/ is machine-local),
                 # each scored on the others' real trajectories; written as model_error/map_s<seeds>.json, .md, .png
    F=docs/runs/hopper_2d_n100; O=$F/model_error
    names=$(for run in $(published unif gauss admrl $(experiments/corner_screening.sh chosen 2>/dev/null || true)); do
              if [ -d runs/hopper_2d_n100/$run/checkpoints ]; then echo $run; fi; done | paste -sd, -)
    if [ "$(echo "$names" | tr ',' '\n' | grep -c .)" -lt 2 ]; then
      echo "model_error: fewer than 2 published model-based runs with checkpoints here ($names): nothing measured" >&2; exit 0
    fi
    seeds=$(echo "$names" | tr ',' '\n' | sed 's/.*-s//' | sort -un | paste -sd- -)
    OUTF=$O/map_s$seeds.json
    if [ -f $OUTF ] && [ "$($PY -c "import json,sys; print(','.join(json.load(open(sys.argv[1]))['pool']))" $OUTF)" = "$names" ]; then
      echo "model_error: $OUTF measured this pool already"; exit 0
    fi
    mkdir -p $O
    $PY -m experiments.model_error_map $F --runs_root=runs/hopper_2d_n100 --runs=$names --out=$OUTF \
      --regions="fast backward:-2,1.2:-1.3333,2.0" --regions="fast forward:1.3333,1.2:2,2.0" \
      --regions="high:-2,1.87:2,2.0" --regions="slow-backward-low:-2,1.2:0,1.47"
    commit_files "Hopper2D study: the model link, final models' prediction error per task cell ($OUTF)" \
      $OUTF ${OUTF%.json}.md ${OUTF%.json}.png ;;
  optimism)   # the model-exploitation link: each published model-based run's final model (checkpoints in runs/,
              # this machine) planned through again with the study's key, every chosen plan scored by the model
              # and by the true system; RUNS= names runs; then the folder's table (planner_optimism/table.md)
    F=docs/runs/hopper_2d_n100; O=$F/planner_optimism; mkdir -p $O
    for run in ${RUNS:-$(published unif gauss admrl $(experiments/corner_screening.sh chosen 2>/dev/null || true))}; do
      if [ ! -f $O/$run.json ]; then
        if [ ! -d runs/hopper_2d_n100/$run/checkpoints ]; then
          echo "$run: no checkpoints in runs/ here: not audited" >&2; continue
        fi
        $PY -m experiments.planner_optimism --run_dir=runs/hopper_2d_n100/$run --published=$F --out=$O/$run.json.part
        mv $O/$run.json.part $O/$run.json
      fi
      if git ls-files --error-unmatch $O/$run.json > /dev/null 2>&1 && git diff --quiet HEAD -- $O/$run.json; then
        echo "$run: audited and committed already ($O/$run.json)"; continue
      fi
      commit_files "Hopper2D study: $run's model planner audited (promised minus true return of its plans, $O/$run.json)" $O/$run.json
    done
    if ! $PY -m experiments.planner_optimism --table=$F > /dev/null; then echo "optimism table: not recomputed" >&2
    elif git ls-files --error-unmatch $O/table.md > /dev/null 2>&1 && git diff --quiet HEAD -- $O/table.md; then
      echo "optimism table: unchanged"
    else commit_files "Hopper2D study: the planner-optimism table recomputed ($O/table.md)" $O/table.md; fi ;;
  alignment)   # from the published files: each AdMRL row's logged task gradients against the slope of the gap
               # maps evaluated at the curve's iterations (policy: the next 5 and the next 39; planner: the next 5)
    F=docs/runs/hopper_2d_n100
    rows=$(echo admrl $(experiments/corner_screening.sh chosen 2>/dev/null || true) | tr ' ' ',')
    for spec in "policy 5" "policy 39" "planner 5"; do
      read -r evaluator window <<< "$spec"
      echo "### \`python -m experiments.task_gradient_alignment $F --rows=$rows --evaluator=$evaluator --window=$window\`"; echo
      $PY -m experiments.task_gradient_alignment $F --rows=$rows --evaluator=$evaluator --window=$window; echo
    done > $F/task_gradient_alignment.md.part
    mv $F/task_gradient_alignment.md.part $F/task_gradient_alignment.md
    if git diff --quiet HEAD -- $F/task_gradient_alignment.md; then echo "alignment: unchanged"
    else commit_files "Hopper2D study: the gradient-direction link recomputed (task_gradient_alignment.md)" \
      $F/task_gradient_alignment.md; fi ;;
  coverage)   # the protocol's four regions of (velocity, height) in [-2, 2] x [1.2, 2.0]
    F=docs/runs/hopper_2d_n100
    for region in "fast backward:-2,1.2:-1.3333,2.0" "fast forward:1.3333,1.2:2,2.0" "high:-2,1.87:2,2.0" \
                  "slow-backward-low:-2,1.2:0,1.47"; do
      IFS=: read -r name lo hi <<< "$region"
      echo "### $name"; echo
      $PY -m experiments.study_coverage $F --lo=$lo --hi=$hi; echo
    done | tee $F/coverage.md
    git add $F/coverage.md && git commit -q -m "Hopper2D study: coverage of the protocol's four regions" -- $F/coverage.md ;;
  *)
    sed -n '2,/^set -e/p' "$0" | sed '$d'; exit 2 ;;
esac
