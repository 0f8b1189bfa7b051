"""Report: per-mask scores -> tables with case-bootstrap CIs, figures, an HTML page and a summary
(the report and provenance rules; `python -m cosmos_bench.report`).
"""
