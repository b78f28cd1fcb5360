"""Benchmarks: `make bench` (all) or `make bench BENCH_ARGS="seal"` (those whose name matches)."""
