"""3D study: per-case volumes (the volumes rule) and promptable models propagated through them
(the propagate rule; `python -m cosmos_bench.propagation`).
"""
