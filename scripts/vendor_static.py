#!/usr/bin/env python3
"""Refresh the browser libraries vendored under src/zwm/web/static/web/vendor/.

The app works offline and installs without Node, so the few browser libraries it uses
are committed as files. ``vendor.json`` beside them records, for each, the npm package,
its exact version, its licence, which files of the package are copied, and their sha256
(a test checks the files still match). This script fetches each package with the npm
client (``npm pack``), copies those files and the package's licence, and rewrites the
hashes. To upgrade a library, change its version in vendor.json and run:

    python scripts/vendor_static.py            # every package
    python scripts/vendor_static.py cytoscape  # one package
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "src" / "zwm" / "web" / "static" / "web" / "vendor"
MANIFEST = VENDOR / "vendor.json"
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE")


def fetch(package: str, version: str, workdir: Path) -> tarfile.TarFile:
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return tarfile.open(workdir / out.stdout.strip().splitlines()[-1])


def member(archive: tarfile.TarFile, path: str) -> bytes:
    handle = archive.extractfile(f"package/{path}")
    if handle is None:
        raise SystemExit(f"{path} is not a file in the package")
    return handle.read()


def refresh(entry: dict[str, object], workdir: Path) -> None:
    package, version = str(entry["package"]), str(entry["version"])
    files = entry["files"]
    assert isinstance(files, dict)
    with fetch(package, version, workdir) as archive:
        hashes = {}
        for source, target in files.items():
            data = member(archive, source)
            (VENDOR / target).write_bytes(data)
            hashes[target] = hashlib.sha256(data).hexdigest()
        names = archive.getnames()
        licence = next((n for n in LICENCE_NAMES if f"package/{n}" in names), None)
        if licence is None:
            raise SystemExit(f"{package}@{version} ships no licence file")
        (VENDOR / "licenses").mkdir(exist_ok=True)
        (VENDOR / "licenses" / f"{package.replace('/', '-').lstrip('@')}.txt").write_bytes(
            member(archive, licence)
        )
    entry["sha256"] = hashes
    print(f"{package}@{version}: {', '.join(files.values())}")


def main(only: list[str]) -> None:
    entries = json.loads(MANIFEST.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            if not only or entry["package"] in only:
                refresh(entry, Path(tmp))
    MANIFEST.write_text(json.dumps(entries, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
