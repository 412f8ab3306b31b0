"""Benchmarks, run by `python -m benchmarks` (`make bench`); each writes its results under benchmarks/results/.

Add a benchmark by adding a module `benchmarks/bench_<name>.py` with a `main() -> None`.
"""
