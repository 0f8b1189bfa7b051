"""Infer: one (model, dataset, shard) -> predictions: every image encoded once, every prompt of
every strategy decoded against that embedding (the infer rule; `python -m cosmos_bench.infer`).
"""
