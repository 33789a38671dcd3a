"""A plain httpx helper for the simulator tests: a token and authenticated GETs, nothing more.

Deliberately not the zwm Zuora client, so the simulator is tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from zwm.zuora.simulator import SimTenant, ZuoraSimulator


def token_form(tenant: SimTenant, secret: str | None = None) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret if secret is None else secret,
    }


class SimApi:
    """An httpx client bound to one tenant of a running simulator."""

    def __init__(self, sim: ZuoraSimulator, tenant: SimTenant, timeout: float = 5.0) -> None:
        self.http = httpx.Client(base_url=sim.base_url, timeout=timeout)
        self.tenant = tenant
        self.token = self.new_token()

    def new_token(self) -> str:
        response = self.http.post("/oauth/token", data=token_form(self.tenant))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.get(path, headers=headers, **kwargs)

    def close(self) -> None:
        self.http.close()


@contextmanager
def running(workflows: int = 30, **options: Any) -> Iterator[tuple[ZuoraSimulator, SimApi]]:
    """A started simulator with tenant ``acme`` and a client for it; everything closed after."""
    sim = ZuoraSimulator(**options)
    tenant = sim.add_tenant("acme", workflows=workflows)
    with sim:
        api = SimApi(sim, tenant)
        try:
            yield sim, api
        finally:
            api.close()
