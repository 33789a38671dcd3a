"""Jobs and their wire format.

A job is a small Python class -- usually a dataclass -- whose fields are its arguments and
whose :meth:`Job.handle` does the work::

    @dataclass
    class SyncCustomerWorkflows(Job):
        customer_id: int
        trigger: str = "ui"

        queue = "default"
        tries = 3
        backoff = [60, 120]
        timeout = 600

        def handle(self) -> None: ...

What travels through a queue is an :class:`Envelope`: the job's dotted class path, its
arguments as JSON and the retry policy captured at dispatch time. JSON and never pickle:
a payload must be readable by an operator, by another version of the code, and must not
be able to execute anything when decoded.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from zwm.queue.context import JobContext


class PayloadError(ValueError):
    """A payload cannot be decoded or names a job class that cannot be loaded."""


@dataclasses.dataclass(frozen=True)
class Exponential:
    """Exponential backoff with full jitter: ``random(0, min(cap, base * 2**(attempt-1)))``.

    Full jitter (rather than a fixed doubling) spreads retries of many jobs that failed
    together -- e.g. every sync of a tenant hit by the same outage -- so they do not return
    in one synchronised wave.
    """

    base: float = 1.0
    cap: float = 300.0

    def to_json(self) -> dict[str, float]:
        return {"base": self.base, "cap": self.cap}


Backoff = float | int | Sequence[float] | Exponential | None


class Job:
    """Base class of every job. Subclasses implement :meth:`handle`.

    Class attributes set the policy; ``None`` defers to the worker's command-line option
    (``--tries``, ``--backoff``, ``--timeout``), as Laravel does, so a job can be strict
    about what it knows and leave the rest to the operator.
    """

    queue: ClassVar[str] = "default"
    connection: ClassVar[str | None] = None
    tries: ClassVar[int | None] = None
    backoff: ClassVar[Backoff] = None
    timeout: ClassVar[float | None] = None
    max_recoveries: ClassVar[int | None] = None
    """Times the job may be recovered from a lost worker (killed, OOM, host gone) before it
    fails as poison; ``None`` defers to ``ZWM_QUEUE_MAX_RECOVERIES``. A recovery uses no try."""
    dont_retry: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions that fail the job at once, whatever attempts remain (bad credentials...)."""

    context: JobContext | None = None
    """Set by the worker while :meth:`handle` runs: job id, attempt, progress reporting."""

    def handle(self) -> None:
        raise NotImplementedError(f"{type(self).__name__}.handle() is not implemented")

    def failed(self, exc: BaseException) -> None:
        """Called once when the job has failed for good (no attempt left, or ``dont_retry``)."""

    unique_for: ClassVar[float] = 3600.0
    """Seconds a unique job's lock lasts past its availability if no worker releases it
    (a crashed worker's lock frees itself); a worker releases it when the job finishes."""

    def unique_key(self) -> str | None:
        """A key that makes the job unique: while a job with this key waits or runs, another
        dispatch of the same key is dropped. ``None`` (the default) means not unique."""
        return None

    # -- arguments -------------------------------------------------------------

    def arguments(self) -> dict[str, Any]:
        """The job's arguments as JSON-ready data (dataclass fields by default)."""
        return {name: getattr(self, name) for name in _argument_names(type(self))}

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> Self:
        """Rebuild the job from :meth:`arguments` (the inverse; override for custom shapes)."""
        return cls(**arguments)

    @classmethod
    def class_path(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def dispatch(self, **options: Any) -> str | None:
        """Queue this job; see :func:`zwm.queue.dispatch` for the options."""
        from zwm.queue.dispatch import dispatch

        return dispatch(self, **options)


_JOB_CLASSES: dict[str, type[Job]] = {}
"""Job classes already found by :func:`load_job_class`: a worker's executor looks up the same
few classes thousands of times a second, and the import machinery costs microseconds each."""


_ARGUMENT_NAMES: dict[type[Job], tuple[str, ...]] = {}


def _argument_names(cls: type[Job]) -> tuple[str, ...]:
    """A dataclass job's field names, looked up once per class (``dataclasses.fields`` is
    slow enough to show in a bulk dispatch)."""
    names = _ARGUMENT_NAMES.get(cls)
    if names is None:
        fields: tuple[dataclasses.Field[Any], ...] = (
            dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
        )
        names = _ARGUMENT_NAMES[cls] = tuple(field.name for field in fields)
    return names


def load_job_class(path: str) -> type[Job]:
    """Import ``package.module.ClassName`` and check that it is a :class:`Job`.

    Only classes found are cached: a path that fails is looked up again next time (its
    module may have been deployed since)."""
    cls = _JOB_CLASSES.get(path)
    if cls is None:
        cls = _JOB_CLASSES[path] = _import_job_class(path)
    return cls


def _import_job_class(path: str) -> type[Job]:
    module_name, _, name = path.rpartition(".")
    if not module_name or not name:
        raise PayloadError(f"not a dotted class path: {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PayloadError(f"cannot import module {module_name!r} of job class {path!r}: {exc}") from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type) or not issubclass(cls, Job):
        raise PayloadError(f"{path!r} is not a job class")
    return cls


def _backoff_to_json(value: Backoff) -> list[float] | dict[str, float] | None:
    if value is None:
        return None
    if isinstance(value, Exponential):
        return value.to_json()
    if isinstance(value, int | float):
        values: Sequence[float] = [value]
    else:
        values = list(value)
    out = [float(v) for v in values]
    if not out or any(math.isnan(v) or v < 0 for v in out):
        raise ValueError(f"backoff must be non-negative seconds, got {value!r}")
    return out


def backoff_delay(policy: list[float] | dict[str, float] | None, attempt: int, rand: float) -> float:
    """Seconds to wait before the attempt after ``attempt`` (1-based) failed.

    A list gives the delay per retry and repeats its last value (``[60, 120]``: 60 s after
    the first failure, 120 s after every later one); ``rand`` in [0, 1) draws the jitter of
    an exponential policy.
    """
    if policy is None:
        return 0.0
    if isinstance(policy, dict):
        ceiling = min(policy["cap"], policy["base"] * 2.0 ** max(attempt - 1, 0))
        return ceiling * rand
    return policy[min(attempt, len(policy)) - 1] if attempt >= 1 else policy[0]


def _new_id() -> str:
    """``uuid.uuid4().hex`` without building a ``UUID`` object (a third of an envelope's cost
    in a bulk dispatch): 128 random bits from ``os.urandom`` with the version-4 bits set."""
    value = int.from_bytes(os.urandom(16)) & ~(0xF000 << 64) & ~(0xC000 << 48)
    return f"{value | (0x4000 << 64) | (0x8000 << 48):032x}"


@dataclasses.dataclass
class Envelope:
    """A job as it travels through a queue: everything a worker needs, as JSON.

    ``attempts`` is the try being made (a driver counts it when it reserves the job). A
    job recovered from a lost worker makes the same try again and counts a recovery
    instead (``recoveries``): a worker's death uses up none of the job's tries, and a job
    that keeps killing its workers fails as poison after ``max_recoveries`` of them.
    """

    job: str
    args: dict[str, Any]
    queue: str = "default"
    id: str = dataclasses.field(default_factory=lambda: _new_id())
    attempts: int = 0
    max_tries: int | None = None
    backoff: list[float] | dict[str, float] | None = None
    timeout: float | None = None
    recoveries: int = 0
    max_recoveries: int | None = None
    created_at: float = dataclasses.field(default_factory=time.time)
    batch_id: str | None = None
    unique_key: str | None = None
    invalid: str | None = None
    """Why the stored payload could not be decoded (see :meth:`undecodable`); ``None`` if fine."""

    @classmethod
    def for_job(cls, job: Job, *, queue: str | None = None) -> Envelope:
        args = job.arguments()
        try:
            _ENCODE(args)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"arguments of {type(job).__name__} are not JSON-serialisable: {exc}") from None
        return cls(
            job=type(job).class_path(),
            args=args,
            queue=queue or type(job).queue,
            max_tries=type(job).tries,
            backoff=_backoff_to_json(type(job).backoff),
            timeout=type(job).timeout,
            max_recoveries=type(job).max_recoveries,
            unique_key=job.unique_key(),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a shallow dict (what :meth:`to_json` encodes).

        Shallow, not ``dataclasses.asdict()``: asdict deep-copies every argument, which was
        most of the cost of a bulk dispatch; ``json.dumps`` walks nested values anyway.
        """
        return {name: getattr(self, name) for name in _ENVELOPE_FIELDS}

    def to_json(self) -> str:
        return _ENCODE(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Decode a payload; anything malformed is a :class:`PayloadError`, never a crash."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"payload is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        """Check and build from decoded JSON (a payload, or an executor request's field)."""
        if not isinstance(data, dict):
            raise PayloadError("payload is not a JSON object")
        missing = {"job", "args", "id"} - data.keys()
        if missing:
            raise PayloadError(f"payload lacks {', '.join(sorted(missing))}")
        if not isinstance(data["job"], str) or not isinstance(data["args"], dict):
            raise PayloadError("payload has a malformed job or args field")
        if not data.keys() <= _FIELD_NAMES:  # a field a later version added: ignored
            data = {k: v for k, v in data.items() if k in _FIELD_NAMES}
        try:
            return cls(**data)
        except TypeError as exc:
            raise PayloadError(f"payload is malformed: {exc}") from None

    @classmethod
    def undecodable(cls, *, id: str, queue: str, job: str, attempts: int, raw: str, reason: str) -> Envelope:
        """Stand in for a stored payload that :meth:`from_json` rejects.

        A driver must not drop such a job nor crash on it: it hands the worker this
        envelope, whose :meth:`build` raises :class:`PayloadError` with ``reason``, so the
        job fails through the normal path with the reason recorded and the raw text kept
        in ``args["raw_payload"]`` for the operator.
        """
        return cls(job=job, args={"raw_payload": raw}, queue=queue, id=id, attempts=attempts, invalid=reason)

    def build(self) -> Job:
        """Instantiate the job this envelope names (raises :class:`PayloadError`)."""
        if self.invalid is not None:
            raise PayloadError(self.invalid)
        cls = load_job_class(self.job)
        try:
            return cls.from_arguments(self.args)
        except TypeError as exc:
            raise PayloadError(f"arguments do not fit {self.job}: {exc}") from None


_ENVELOPE_FIELDS = tuple(f.name for f in dataclasses.fields(Envelope))
_FIELD_NAMES = frozenset(_ENVELOPE_FIELDS)
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
"""One encoder for every payload: ``json.dumps`` with options builds a new encoder per call."""
