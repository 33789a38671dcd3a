"""Vendored browser libraries are what vendor.json says they are (version, licence, bytes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import zwm.web

VENDOR = Path(zwm.web.__file__).parent / "static" / "web" / "vendor"


def test_every_vendored_file_matches_its_recorded_hash_and_has_its_licence() -> None:
    entries = json.loads((VENDOR / "vendor.json").read_text())
    assert entries
    for entry in entries:
        assert entry["version"][0].isdigit(), entry
        assert entry["license"], entry
        licence = VENDOR / "licenses" / f"{entry['package'].replace('/', '-').lstrip('@')}.txt"
        assert licence.read_text().strip(), licence
        assert set(entry["sha256"]) == set(entry["files"].values())
        for name, digest in entry["sha256"].items():
            assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_no_file_in_the_vendor_folder_is_unaccounted_for() -> None:
    entries = json.loads((VENDOR / "vendor.json").read_text())
    recorded = {name for entry in entries for name in entry["files"].values()}
    present = {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "vendor.json"}
    assert present == recorded
