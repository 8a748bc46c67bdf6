"""The analysis under each figure in docs/benchmarks.md: what bounds it, from the measured tables and the
profiles named here. Kept beside the code so a re-run rewrites the numbers and keeps the reading; update
it when the numbers change what it says (last read against the 2-core CPU run of 2026-11-25)."""

NOTES = {
    "model_rollout": """
**What bounds it.** At 1024 rollouts the rollout runs at the matmul's own rate (the 1000 x 1000 layer
is a [1024, 1000] x [1000, 1000] product per step; the efficiency can exceed 1 because the 2048^3
reference matmul itself is not at the CPU's best shape). At the reference's 50 rollouts each step
is a [50, 1000] x [1000, 1000] product (0.1 GFLOP), about 0.6 ms, and each of the 200 steps of the
`lax.scan` also pays the policy's 32-wide layers, the normaliser arithmetic and the loop's own
bookkeeping, which do not shrink with the batch: that fixed per-step cost is the 15 % left at batch
50. **What would close it:** more rollouts per step (the figure reaches 1.0 at 1024), i.e. batching
the K tasks' model rollouts into one product, which the outer step already does when K > 1.
""",
    "outer_iteration": """
**What bounds it.** The per-part table is the profile: at the paper sizes, model fitting and model
rollouts run within 1.2x of the matmul rate and the TRPO update within 1.6x (its Fisher-vector
products, line search and value fit are small policy-sized operations); the whole iteration's 1.7x
adds the real-environment collection, the value fits and the task gradient, none of which has
large matmuls. At the `cpu` config the networks are small (a 128 x 128 model, 32 x 32 policy, 32
rollouts of 50 steps): a [32, 128] x [128, 128] product is 0.5 MFLOP, a few microseconds, so every
part is bound by per-operation and per-scan-step overhead, not FLOPs (2.8-5.7x per part). The
floor counts dense-layer FLOPs only. **What would close it:** at the paper sizes, the TRPO update
(fusing its CG's Fisher products over the batch) and more rollouts per product (K tasks); at the
`cpu` sizes nothing short of larger batches: the floor is not reachable with 0.5-MFLOP products.
""",
    "task_gradient": """
**What bounds it.** Each normal-equation CG iteration applies H twice; with the shipped pathwise H
each product is a JVP of the gradient of the model's return through the whole reparameterised rollout
(64 x 50 model and policy steps), linearised once and replayed per product. The cost is linear in the
CG iterations. The CG-error table is the measurement that picks the count: with the damping relative to
H's scale (0.1 ||H||^2 / n, the shipped setting) the damped system is well conditioned (condition number
about 11 in a quick run, 2026-11-25) and CG reaches the float32 floor by 20 iterations (implicit term's
error 2e-5 at 10), so the config ships 20. The reference's way (LVC H, GAE weights, absolute damping 0.1,
200 iterations per psi dimension dispatched from Python) is timed beside it; it is a different estimator,
so only its cost is compared.
**What would close it:** fewer gradient rollouts (the cost is linear in them); the `direct` solver (one
H product per iteration instead of two; valid where H is negative definite, i.e. at a converged inner
maximum); an early exit from CG once its tolerance is met (the fixed-budget loop pays for every
iteration). A ratio below 1 is out of reach by construction: the estimator does more work than one update.
""",
    "collection": """
**What bounds it.** Both sides spend their time in the same Brax physics step; ours also computes the
SPEC features (c, f) and the termination from each observation and freezes the observation after a
termination (Brax's acting resets instead), which is within the run-to-run noise here. Nothing to close.
""",
    "task_vectorisation": """
**What bounds it.** Arithmetic, not overhead: the step runs at the same multiple of its FLOP floor
at every K (the "step / FLOP floor" column stays within 4.3-4.6x), so its ratio to K = 1 follows the
floor's ratio, and the floor itself grows 13x from K = 1 to K = 16, because only the model fit and
collection are shared between tasks; every per-task policy and value product is K times the work.
On 2 CPU cores XLA already spreads the K = 1 step's products over both cores (intra-op parallel loops
over the rollout batch), so batching K tasks finds no idle hardware to fill. Vectorisation removes the Python and
dispatch overhead (one jit, no per-task loop), not the arithmetic. **What would close it:** hardware
with idle parallelism at K = 1 (an accelerator, where the K = 1 step uses a small fraction of the
device), or sharding the task axis over devices (`devices` > 1, tested equal to one device); on this
CPU the goal is below the floor for K = 16.
""",
    "compiles": """
One compilation for the whole run is the design: tasks are traced arguments, and every shape is fixed
by the config.
""",
    "hopper_phases": """
**The machine was shared.** The run (2026-12-05 21:08-21:26 UTC) had a PointMass study and test and
gradient-quality runs on the same 2 cores throughout (1-minute load average 3.3-5.1; `uptime` 4.60 before,
4.23 after, 5-minute). The matmul ran at 115 GFLOP/s in these rounds against 345 GFLOP/s on the idle
machine the same day (20:07 UTC, load 0.1), while the step's small operations slowed far less (the TRPO
update on the model: 0.072 s in one idle measurement, 0.084 s here), so every FLOP-floor ratio above is
compressed by the load (idle, the update on the model sat near 10x its floor, not 4x); the shares, and the
variants against the shipped update timed in the same rounds, are the reading that carries over. Re-run on
an idle machine: `.venv/bin/python -m benchmarks.run --only=hopper_phases` (18 min here).

**Where the time goes.** The 200 TRPO updates on the model are 78 % of the outer step, the task gradient
11 %, the 20 model fits 9 %, real collection 2 % (at brax's own acting rate: 1.10). The phases sum to the
whole step (101 %): the step's glue (normalisers, buffer writes, the scans' carries) costs nothing
measurable, and the buffer of 100 iterations changes nothing (22.5 against 21.6 s, within the rounds'
spread of about 10 %; one model fit 0.100 s with either buffer; a checkpoint 0.09 s). Compile: 88-101 s
for the step, 16-35 s of start-up (`loop.init` runs its random-action episodes eagerly), 40 s for the policy
evaluator's program and 67 s for the floor's.

**Where the distance from the floor lies.** Not in the model's products: the model rollouts sit at 2.3x
their floor (2.1x with the action zero, so the 32-wide policy inside the scan costs about 13 % of a
rollout), and the model fit at 2.5x. It lies in the TRPO update itself (6.6x): its conjugate gradients
(48 % of the update, 8.7x), its line search (20 %, 7.9x) and its value fit (32 %, 11.8x); each share is the
update less one variant, so they carry the rounds' noise (they sum to 100 %, where GAE, the surrogate's
gradient and the old policy took 13 % in a separate measurement). Two causes, measured: (1) the policy's layers are thin (widths 11 -> 32 -> 32 -> 3): alone, at the update's 6400
samples, its forward and its forward + backward run at 3.1-3.2x their floor. Each product reads and writes
a [6400, 32] activation for 32 multiply-adds per element: the arithmetic intensity is set by the width, not
the batch, so more rows (K tasks, seeds: figures 5 and 7) cannot raise it; at 64,000 rows it falls further
as the activations leave the cache (a 32 x 32 tanh layer: 0.50 of the matmul rate at 6400 rows, 0.34 at
64,000, measured separately). (2) work the floor does not count: the elementwise operations around those
products (tanh and its derivative, the Gaussian log-densities and KLs, the masks, the gradients'
accumulation and transposition copies; a `jax.profiler` trace of the update shows the add and copy fusions
of the Fisher products' backward pass taking as long as their dot products), two sort-based permutations of
6400 indices per update for the value fit's minibatches (6.1 ms of the update's 119 ms: XLA's CPU sort),
and line-search candidates that are computed and thrown away: the first candidate was accepted in every
update measured, so 9 of the 10 vmapped candidates are waste. (Timed as programs of their own the update's
parts cost more than inside the step's fused program: the update alone 0.119 s, the rollouts and update
together 0.084 s, so the shares, not the sums, are the reading.)

**What would close it.** Measured on one round's 10 updates (`benchmarks/trpo_variants.py`; `trpo.py` as
measured, whose line search has since become the sequential one below, bit for bit the same policies): a line search that stops at the first acceptable candidate (`lax.while_loop`) takes
0.90x the time and gives the same policy bit for bit; the Fisher product in Gauss-Newton form (one JVP and
one VJP through the policy per CG step, exact at the update's point) 0.95x, equal after one update to
1.3e-6 of the step; both 0.79x. The Gauss-Newton policies drift apart over 10 updates (0.50 of their
displacement) the way any rounding-sized change does: in a separate run with the same code (a model fitted
1000 steps on the first random episodes), the shipped update from a start nudged by 1e-7 of its first step
landed 1.5e-5 away after one update and 0.12 after 10, the Gauss-Newton update 1.2e-6 and 0.09 (the
figure's next run prints this control under the table). So it changes every run's numbers, and the shipped
floor tables, without changing anything in distribution; the sequential search does not. A cheaper shuffle for
the value fit would save up to 5 % of the update but changes the random stream (the same caveat). The
thin-layer ceiling stays on this CPU (about 3x): an accelerator, or fewer and wider layers.

**A 100-iteration config within 25 minutes.** At this config N = 100 takes 39 min under this load, and about
31 min plus compile idle (idle per-call times of the same day, 3 calls each: TRPO update on the model
0.072 s, model fit 0.068 s, collection 0.125 s; with this run's task gradient about 18.5 s per iteration):
the knobs are needed either way. Measured costs per iteration (this load): halving `trpo.model_rollouts`
(32 -> 16) saves 8.0 s (the update on the model 0.084 -> 0.044 s); one round fewer 0.94 s; one TRPO update
fewer per round 1.7 s (0.87 s at 16 rollouts); halving `model.fit_steps` 1.0 s; `checkpoint.every` nothing
worth having (0.08 s). From the N = 100 step's 22.5 s, with 1.7 min of compile and start-up, at this load:
`model_rollouts = 16` alone: 14.5 s per iteration, 25.9 min (misses by a minute); `model_rollouts = 16` and
`updates_per_round = 8`: 12.7 s, 22.9 min; `model_rollouts = 16` and 16 rounds (8 warm-up, 2 stages of 4):
12.3 s, 22.3 min; 32 rollouts and 12 rounds (6 warm-up, 2 stages of 3): 15.0 s, 26.7 min (misses). Idle,
each is faster (the first about 12 s per iteration, scaling the idle 18.5 s by the measured saving). Each
keeps the 4,800 real steps per iteration; what each costs in the gap is not measured here.
`model_rollouts` also sets the evaluator's (and the floor's) episodes per update, so it halves their cost and
changes the floor's cache key. The evaluators: the policy evaluator 4.3 s per task, 96 task slots for the
73 tasks of the grid and the OOD set at a task batch of 16 (each set padded to whole batches): 7 min a run;
the floor 16 s per task, 26 min a run: it must be shipped, not computed, for a 40-minute whole run.

**The study config, measured whole: the goal met** (the figure's "missed" is `hopper_2d_cpu`'s config above; this is not a figure of this script: one run, 2026-12-06 07:15-07:30 UTC, the
idle machine, commit 4d1b4f6, the six V* and floor tables shipped). `experiments/configs/hopper_2d_study.py`
(`model_rollouts = 16`, `updates_per_round = 8`, the sequential line search) trains N = 100 in 584 s plus a
41-s compile of the outer step: **10.4 minutes** (5.4-6.1 s per iteration; goal 25). The whole run with
the study's evaluation (the policy evaluator and the model planner on the 49 in-box and 24 OOD tasks, V*
and the floor loaded from the shipped tables) took **922.5 s, 15.4 minutes** (goal 40): evaluation 297 s,
of it the model planner 91.2 + 37.2 s and the policy evaluator 103.0 + 43.6 s (in-box + OOD). Evidence:
`docs/runs/hopper_2d_study_timing/` (summary.json: train_time_s, compile_time_s,
eval_time_s, wall_time_s; train.log). Command: `experiments/hopper_study.sh timing`, which runs
`.venv/bin/python -m experiments.train --config=experiments/configs/hopper_2d_study.py
--run_dir=runs/hopper_2d_study_timing/admrl-s0-whole --config.seed=0`.
""",
    "seeds": """
Missed on this CPU. The five-seed step takes 5.4 x the one-seed step: batching the seeds' products
recovered none of the one-seed step's distance from its FLOP floor (6.7 x; the five-seed step sits at
7.6 x its five-times-larger floor, 0.92 x the per-seed throughput). Figure 5 finds the same for K
tasks; XLA already spreads the one-seed step's larger products over both cores, and the remaining
distance lies in work that batching here does not shrink (where exactly was not measured: the per-part
ratios of figure 2 are the place to start). What side by side buys on this machine is one compilation
instead of five (94 s for the five-seed step against 86 s for one seed, 432 s for five solo compiles)
and one host loop; the seeds' numbers stay their solo runs' (tests/test_seeds.py). **What would meet
it:** hardware with idle parallelism at one seed (an accelerator, where one seed's step fills a small
part of the device), or seeds over devices.
""",
}
