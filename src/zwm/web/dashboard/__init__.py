"""The Jobs dashboard: overview, jobs, waiting, failed, batches, queues and schedule.

Pages read through the queue's read model (:mod:`zwm.queue.backlog`, ``executions``,
``failed``, ``overview``, ``charts``...) so they look and behave the same on the database
and the Redis connection. Viewers see everything but payloads; every action is a POST that
needs the operator role, and reports what it did -- or that someone else got there first.
"""
