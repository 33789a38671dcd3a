"""zwm side by side with Celery, RQ, Dramatiq, Huey and Procrastinate, in one run.

    .venv/bin/python bench/peers.py            # full run: median of 3, writes the docs table
    .venv/bin/python bench/peers.py --quick    # smoke run: small counts, 1 round, docs untouched

Installs the peers at the versions pinned in ``bench/peers-requirements.txt`` into a
virtualenv of its own (``bench/.peers-venv``, git-ignored; never the project's), then runs
``bench/peerkit/harness.py`` once per system and round -- zwm on SQLite, PostgreSQL and
Redis in the project's venv, each peer on its broker in the peers' one -- interleaving the
systems so each round sees the same machine. Every system runs the same job body
(``bench/peerkit/jobbody.py``) with the same number of worker processes, set up the way its
documentation recommends (each ``bench/peerkit/peer_*.py`` says how).

Needs Redis on 127.0.0.1:6379 (database 12, keys under prefixes of this benchmark's own,
deleted afterwards; never FLUSHDB) and PostgreSQL on 127.0.0.1:5432 (throw-away databases
``zwm_peers_bench`` and ``zwm_peers_procrastinate``); ``PEERS_REDIS_URL`` and
``PEERS_POSTGRES`` override them. Writes the figures as JSON (``docs/peers.json``) and the
tables between the ``peers`` markers of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".peers-venv"
REQUIREMENTS = BENCH / "peers-requirements.txt"
HARNESS = BENCH / "peerkit" / "harness.py"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
PROCESSES = 2


@dataclass(frozen=True)
class Sizes:
    """Jobs per measure, scaled to each system's speed so every run takes seconds, not minutes."""

    jobs: int
    single: int
    io_jobs: int


SYSTEMS: dict[str, Sizes] = {
    "zwm-sqlite": Sizes(20_000, 3_000, 4_000),
    "zwm-postgres": Sizes(20_000, 2_000, 4_000),
    "zwm-redis": Sizes(20_000, 3_000, 4_000),
    "celery": Sizes(3_000, 3_000, 300),
    "rq": Sizes(300, 2_000, 100),
    "dramatiq": Sizes(10_000, 3_000, 3_000),
    "huey": Sizes(10_000, 3_000, 300),
    "procrastinate": Sizes(1_500, 800, 150),
}
REDIS_PEERS = ("celery", "rq", "dramatiq", "huey")
MEASURES = {
    "single_enqueue": "single enqueue, jobs/s",
    "bulk_enqueue": "bulk enqueue, jobs/s",
    "process_1": "processing, 1 process, jobs/s",
    "process_2": "processing, 2 processes, jobs/s",
    "io_10ms": "10 ms I/O-bound jobs, 2 processes, jobs/s",
    "latency_p50_ms": "idle enqueue-to-start p50, ms",
    "latency_p95_ms": "idle enqueue-to-start p95, ms",
}
LOWER_IS_BETTER = {"latency_p50_ms", "latency_p95_ms"}


