"""Score: predictions -> per-mask metrics and object factors (the score and gather_scores rules;
`python -m cosmos_bench.score`).
"""
