"""Speed benchmarks: each figure a ratio measured in one process; ``python -m benchmarks.run`` writes
docs/benchmarks.md."""