def ensure_venv() -> Path:
    """The peers' virtualenv, (re)built when the pinned requirements changed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing the peers into {VENV.relative_to(ROOT)} ...", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def run_system(
    python: Path, system: str, sizes: Sizes, samples: int, crash_jobs: int, crash_window: float
) -> dict[str, Any]:
    command = [str(python), str(HARNESS), system, "--jobs", str(sizes.jobs), "--single", str(sizes.single)]
    command += ["--io-jobs", str(sizes.io_jobs), "--samples", str(samples), "--processes", str(PROCESSES)]
    command += ["--crash-jobs", str(crash_jobs), "--crash-window", str(crash_window)]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, timeout=900)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = round(time.monotonic() - started, 1)
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def ratio(measure: str, ours: float, theirs: float) -> float:
    """How far ahead zwm is: > 1 means zwm is better (faster, or lower latency)."""
    return theirs / ours if measure in LOWER_IS_BETTER else ours / theirs


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Report:
    """Medians over the rounds, ratios per round (both systems measured minutes apart)."""

    def __init__(self, rounds: list[dict[str, dict[str, Any]]]) -> None:
        self.rounds = rounds

    def values(self, system: str, measure: str) -> list[float]:
        return [r[system]["figures"][measure] for r in self.rounds if system in r]

    def median(self, system: str, measure: str) -> float:
        return _median(self.values(system, measure))

    def ratio(self, ours: str, peer: str, measure: str) -> float:
        return _median(
            [
                ratio(measure, r[ours]["figures"][measure], r[peer]["figures"][measure])
                for r in self.rounds
                if ours in r and peer in r
            ]
        )

    def crash(self, system: str) -> dict[str, Any] | None:
        for r in self.rounds:
            if system in r and "crash" in r[system]["figures"]:
                return dict(r[system]["figures"]["crash"])
        return None


def _fmt(value: float, measure: str) -> str:
    return f"{value:.1f}" if measure in LOWER_IS_BETTER else f"{value:,.0f}"


def figures_table(report: Report) -> list[str]:
    systems = list(SYSTEMS)
    head = ["measure (median of rounds)", *(_label(s) for s in systems)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for measure, title in MEASURES.items():
        cells = [_fmt(report.median(s, measure), measure) for s in systems]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def ratio_table(report: Report) -> list[str]:
    pairs = [("zwm-redis", peer) for peer in REDIS_PEERS] + [("zwm-postgres", "procrastinate")]
    head = ["measure", *(f"{_label(ours)} / {_label(peer)}" for ours, peer in pairs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for measure, title in MEASURES.items():
        cells = [f"{report.ratio(ours, peer, measure):.2f}x" for ours, peer in pairs]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def crash_table(report: Report) -> list[str]:
    lines = [
        "| system | jobs | lost | run twice | failed without running | worker commands restarted |",
        "|---|---|---|---|---|---|",
    ]
    for system in SYSTEMS:
        crash = report.crash(system)
        if crash is not None:
            lines.append(
                f"| {_label(system)} | {crash['jobs']} | {crash['lost']} | {crash['ran_twice']} | "
                f"{crash['failed_without_running']} | {crash['restarted_commands']} |"
            )
    return lines


RATIO_TARGETS = (
    ("I/O-bound 10 ms jobs >= 1.5x Dramatiq", "zwm-redis", "dramatiq", "io_10ms", 1.5),
    ("Redis processing >= 4x Dramatiq", "zwm-redis", "dramatiq", "process_2", 4.0),
    ("PostgreSQL processing >= 30x Procrastinate", "zwm-postgres", "procrastinate", "process_2", 30.0),
    ("Redis single enqueue >= 1.2x Huey", "zwm-redis", "huey", "single_enqueue", 1.2),
    ("Redis idle p50 <= Huey's (ratio >= 1)", "zwm-redis", "huey", "latency_p50_ms", 1.0),
    ("PostgreSQL bulk enqueue >= 5x Procrastinate", "zwm-postgres", "procrastinate", "bulk_enqueue", 5.0),
)
"""The issue's targets that are a ratio to a peer: (name, ours, peer, measure, at least)."""


def targets(report: Report) -> list[tuple[str, str, bool]]:
    """Every target of the issue: (name, the measured value as shown, met?)."""
    rows = []
    for name, ours, peer, measure, least in RATIO_TARGETS:
        value = report.ratio(ours, peer, measure)
        rows.append((name, f"{value:.2f}x", value >= least))
    sqlite = report.median("zwm-sqlite", "process_2")
    rows.append(("SQLite processing >= 5,000 jobs/s", f"{sqlite:,.0f}", sqlite >= 5000))
    pg_p50 = report.median("zwm-postgres", "latency_p50_ms")
    rows.append(("PostgreSQL idle p50 <= 3 ms", f"{pg_p50:.1f} ms", pg_p50 <= 3))
    bulk = report.median("zwm-redis", "bulk_enqueue") / max(
        report.median(p, "bulk_enqueue") for p in REDIS_PEERS
    )
    rows.append(("Redis bulk enqueue >= 5x the fastest Redis peer", f"{bulk:.2f}x", bulk >= 5))
    for system in ("zwm-sqlite", "zwm-postgres", "zwm-redis"):
        crash = report.crash(system)
        if crash is not None:
            bad = crash["lost"] + crash["failed_without_running"]
            rows.append((f"{_label(system)} crash: 0 lost, 0 failed without running", str(bad), bad == 0))
    return rows


def targets_table(report: Report) -> list[str]:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for name, shown, met in targets(report):
        lines.append(f"| {name} | {shown} | {'yes' if met else '**no**'} |")
    return lines


def _label(system: str) -> str:
    names = {"zwm-sqlite": "zwm SQLite", "zwm-postgres": "zwm PostgreSQL", "zwm-redis": "zwm Redis"}
    return names.get(system, system.capitalize() if system != "rq" else "RQ")


