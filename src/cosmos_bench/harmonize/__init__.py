"""Harmonize: one dataset's native files -> 2D images and masks in HDF5 shards with a Parquet
index (the harmonize rule; `python -m cosmos_bench.harmonize`).
"""
