"""The report's HTML page and Markdown summary, drawn from the tables: one module per part of
the page (`page` assembles them)."""
