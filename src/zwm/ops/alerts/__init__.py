"""Failure alerts: what is wrong (:mod:`.problems`), whether to say so (:mod:`.state`), and
saying it by email, Slack, Discord or a generic webhook (:mod:`.channels`).

Messages leave through jobs (:mod:`zwm.ops.jobs`), so a slow mail server never holds up a
worker's real work, and a failed delivery is retried with backoff like any job.
"""
