"""Benchmarks: speed and memory measured side by side in one run, printed as tables and
kept under reports/benchmarks/. Run each from the checkout's root as a module:
``.venv/bin/python -m benchmarks.bench_report``."""
