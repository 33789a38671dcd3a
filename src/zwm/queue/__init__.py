"""A durable job queue: jobs, drivers (database, Redis, sync), workers, failures, batches.

It knows nothing of Zuora and nothing of the catalog; it could be released on its own.
"""

from zwm.queue.connections import UnknownConnection, get_driver
from zwm.queue.dispatch import dispatch, dispatch_many, dispatch_now
from zwm.queue.job import Envelope, Exponential, Job, PayloadError

__all__ = [
    "Envelope",
    "Exponential",
    "Job",
    "PayloadError",
    "UnknownConnection",
    "dispatch",
    "dispatch_many",
    "dispatch_now",
    "get_driver",
]
