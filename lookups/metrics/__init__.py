"""Prometheus metrics (prometheus-client): what the service counts, and the exposition at /metrics.

lookups.metrics.instruments holds the counters and histograms the code updates as it works (cheap:
one dictionary look-up and one add each); lookups.metrics.exposition gathers them, summed over
gunicorn's workers, with what is read only when scraped (the GeoIP databases' age, the history
spool, the update runs). docs/monitoring.md lists every metric.
"""
