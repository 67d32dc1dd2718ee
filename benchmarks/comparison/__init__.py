"""Private parts of benchmarks/report.py: FLOPs, export of the baselines, latency, tables, plots."""
