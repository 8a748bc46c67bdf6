"""The analysis under each figure in docs/benchmarks.md: what bounds it, from the measured tables and the
profiles named here. Kept beside the code so a re-run rewrites the numbers and keeps the reading; update
it when the numbers change what it says."""

NOTES = {}
