"""Private parts of benchmarks/report.py, one concept per module: settings and the toolchain defaults, training
one seed, aggregation over seeds, targets, deployment cost and latency, sweeps, the estimate, tables, plots."""
