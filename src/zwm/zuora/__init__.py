"""Zuora REST client for Workflow definitions: HTTP and Zuora only, no Django, no database.

Start with :class:`ZuoraClient` and :class:`Credentials`; pick a base URL by environment
slug from :data:`ENVIRONMENTS` (or :func:`resolve_base_url`). Every failure is a
:class:`ZuoraError` subclass (see :mod:`zwm.zuora.errors` for the tree).
"""

from zwm.zuora.auth import CachedToken, Credentials, MemoryTokenCache, TokenCache
from zwm.zuora.client import ClientStats, ZuoraClient, validate_track_id
from zwm.zuora.environments import ENVIRONMENTS, Environment, resolve_base_url, validate_base_url
from zwm.zuora.errors import (
    ZuoraAuthenticationError,
    ZuoraError,
    ZuoraInvalidResponseError,
    ZuoraNotFoundError,
    ZuoraPermissionError,
    ZuoraRateLimitedError,
    ZuoraRequestError,
    ZuoraTransientError,
)
from zwm.zuora.models import ExportTask, Linkage, WorkflowDefinition, WorkflowExport

__all__ = [
    "ENVIRONMENTS",
    "CachedToken",
    "ClientStats",
    "Credentials",
    "Environment",
    "ExportTask",
    "Linkage",
    "MemoryTokenCache",
    "TokenCache",
    "WorkflowDefinition",
    "WorkflowExport",
    "ZuoraAuthenticationError",
    "ZuoraClient",
    "ZuoraError",
    "ZuoraInvalidResponseError",
    "ZuoraNotFoundError",
    "ZuoraPermissionError",
    "ZuoraRateLimitedError",
    "ZuoraRequestError",
    "ZuoraTransientError",
    "resolve_base_url",
    "validate_base_url",
    "validate_track_id",
]
