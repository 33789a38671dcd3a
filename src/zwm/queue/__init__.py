"""A durable job queue: jobs, drivers (database, Redis, sync), workers, failures, batches.

It knows nothing of Zuora and nothing of the catalog; it could be released on its own.
"""
