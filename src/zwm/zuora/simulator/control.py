"""The control API under ``/_simulator/``, so another process (the CLI, ``zwm up``, a
benchmark) can drive a running simulator as tests drive it in-process.

Paths never collide with Zuora's. Secrets are returned only to loopback callers: the tenants
are fake, but a simulator bound to a public interface should not hand them to anyone.

    GET    /_simulator/tenants                          tenants (secrets for loopback callers)
    POST   /_simulator/tenants                          {"name", "workflows"?, "seed"?} -> tenant
    GET    /_simulator/tenants/<name>/stats             counters
    POST   /_simulator/tenants/<name>/reset-stats
    GET    /_simulator/tenants/<name>/faults            current faults
    PUT    /_simulator/tenants/<name>/faults            replace faults (JSON of Faults fields)
    POST   /_simulator/tenants/<name>/expire-tokens
    POST   /_simulator/tenants/<name>/fail-next         {"count": 3, "status": 503}
    GET    /_simulator/tenants/<name>/workflows         {"ids": [...]}
    POST   /_simulator/tenants/<name>/workflows         add one -> {"id": ...}
    DELETE /_simulator/tenants/<name>/workflows/<id>
    POST   /_simulator/tenants/<name>/workflows/<id>/change
    GET    /_simulator/settings, PUT /_simulator/settings   latency, token_ttl, limits
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

from zwm.zuora.simulator.faults import Faults
from zwm.zuora.simulator.responses import Response, json_response
from zwm.zuora.simulator.tenant import SimTenant

if TYPE_CHECKING:
    from zwm.zuora.simulator.server import ZuoraSimulator

_SETTINGS = ("latency", "token_ttl", "rate_limit_per_minute", "concurrency_limit")


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def tenant_json(tenant: SimTenant, with_secret: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": tenant.name,
        "client_id": tenant.client_id,
        "tenant_id": tenant.tenant_id,
        "entity_id": tenant.entity_id,
    }
    if with_secret:
        out["client_secret"] = tenant.client_secret
    return out


def handle(sim: ZuoraSimulator, method: str, path: str, body: bytes, client_ip: str) -> Response:
    """Answer one control request; errors are ``{"error": ...}`` with 400/404/405."""
    parts = path.split("/")[2:]  # drop "" and "_simulator"
    try:
        payload = json.loads(body) if body else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        return _route(sim, method, parts, payload, _is_loopback(client_ip))
    except KeyError as exc:
        return _error(404, str(exc.args[0]) if exc.args else "not found")
    except (ValueError, TypeError) as exc:
        return _error(400, str(exc))


def _route(
    sim: ZuoraSimulator, method: str, parts: list[str], payload: dict[str, Any], loopback: bool
) -> Response:
    if parts == ["tenants"]:
        if method == "GET":
            return json_response(200, {"tenants": [tenant_json(t, loopback) for t in sim.tenants()]})
        if method == "POST":
            name = payload.get("name")
            if not isinstance(name, str):
                raise ValueError("a tenant needs a name")
            tenant = sim.add_tenant(name, int(payload.get("workflows", 25)), seed=payload.get("seed"))
            return json_response(201, tenant_json(tenant, loopback))
    if parts == ["settings"]:
        if method == "PUT":
            _apply_settings(sim, payload)
        if method in {"GET", "PUT"}:
            return json_response(200, {key: getattr(sim, key) for key in _SETTINGS})
    if len(parts) >= 3 and parts[0] == "tenants":
        return _tenant_route(sim, method, parts[1], parts[2:], payload)
    return _error(404 if method in {"GET", "POST", "PUT", "DELETE"} else 405, "no such control endpoint")


def _tenant_route(
    sim: ZuoraSimulator, method: str, name: str, rest: list[str], payload: dict[str, Any]
) -> Response:
    done = json_response(200, {"ok": True})
    action = (method, *rest)
    if action == ("GET", "stats"):
        return json_response(200, sim.stats(name))
    if action == ("POST", "reset-stats"):
        sim.reset_stats(name)
        return done
    if action == ("GET", "faults"):
        return json_response(200, sim.faults(name).to_json())
    if action == ("PUT", "faults"):
        sim.set_faults(name, Faults.from_json(payload))
        return json_response(200, sim.faults(name).to_json())
    if action == ("POST", "expire-tokens"):
        sim.expire_tokens(name)
        return done
    if action == ("POST", "fail-next"):
        sim.fail_next(name, int(payload.get("count", 1)), int(payload.get("status", 503)))
        return done
    if action == ("GET", "workflows"):
        return json_response(200, {"ids": sim.workflow_ids(name)})
    if action == ("POST", "workflows"):
        return json_response(201, {"id": sim.add_workflow(name)})
    if len(rest) == 2 and method == "DELETE" and rest[0] == "workflows":
        sim.delete_workflow(name, rest[1])
        return done
    if len(rest) == 3 and action == ("POST", "workflows", rest[1], "change"):
        sim.change_workflow(name, rest[1])
        return done
    sim.stats(name)  # unknown tenant -> 404 rather than "no such endpoint"
    return _error(404, "no such control endpoint")


def _apply_settings(sim: ZuoraSimulator, payload: dict[str, Any]) -> None:
    unknown = set(payload) - set(_SETTINGS)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    latency = float(payload.get("latency", sim.latency))
    ttl = float(payload.get("token_ttl", sim.token_ttl))
    limit = payload.get("rate_limit_per_minute", sim.rate_limit_per_minute)
    concurrency = int(payload.get("concurrency_limit", sim.concurrency_limit))
    if latency < 0 or ttl <= 0 or concurrency < 1 or (limit is not None and int(limit) < 1):
        raise ValueError(
            "latency >= 0, token_ttl > 0, concurrency_limit >= 1, rate_limit_per_minute >= 1 or null"
        )
    sim.latency, sim.token_ttl, sim.concurrency_limit = latency, ttl, concurrency
    sim.rate_limit_per_minute = None if limit is None else int(limit)


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False
