"""Benchmarks: `python -m bench [name ...]` runs bench/bench_<name>.py's main() (all by default)."""
