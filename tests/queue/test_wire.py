"""The hot-path shortcuts of the wire format and the history writer keep their meaning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from zwm.queue.history import _datetime_adapter
from zwm.queue.job import Envelope, PayloadError, load_job_class


def test_envelope_ids_are_distinct_version_4_uuids() -> None:
    ids = [Envelope(job="x.Job", args={}).id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, value)


def test_an_envelope_survives_the_trip_as_a_dict() -> None:
    envelope = Envelope(job="x.Job", args={"n": [1, 2]}, attempts=3, backoff=[1.0], batch_id="b")
    assert Envelope.from_dict(envelope.to_dict()) == envelope
    assert Envelope.from_json(envelope.to_json()) == envelope


def test_fields_from_a_later_version_are_ignored_and_malformed_ones_rejected() -> None:
    data = {**Envelope(job="x.Job", args={}).to_dict(), "added_later": 1}
    assert Envelope.from_dict(data).job == "x.Job"
    with pytest.raises(PayloadError, match="malformed job or args"):
        Envelope.from_dict({"job": "x.Job", "args": [], "id": "a"})
    with pytest.raises(PayloadError, match="not a JSON object"):
        Envelope.from_dict(["x.Job"])


def test_a_missing_job_class_is_looked_up_again_and_a_found_one_is_reused() -> None:
    for _ in range(2):
        with pytest.raises(PayloadError, match="cannot import"):
            load_job_class("zwm_no_such_module.Job")
    assert load_job_class("zwm.queue.diagnostics.Noop") is load_job_class("zwm.queue.diagnostics.Noop")


@pytest.mark.backends
@pytest.mark.django_db
@pytest.mark.parametrize("offset_hours", [0, 3, -7])
def test_history_datetimes_are_written_as_the_backend_would(offset_hours: int) -> None:
    value = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=offset_hours)))
    adapt = _datetime_adapter(connection)
    expected = connection.ops.adapt_datetimefield_value
    assert adapt(value) == expected(value)
    assert adapt(datetime.now(UTC)) is not None
    assert adapt(None) is expected(None) is None
