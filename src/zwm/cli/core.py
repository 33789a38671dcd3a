"""Commands about the installation itself: ``migrate`` and ``up``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click

from zwm.cli.base import OperationFailed, setup_django, stop_on_signals
from zwm.cli.web import bind_option
from zwm.config import get_config


@click.command("migrate")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something fails.")
def migrate(quiet: bool) -> None:
    """Apply all database migrations for the configured DATABASE_URL (safe to run twice)."""
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0 if quiet else 1)


@dataclass
class _Child:
    """A long-running ``zwm`` subcommand that ``up`` keeps alive."""

    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "zwm", *self.args])
        self.started = time.monotonic()
        click.echo(f"  {self.name}: started (pid {self.process.pid})")

    def check(self) -> None:
        """Restart the child if it died, backing off when it keeps dying at start-up."""
        now = time.monotonic()
        if self.process is None:
            if now >= self.next_start:
                self.start()
            return
        code = self.process.poll()
        if code is None:
            return
        quick = now - self.started < 10
        self.restarts = self.restarts + 1 if quick else 0
        delay = min(60.0, 0.5 * 2**self.restarts) if quick else 0.5
        click.echo(f"  {self.name}: exited with code {code}; restarting in {delay:.1f}s", err=True)
        self.process, self.next_start = None, now + delay

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _allow_http_to_the_simulator() -> None:
    """The demo's simulator speaks plain http on loopback: allow it for this process and the
    children it starts (they inherit the environment), and say so."""
    os.environ["ZWM_ZUORA_ALLOW_HTTP"] = "true"
    get_config.cache_clear()
    click.echo("  demo: plain http allowed to the local Zuora simulator (ZWM_ZUORA_ALLOW_HTTP=true)")


def _start_demo(seed: int, port: int) -> str:
    """Start the Zuora simulator with the demo tenants; create/repoint their customers."""
    from zwm.catalog.demo import ensure_demo_customers
    from zwm.catalog.jobs import dispatch_sync
    from zwm.catalog.models import SyncRun
    from zwm.zuora.simulator.demo import demo_tenants, start_demo

    try:
        sim = start_demo(seed=seed, port=port)
    except OSError as exc:
        raise OperationFailed(
            f"cannot start the Zuora simulator on 127.0.0.1:{port}: {exc.strerror}"
        ) from None
    tenants = demo_tenants(seed)
    for customer in ensure_demo_customers(sim.base_url, tenants):
        dispatch_sync(customer, trigger=SyncRun.Trigger.CLI)
    click.echo(f"  simulator: {sim.base_url} serving demo tenants {', '.join(t.name for t in tenants)}")
    return sim.base_url


def _first_admin_hint(url: str) -> str:
    from zwm.web.users import no_user_exists

    if not no_user_exists():
        return ""
    return (
        f"  No user yet: open {url} to create the first admin, or run\n"
        "    zwm user:create --username admin --role admin\n"
    )


@click.command("up")
@bind_option
@click.option(
    "--demo/--no-demo", default=None, help="Serve demo tenants on the Zuora simulator. [default: ZWM_DEMO]"
)
@click.option(
    "--processes", type=click.IntRange(min=1, max=64), default=2, show_default=True, help="Worker processes."
)
@click.option(
    "--queue", "queues", default="high,default", show_default=True, help="Queues, in priority order."
)
@click.option(
    "--simulator-port",
    type=click.IntRange(min=1, max=65535),
    default=8089,
    show_default=True,
    help="Port of the demo Zuora simulator.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the demo catalog and credentials.",
)
@click.option(
    "--no-scheduler", is_flag=True, help="Do not run the scheduler (hourly sync of every customer)."
)
def up(
    bind: str,
    demo: bool | None,
    processes: int,
    queues: str,
    simulator_port: int,
    seed: int,
    no_scheduler: bool,
) -> None:
    """Run the whole app on this machine until Ctrl-C: migrations, the web app, workers,
    scheduler, and in demo mode the Zuora simulator with demo customers (synced at once)."""
    from zwm.web.server import check_bindable

    try:
        check_bindable(bind)
    except OSError as exc:
        raise OperationFailed(f"cannot serve the web app on {bind}: {exc.strerror or exc}") from None
    config = get_config()
    demo = config.demo if demo is None else demo
    setup_django()
    from django.core.management import call_command

    click.echo(
        f"zwm up: database {'SQLite in ' + str(config.data_dir) if config.is_sqlite else 'configured'}, "
        f"queue connection {config.queue_connection}"
    )
    call_command("migrate", interactive=False, verbosity=0)
    if demo:
        _allow_http_to_the_simulator()
        _start_demo(seed, simulator_port)
    children = [
        _Child("web", ["web", "--bind", bind]),
        _Child("workers", ["queue:work", "--queue", queues, "--processes", str(processes)]),
    ]
    if not no_scheduler:
        children.append(_Child("scheduler", ["schedule:work"]))

    should_stop = stop_on_signals()
    for child in children:
        child.start()
    url = f"http://{bind}/"
    click.echo(f"Running. Web app: {url}\n{_first_admin_hint(url)}Ctrl-C stops.")
    while not should_stop():
        for child in children:
            child.check()
        time.sleep(0.2)
    click.echo("Stopping: waiting for running jobs to finish...")
    for child in children:
        child.stop()
    for child in children:
        child.wait(timeout=60)


COMMANDS = [migrate, up]
