"""Vendor GraphiQL's published npm files into ``static/`` and check them against ``static/VERSIONS``.

``python -m api.graphiql.vendor`` fetches the pinned tarballs with ``npm pack`` (registry integrity
checked by npm), copies the listed files byte for byte and rewrites VERSIONS with their sha256.
``python -m api.graphiql.vendor --check`` only verifies the files on disk against VERSIONS.
To upgrade, change a pin below, run the script and commit the result.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
VERSIONS_FILE = STATIC_DIR / "VERSIONS"


@dataclass(frozen=True)
class VendoredFile:
    name: str  # the file's name in static/
    package: str  # exact npm spec, name@version
    member: str  # the file's path inside the npm tarball


# graphiql 3.8.3 bundles @graphiql/react 0.28.x, which @graphiql/plugin-explorer 3.2.5 expects.
VENDORED = (
    VendoredFile("react.production.min.js", "react@18.3.1", "package/umd/react.production.min.js"),
    VendoredFile("react-dom.production.min.js", "react-dom@18.3.1",
                 "package/umd/react-dom.production.min.js"),
    VendoredFile("graphiql.min.js", "graphiql@3.8.3", "package/graphiql.min.js"),
    VendoredFile("graphiql.min.css", "graphiql@3.8.3", "package/graphiql.min.css"),
    VendoredFile("plugin-explorer.umd.js", "@graphiql/plugin-explorer@3.2.5", "package/dist/index.umd.js"),
    VendoredFile("plugin-explorer.css", "@graphiql/plugin-explorer@3.2.5", "package/dist/style.css"),
)

HEADER = """\
# Vendored by `python -m api.graphiql.vendor`: byte-identical copies of files in the npm tarballs.
# file  package  tarball-member  sha256  tarball-integrity
"""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def npm_pack(spec: str, into: Path) -> tuple[Path, str]:
    """Download one tarball from the registry; returns its path and npm's integrity string."""
    out = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(into)],
                         check=True, capture_output=True, text=True).stdout
    packed = json.loads(out)[0]
    return into / packed["filename"], str(packed["integrity"])


def vendor() -> None:
    lines = [HEADER]
    with tempfile.TemporaryDirectory(prefix="vendor-graphiql-") as scratch:
        tarballs: dict[str, tuple[Path, str]] = {}
        for item in VENDORED:
            if item.package not in tarballs:
                tarballs[item.package] = npm_pack(item.package, Path(scratch))
            tarball, integrity = tarballs[item.package]
            with tarfile.open(tarball) as archive:
                source = archive.extractfile(item.member)
                if source is None:
                    raise SystemExit(f"{item.package}: {item.member} is not a regular file")
                target = STATIC_DIR / item.name
                target.write_bytes(source.read())
            lines.append(f"{item.name}  {item.package}  {item.member}  {sha256_of(target)}  {integrity}\n")
    VERSIONS_FILE.write_text("".join(lines))
    total = sum((STATIC_DIR / item.name).stat().st_size for item in VENDORED)
    print(f"vendored {len(VENDORED)} files, {total} bytes, into {STATIC_DIR}")


def recorded_versions() -> dict[str, tuple[str, str]]:
    """File name -> (package, sha256) as written in VERSIONS."""
    recorded = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, package, _member, digest, _integrity = line.split()
            recorded[name] = (package, digest)
    return recorded


def check() -> list[str]:
    """Problems with the vendored files (empty when every file matches VERSIONS and the pins)."""
    recorded = recorded_versions()
    problems = [f"{name} is recorded in VERSIONS but not pinned in vendor.py"
                for name in recorded.keys() - {item.name for item in VENDORED}]
    for item in VENDORED:
        path = STATIC_DIR / item.name
        if item.name not in recorded:
            problems.append(f"{item.name} is missing from VERSIONS")
        elif recorded[item.name][0] != item.package:
            problems.append(f"{item.name} is recorded as {recorded[item.name][0]}, pinned as {item.package}")
        elif not path.is_file():
            problems.append(f"{item.name} is missing from {STATIC_DIR}")
        elif sha256_of(path) != recorded[item.name][1]:
            problems.append(f"{item.name} differs from the sha256 recorded in VERSIONS")
    return problems


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if argv:
        print("usage: python -m api.graphiql.vendor [--check]", file=sys.stderr)
        return 2
    vendor()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
