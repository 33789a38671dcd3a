"""Commands about Zuora itself: ``zuora:simulate`` runs the Zuora simulator in the foreground."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from zwm.cli.base import OperationFailed
from zwm.zuora.simulator import FAULT_KINDS, Faults, SimTenant, ZuoraSimulator

_TENANT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?::(?P<count>\d{1,6}))?$")
_FAULT = re.compile(r"^(?P<tenant>[^:=]+):(?P<kind>[A-Za-z_-]+)=(?P<value>.*)$")


def _fault_help() -> str:
    lines = "\n".join(f"  {kind:<26} {text}" for kind, text in FAULT_KINDS.items())
    return (
        "\b\nFault kinds for --fault TENANT:KIND=VALUE (TENANT may be * for every tenant):\n"
        f"{lines}\n\n"
        "\b\nExamples:\n"
        "  zwm zuora:simulate --tenant acme:60 --tenant globex --fault acme:error_rate=0.1\n"
        "  zwm zuora:simulate --fault '*:rate_limit_rate=0.05' --fault demo:malformed_export_ids=1201,1207\n"
        "  zwm zuora:simulate --credentials-file var/sim-credentials.json --latency 0.05\n\n"
        "Control a running simulator over HTTP under /_simulator/ (see docs/simulator.md)."
    )


def _parse_tenants(values: tuple[str, ...]) -> list[tuple[str, int]]:
    tenants: list[tuple[str, int]] = []
    for value in values or ("demo:25",):
        match = _TENANT.match(value)
        if match is None:
            raise click.BadParameter(f"{value!r} is not NAME or NAME:WORKFLOWS", param_hint="'--tenant'")
        name = match["name"]
        if any(name == existing for existing, _ in tenants):
            raise click.BadParameter(f"tenant {name!r} given twice", param_hint="'--tenant'")
        tenants.append((name, int(match["count"] or 25)))
    return tenants


def _parse_faults(values: tuple[str, ...], names: list[str]) -> dict[str, Faults]:
    faults = {name: Faults() for name in names}
    for value in values:
        match = _FAULT.match(value)
        if match is None:
            raise click.BadParameter(f"{value!r} is not TENANT:KIND=VALUE", param_hint="'--fault'")
        tenant = match["tenant"]
        if tenant != "*" and tenant not in faults:
            raise click.BadParameter(f"unknown tenant {tenant!r} in {value!r}", param_hint="'--fault'")
        for name in names if tenant == "*" else [tenant]:
            try:
                faults[name] = faults[name].with_setting(match["kind"], match["value"])
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="'--fault'") from None
    return faults


def _write_credentials(path: Path, base_url: str, tenants: list[SimTenant]) -> None:
    """Write credentials readable by the owner only; secrets never go to the terminal."""
    document = {
        "base_url": base_url,
        "tenants": [
            {
                "name": t.name,
                "client_id": t.client_id,
                "client_secret": t.client_secret,
                "tenant_id": t.tenant_id,
                "entity_id": t.entity_id,
            }
            for t in tenants
        ],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(document, handle, indent=2)


@click.command("zuora:simulate", epilog=_fault_help())
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8089, show_default=True, help="0 picks a free port."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of catalogs, credentials and faults."
)
@click.option(
    "--tenant",
    "tenant_specs",
    multiple=True,
    metavar="NAME[:WORKFLOWS]",
    help="A tenant and its number of workflows (default 25); repeatable. Default: demo:25.",
)
@click.option(
    "--latency", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Seconds per API call."
)
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=0, min_open=True),
    default=3599,
    show_default=True,
    help="Seconds a token stays valid (expires_in).",
)
@click.option(
    "--rate-limit", type=click.IntRange(min=1), default=None, help="API requests per minute per tenant."
)
@click.option(
    "--concurrency-limit",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="In-flight API requests per tenant before a 429 (code 50000070).",
)
@click.option(
    "--fault",
    "fault_specs",
    multiple=True,
    metavar="TENANT:KIND=VALUE",
    help="Inject a fault; repeatable. Kinds are listed below.",
)
@click.option(
    "--token-error-style",
    type=click.Choice(["oauth", "message", "reasons", "text"]),
    default="oauth",
    show_default=True,
    help="Body of a 401 for wrong client credentials.",
)
@click.option(
    "--credentials-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write tenant credentials (JSON, mode 0600) here.",
)
def simulate(
    host: str,
    port: int,
    seed: int,
    tenant_specs: tuple[str, ...],
    latency: float,
    token_ttl: float,
    rate_limit: int | None,
    concurrency_limit: int,
    fault_specs: tuple[str, ...],
    token_error_style: str,
    credentials_file: Path | None,
) -> None:
    """Run the Zuora simulator until Ctrl-C or SIGTERM.

    A fake Zuora data centre on HTTP: OAuth client credentials, the workflow endpoints, rate and
    concurrency limits and injected faults, with deterministic tenants generated from --seed.
    Prints the base URL and each tenant's client id; secrets go to --credentials-file only.
    """
    tenants = _parse_tenants(tenant_specs)
    faults = _parse_faults(fault_specs, [name for name, _ in tenants])
    sim = ZuoraSimulator(
        seed=seed,
        latency=latency,
        token_ttl=token_ttl,
        rate_limit_per_minute=rate_limit,
        concurrency_limit=concurrency_limit,
        host=host,
        port=port,
        token_error_style=token_error_style,
    )
    for name, count in tenants:
        sim.add_tenant(name, workflows=count)
        sim.set_faults(name, faults[name])
    try:
        sim.start()
    except OSError as exc:
        raise OperationFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        if credentials_file is not None:
            _write_credentials(credentials_file, sim.base_url, sim.tenants())
        click.echo(f"Zuora simulator listening on {sim.base_url}")
        for tenant in sim.tenants():
            click.echo(f"  tenant {tenant.name}: client_id {tenant.client_id}")
        if credentials_file is not None:
            click.echo(f"Credentials written to {credentials_file}")
        else:
            click.echo(
                f"Secrets: --credentials-file, or GET {sim.base_url}/_simulator/tenants from this machine"
            )
        click.echo("Press Ctrl-C to stop.")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.stop()
    click.echo("Simulator stopped.")


COMMANDS = [simulate]
