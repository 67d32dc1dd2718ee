"""The bottom floor: artifact formats, preprocessing, errors and I/O that every stage shares.

Nothing here imports from the packages above it (toolchain, export, calibration, engine, runtime, cli).
"""
