"""Vendor uPlot's published npm files into ``static/`` and check them against ``static/VERSIONS``.

``python -m api.dashboard.vendor`` fetches the pinned tarball with ``npm pack`` (registry integrity
checked by npm), copies the listed files byte for byte and rewrites VERSIONS with their sha256;
``--check`` only verifies the files on disk. To upgrade, change the pin, run it and commit.
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
from pathlib import Path

from api.graphiql.vendor import VendoredFile, npm_pack, sha256_of

STATIC_DIR = Path(__file__).parent / "static"
VERSIONS_FILE = STATIC_DIR / "VERSIONS"

VENDORED = (
    VendoredFile("uPlot.esm.js", "uplot@1.6.32", "package/dist/uPlot.esm.js"),
    VendoredFile("uPlot.min.css", "uplot@1.6.32", "package/dist/uPlot.min.css"),
    VendoredFile("uPlot.LICENSE", "uplot@1.6.32", "package/LICENSE"),
)

HEADER = """\
# Vendored by `python -m api.dashboard.vendor`: byte-identical copies of files in the npm tarballs.
# file  package  tarball-member  sha256  tarball-integrity
"""


def vendor() -> None:
    lines = [HEADER]
    with tempfile.TemporaryDirectory(prefix="vendor-dashboard-") as scratch:
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
    print(f"vendored {len(VENDORED)} files into {STATIC_DIR}")


def check() -> list[str]:
    """Problems with the vendored files (empty when every file matches VERSIONS and the pins)."""
    recorded = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, package, _member, digest, _integrity = line.split()
            recorded[name] = (package, digest)
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
        print("usage: python -m api.dashboard.vendor [--check]", file=sys.stderr)
        return 2
    vendor()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
