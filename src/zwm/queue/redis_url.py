"""``REDIS_URL`` parsing and client construction, without ever echoing a secret.

Supported forms::

    redis://[[user]:password@]host[:port][/db]            plain TCP
    rediss://[[user]:password@]host[:port][/db]           TLS (query: ssl_cert_reqs, ssl_ca_certs...)
    unix://[[user]:password@]/path/to/redis.sock[?db=N]   Unix socket
    redis+sentinel://[[user]:password@]host[:port][,host2[:port2]...]/service[/db]
        Sentinel; user/password authenticate to the master. Query options:
        ``sentinel_username``/``sentinel_password`` (the sentinels' own ACL) and
        ``ssl=true`` (TLS to sentinels and master). The sentinel port defaults to 26379.

Why our own parser in front of redis-py's: a malformed URL must give a one-line error that
names *what* is wrong without printing the URL -- ``urllib`` happily quotes pieces of a
password back when a password contains ``/`` or ``#`` and splits the URL in the wrong place.
Passwords must be percent-encoded; :class:`RedisTarget` keeps them out of its ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import redis
from redis.backoff import NoBackoff
from redis.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.retry import Retry
from redis.sentinel import Sentinel

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")
URL_OPTIONS = set(URL_QUERY_ARGUMENT_PARSERS) | {
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "client_name",
}
"""Query options passed on to redis-py; anything else is a typo worth an error, not a
``TypeError`` from deep inside the first connection attempt."""
SENTINEL_PORT = 26379

SOCKET_TIMEOUT = 30.0
"""Read timeout of every connection. A Redis host that vanishes without a TCP reset would
otherwise hang a worker forever; blocking commands are capped below this (see
:data:`zwm.queue.drivers.redis.MAX_BLOCK`)."""


class RedisURLError(ValueError):
    """``REDIS_URL`` cannot be used. The message never contains the URL or its password."""


@dataclass(frozen=True)
class RedisTarget:
    """Where and how to connect, parsed from a URL (password hidden from ``repr``)."""

    scheme: str
    hosts: tuple[tuple[str, int], ...] = ()
    path: str | None = None
    db: int = 0
    service: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """``host:port/db``-style location for messages: never credentials."""
        if self.scheme == "unix":
            return f"unix:{self.path} db {self.db}"
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        if self.scheme == "redis+sentinel":
            return f"sentinel service {self.service!r} via {hosts} db {self.db}"
        return f"{hosts}/{self.db}" + (" (TLS)" if self.scheme == "rediss" else "")


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise RedisURLError("REDIS_URL names no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise RedisURLError("REDIS_URL has a port that is not a number between 1 and 65535")
    return host, int(port_text)


def _db(text: str) -> int:
    text = text.strip("/")
    if not text:
        return 0
    if not text.isdigit():
        raise RedisURLError("REDIS_URL database number must be a whole number (e.g. /0)")
    return int(text)


def parse_redis_url(url: str) -> RedisTarget:
    """Parse and validate ``url``; raise :class:`RedisURLError` with a safe message."""
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise RedisURLError("REDIS_URL must start with redis://, rediss://, unix:// or redis+sentinel://")
    netloc_path, _, query_text = rest.partition("?")
    if "#" in netloc_path or "#" in query_text:
        raise RedisURLError("REDIS_URL contains '#': percent-encode special characters in the password")
    options = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    userinfo, at, location = netloc_path.rpartition("@") if "@" in netloc_path else ("", "", netloc_path)
    username = password = None
    if at:
        user_text, colon, pass_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(pass_text) if colon else None
    if scheme == "unix":
        path = unquote(location)
        if not path.startswith("/"):
            raise RedisURLError(
                "REDIS_URL unix:// needs an absolute socket path, e.g. unix:///run/redis.sock"
            )
        return RedisTarget(
            scheme,
            path=path,
            db=_db(options.pop("db", "")),
            username=username,
            password=password,
            options=options,
        )
    netloc, _, path = location.partition("/")
    if scheme == "redis+sentinel":
        hosts = tuple(_host_port(h, SENTINEL_PORT) for h in netloc.split(",") if h)
        service, _, db_text = path.partition("/")
        if not hosts or not service:
            raise RedisURLError(
                "REDIS_URL sentinel form is redis+sentinel://host:port[,host:port]/service[/db]"
            )
        return RedisTarget(
            scheme,
            hosts=hosts,
            db=_db(db_text),
            service=unquote(service),
            username=username,
            password=password,
            options=options,
        )
    db = _db(options.pop("db", "") or path)
    return RedisTarget(
        scheme,
        hosts=(_host_port(netloc, 6379),),
        db=db,
        username=username,
        password=password,
        options=options,
    )


def _common_kwargs() -> dict[str, Any]:
    """Timeouts and retries shared by every client we build.

    redis-py's own retries are off: a retry it made silently after a lost reply would
    re-run a script that already ran (an acknowledgement would then look like a lost
    lease). :class:`zwm.queue.drivers.redis.RedisDriver` retries itself, knowing which
    calls are in doubt.
    """
    return {
        "socket_connect_timeout": 5.0,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": 15,
        "retry": Retry(NoBackoff(), 0),
        "client_name": "zwm",
    }


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


def connect(url: str) -> tuple[redis.Redis, RedisTarget]:
    """Build a client for ``url`` (lazy: no network I/O until the first command)."""
    target = parse_redis_url(url)
    common = _common_kwargs()
    if target.scheme == "redis+sentinel":
        options = dict(target.options)
        ssl = _truthy(options.pop("ssl", None))
        sentinel_kwargs: dict[str, Any] = {
            "socket_connect_timeout": common["socket_connect_timeout"],
            "socket_timeout": 5.0,
            "ssl": ssl,
        }
        if "sentinel_username" in options:
            sentinel_kwargs["username"] = options.pop("sentinel_username")
        if "sentinel_password" in options:
            sentinel_kwargs["password"] = options.pop("sentinel_password")
        if options:
            raise RedisURLError(f"REDIS_URL sentinel options not understood: {', '.join(sorted(options))}")
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.hosts), sentinel_kwargs=sentinel_kwargs, **common, ssl=ssl
        )
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            target.service or "", db=target.db, username=target.username, password=target.password
        )
        return client, target
    unknown = set(target.options) - URL_OPTIONS
    if unknown:
        raise RedisURLError(f"REDIS_URL options not understood: {', '.join(sorted(unknown))}")
    try:
        client = redis.Redis.from_url(url.strip(), **common)
    except ValueError:
        # redis-py's messages may quote pieces of the URL; ours never do.
        names = ", ".join(sorted(target.options))
        raise RedisURLError(f"REDIS_URL has an option value redis-py rejects (among: {names})") from None
    return client, target
