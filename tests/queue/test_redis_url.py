"""REDIS_URL parsing: every supported form, and errors that never leak the password."""

from __future__ import annotations

import pytest

from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.redis_url import RedisURLError, connect, parse_redis_url

SECRET = "s3cr#t/pa:ss"
ENCODED = "s3cr%23t%2Fpa%3Ass"


def test_plain_url_with_acl_user_and_db() -> None:
    target = parse_redis_url(f"redis://worker:{ENCODED}@cache.internal:6380/4")
    assert (target.scheme, target.hosts, target.db) == ("redis", (("cache.internal", 6380),), 4)
    assert (target.username, target.password) == ("worker", SECRET)
    assert SECRET not in repr(target)
    assert target.describe() == "cache.internal:6380/4"


def test_defaults_port_and_db() -> None:
    target = parse_redis_url("redis://localhost")
    assert (target.hosts, target.db, target.username, target.password) == (
        (("localhost", 6379),),
        0,
        None,
        None,
    )


def test_tls_url_keeps_ssl_options() -> None:
    target = parse_redis_url("rediss://:pw@[::1]:6390/2?ssl_cert_reqs=none")
    assert (target.scheme, target.hosts, target.db) == ("rediss", (("::1", 6390),), 2)
    assert target.options == {"ssl_cert_reqs": "none"}
    client, _ = connect("rediss://:pw@[::1]:6390/2?ssl_cert_reqs=none")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == ("::1", 6390, 2, "pw")
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"


def test_unix_socket_url() -> None:
    target = parse_redis_url("unix:///run/redis/redis.sock?db=3")
    assert (target.scheme, target.path, target.db) == ("unix", "/run/redis/redis.sock", 3)
    client, _ = connect("unix:///run/redis/redis.sock?db=3")
    assert client.connection_pool.connection_kwargs["path"] == "/run/redis/redis.sock"


def test_sentinel_url_builds_a_master_client() -> None:
    url = f"redis+sentinel://app:{ENCODED}@s1:26379,s2,[fe80::1]:26380/mymaster/5?sentinel_password=sp"
    target = parse_redis_url(url)
    assert target.hosts == (("s1", 26379), ("s2", 26379), ("fe80::1", 26380))
    assert (target.service, target.db, target.username, target.password) == ("mymaster", 5, "app", SECRET)
    client, _ = connect(url)
    pool = client.connection_pool
    assert pool.service_name == "mymaster"  # type: ignore[attr-defined]
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (5, SECRET)
    sentinel = pool.sentinel_manager.sentinels[0]  # type: ignore[attr-defined]
    assert sentinel.connection_pool.connection_kwargs["password"] == "sp"
    assert SECRET not in target.describe()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://host:6379", "must start with"),
        (f"redis://:{SECRET}@host:6379/0", "percent-encode"),
        ("redis://:hunter2@host:port/0", "port"),
        ("redis://:hunter2@host:99999", "port"),
        ("redis://:hunter2@host:6379/zero", "database number"),
        ("redis://:hunter2@:6379/0", "no host"),
        ("unix://:hunter2@relative.sock", "absolute"),
        ("redis+sentinel://:hunter2@s1:26379", "service"),
        ("redis://:hunter2@host/0?sockettimeout=3", "not understood: sockettimeout"),
        ("redis://:hunter2@host/0?socket_timeout=soon", "rejects"),
    ],
)
def test_bad_urls_are_one_line_errors_without_the_password(url: str, message: str) -> None:
    with pytest.raises(RedisURLError) as info:
        connect(url)
    text = str(info.value)
    assert message in text
    assert "hunter2" not in text
    assert "s3cr" not in text
    assert "\n" not in text


def test_driver_repr_hides_the_password() -> None:
    driver = RedisDriver(f"redis://worker:{ENCODED}@127.0.0.1:6379/15", prefix="zwm-repr")
    assert SECRET not in repr(driver)
    assert ENCODED not in repr(driver)
    assert "127.0.0.1:6379/15" in repr(driver)
    assert SECRET not in repr(driver.client)
