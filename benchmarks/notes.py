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
