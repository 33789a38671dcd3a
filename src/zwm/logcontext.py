"""Fields that every log line written inside a block should carry (customer, sync run...).

At the bottom of the package, beside :mod:`zwm.config`, so any layer can add what it knows
(the catalog binds the customer and sync run it is working on) while the log formatting
above (:mod:`zwm.ops.logs`) reads them, without the layers importing each other. A
:mod:`contextvars` variable, so threads and nested blocks each see their own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

_fields: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "zwm_log_fields", default=MappingProxyType({})
)


@contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (nested blocks add theirs)."""
    token = _fields.set(MappingProxyType({**_fields.get(), **fields}))
    try:
        yield
    finally:
        _fields.reset(token)


def current() -> Mapping[str, object]:
    return _fields.get()
