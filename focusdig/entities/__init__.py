"""Entities: the watchlist, mention extraction, entity-level sentiment and daily rollups.

- ``watchlist``: entities with tickers and aliases; CSV import validated whole; built-in lists.
- ``extract``: find mentions (names, aliases, cashtags, exchange patterns, tickers) with spaCy.
- ``scan``: the pipeline step: mentions and one entity score per (item, entity), per batch.
- ``rollups``: per entity and UTC day, recomputed for the days a batch touched.
"""