def markdown(report: Report, meta: dict[str, Any]) -> str:
    loads = [load for r in report.rounds for result in r.values() for load in result["load_average"]]
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    parts = [
        f"Run of {meta['date']} (`{meta['command']}`, rounds: {meta['rounds']}, {meta['minutes']:.1f} min;"
        f" {versions}). Load average during the run {min(loads):.1f}-{max(loads):.1f}: the machine"
        " (2 cores) was shared with other test suites, so absolute figures are noisy lower bounds;"
        " the ratios compare systems measured minutes apart in the same round (median of the"
        " per-round ratios) and are the figures to read.",
        "",
        *figures_table(report),
        "",
        "Ratios, zwm / peer on the same broker (> 1: zwm ahead; for latency, peer's ms / zwm's ms):",
        "",
        *ratio_table(report),
        "",
        f"Crash scenario (first round): {PROCESSES} worker processes, jobs sleeping 10 ms; one worker"
        " process SIGKILLed a quarter of the way through, worker commands that exited restarted"
        f" as a service manager would, {meta['crash_window']:g} s to recover (zwm with `--lease 5`).",
        "",
        *crash_table(report),
        "",
        "Targets (issue 13):",
        "",
        *targets_table(report),
    ]
    return "\n".join(parts)


def write_docs(text: str) -> None:
    content = DOCS.read_text()
    start, end = content.index(BEGIN) + len(BEGIN), content.index(END)
    DOCS.write_text(content[:start] + "\n" + text + "\n" + content[end:])


def versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m; import json; print(json.dumps({n: m.version(n) for n in"
        " ['celery', 'rq', 'dramatiq', 'huey', 'procrastinate', 'redis']}))"
    )
    peers = json.loads(subprocess.run([str(python), "-c", code], check=True, capture_output=True).stdout)
    redis_server = subprocess.run(
        ["redis-cli", "-u", os.environ.get("PEERS_REDIS_URL", "redis://127.0.0.1:6379/12"), "info", "server"],
        capture_output=True,
        text=True,
    ).stdout
    server = next(
        (line.split(":")[1].strip() for line in redis_server.splitlines() if "redis_version" in line), "?"
    )
    return {"Python": sys.version.split()[0], **peers, "Redis server": server}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: a tenth of the jobs, one round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--only", nargs="+", choices=sorted(SYSTEMS), help="run these systems only")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON figures")
    parser.add_argument(
        "--render", type=Path, help="only rewrite the docs tables from this JSON of a full run"
    )
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        write_docs(markdown(Report(saved["rounds"]), saved["meta"]))
        return
    rounds = args.rounds or (1 if args.quick else 3)
    systems = args.only or list(SYSTEMS)
    samples, crash_jobs, window = (15, 100, 6.0) if args.quick else (50, 400, 10.0)
    peers_python = ensure_venv()
    started = time.monotonic()
    results: list[dict[str, dict[str, Any]]] = []
    for index in range(rounds):
        results.append({})
        for system in systems:
            sizes = SYSTEMS[system]
            if args.quick:
                sizes = Sizes(
                    max(100, sizes.jobs // 10), max(100, sizes.single // 10), max(50, sizes.io_jobs // 10)
                )
            python = Path(sys.executable) if system.startswith("zwm") else peers_python
            print(f"round {index + 1}/{rounds}: {system} ...", file=sys.stderr, flush=True)
            result = run_system(python, system, sizes, samples, crash_jobs if index == 0 else 0, window)
            results[index][system] = result
            print(f"  {json.dumps(result['figures'])}", file=sys.stderr, flush=True)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/peers.py" + (" --quick" if args.quick else ""),
        "rounds": rounds,
        "minutes": (time.monotonic() - started) / 60,
        "processes": PROCESSES,
        "crash_window": window,
        "versions": versions(peers_python),
        "sizes": {name: vars(sizes) for name, sizes in SYSTEMS.items()},
    }
    report = Report(results)
    complete = set(systems) == set(SYSTEMS)
    text = markdown(report, meta) if complete else json.dumps(results, indent=1)
    print(text)
    out = args.json or (ROOT / "docs" / "peers.json" if complete and not args.quick else VENV / "peers.json")
    out.write_text(json.dumps({"meta": meta, "rounds": results}, indent=1) + "\n")
    if complete and not args.quick:
        write_docs(text)
    print(f"JSON: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
