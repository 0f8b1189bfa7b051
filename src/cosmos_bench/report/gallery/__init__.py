"""The gallery job (`python -m cosmos_bench.report.gallery.job`, the gallery rule): the cases it
shows, each drawn with its prompt and prediction, and the manifest the page reads."""
