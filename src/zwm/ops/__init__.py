"""Operations: health checks, failure alerts, Prometheus metrics, structured logs, retention.

It sits above the catalog and the queue (it reads both) and below the CLI; nothing in the
layers beneath imports it, so an installation without operators' tooling loses nothing.
"""
