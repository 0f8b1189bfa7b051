"""The report's tables: the score tables aggregated with their confidence intervals, the paired
comparisons, the studies' tables, the failure taxonomy and the paper's numbers; the file names
they are written under (`outputs`)."""
